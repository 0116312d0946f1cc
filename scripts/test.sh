#!/usr/bin/env bash
# The whole test suite, from a fresh clone: sets up libtorch (idempotent), builds the
# workspace once (debug profile, one shared target/ folder) and runs every test —
# common's unit and integration tests (exactness against transformers' fixtures, hooks)
# and each project's --quick run on the tiny models in assets/. No network is needed
# beyond the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export HF_HUB_OFFLINE=1
# --no-fail-fast: a failing test binary does not hide the results of the others
cargo test --workspace --locked --no-fail-fast "$@"

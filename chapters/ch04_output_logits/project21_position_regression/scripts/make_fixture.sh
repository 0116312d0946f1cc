#!/usr/bin/env bash
# Records the reference values tests/quick.rs compares the --quick run with:
#   1. transformers (.venv): the tiny GPT-2's token ids for src/quick_contexts.txt and its
#      per-token losses, each row's built-in `labels=` loss;
#   2. statsmodels / scikit-learn (.venv-methods): OLS of position on those losses and
#      LogisticRegression(solver='lbfgs', C=1) with its predictions and confusion matrices.
# Run from anywhere: chapters/ch04_output_logits/project21_position_regression/scripts/make_fixture.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
"$root/.venv/bin/python" "$here/fixture_losses.py" "$root" "$here/../fixtures/quick_losses.json"
"$root/.venv-methods/bin/python" "$here/fixture_fits.py" "$here/../fixtures/quick_losses.json" "$here/../fixtures/quick_fits.json"

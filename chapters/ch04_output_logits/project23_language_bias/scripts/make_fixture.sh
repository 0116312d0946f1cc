#!/usr/bin/env bash
# Records the reference values tests/quick.rs compares the --quick run with:
#   1. transformers (.venv): BertForMaskedLM on assets/models/tiny-bert for the quick
#      sentences of src/quick_text.rs and the doctor sentence of src/sentences.rs —
#      token ids, mask index, logits at the mask for the three target words, logsumexp,
#      bias — from one right-padded batch per group and from each sentence alone;
#   2. scipy (.venv-methods): the three t-tests on those biases, and the spec's two
#      worked examples.
# Run from anywhere: chapters/ch04_output_logits/project23_language_bias/scripts/make_fixture.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
fixture="$here/../tests/fixtures/tiny_bert_reference.json"
"$root/.venv/bin/python" "$here/fixture_mlm.py" "$root" "$fixture"
"$root/.venv-methods/bin/python" "$here/fixture_ttests.py" "$fixture"

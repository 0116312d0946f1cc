"""Reference values for project 18's tests, from Hugging Face transformers.

Run from the workspace root:
    .venv/bin/python chapters/ch04_output_logits/project18_token_prediction_accuracy/scripts/make_fixture.py

It loads the tiny random GPT-2 in assets/models/tiny-gpt2 (GPT-2's real tokenizer) with
GPT2LMHeadModel / GPT2TokenizerFast and writes tests/fixtures/reference.json:
- the tokenizer facts of the spec (Cubism ids, the quote token, the "\\n\\n" joiner and
  truncation after encoding on a small synthetic row list);
- greedy next-token predictions of the tiny model on the Cubism sentence (Parts 1-3)
  and on the first n_positions tokens of the project's own quick text (Part 4).
The numbers come from random weights: they check the code, they are not findings.
"""

import json
import pathlib

import torch
import transformers
from transformers import GPT2LMHeadModel, GPT2TokenizerFast

CRATE = pathlib.Path(__file__).resolve().parents[1]
ROOT = CRATE.parents[2]
TINY = ROOT / "assets" / "models" / "tiny-gpt2"
SENTENCE = "Cubism is an art movement that sparked innovations in music and architecture"
WHICH = 5
TOP_K = 10


def greedy(model, ids):
    """Per-position argmax, its margin over the runner-up, and the logits."""
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]  # [N, V]
    top2 = logits.topk(2, dim=-1)
    pred = top2.indices[:, 0].tolist()
    margin = (top2.values[:, 0] - top2.values[:, 1]).tolist()
    return logits, pred, margin


def main():
    torch.manual_seed(0)
    tok = GPT2TokenizerFast.from_pretrained(TINY)
    model = GPT2LMHeadModel.from_pretrained(TINY, torch_dtype=torch.float32).eval()

    ids = tok(SENTENCE)["input_ids"]
    quote = tok('"')["input_ids"]
    logits, pred, margin = greedy(model, ids)
    top = logits[WHICH].topk(TOP_K)
    quoted = [
        tok.decode(ids[: i + 1] + quote + [pred[i]] + quote) for i in range(len(ids) - 1)
    ]

    # the joiner: one string, "\n\n" between rows, encoded whole, then truncated
    rows = [" = A = \n", "", " b c . \n"]
    joined = "\n\n".join(rows)
    joined_ids = tok(joined)["input_ids"]
    per_row = []
    for i, r in enumerate(rows):
        if i:
            per_row += tok("\n\n")["input_ids"]
        per_row += tok(r)["input_ids"]
    assert per_row != joined_ids, "the synthetic rows must tell the two orders apart"

    quick_rows = json.loads((CRATE / "src" / "quick_wikitext.json").read_text())["rows"]
    quick_all = tok("\n\n".join(quick_rows))["input_ids"]
    n_ctx = model.config.n_positions
    first = quick_all[:n_ctx]
    _, qpred, qmargin = greedy(model, first)
    qcorrect = [int(qpred[i] == first[i + 1]) for i in range(len(first) - 1)]

    ref = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "model": "assets/models/tiny-gpt2",
        "sentence": SENTENCE,
        "sentence_ids": ids,
        "quote_ids": quote,
        "vocab_size": logits.shape[-1],
        "n_positions": n_ctx,
        "which_token": WHICH,
        "sentence_pred": pred,
        "sentence_margin": margin,
        "sentence_quoted": quoted,
        "sentence_logits_row_which_first8": logits[WHICH, :8].tolist(),
        "sentence_logits_row_which_max": logits[WHICH].max().item(),
        "top10_ids": top.indices.tolist(),
        "top10_logits": top.values.tolist(),
        "joiner_rows": rows,
        "joiner_ids": joined_ids,
        "joiner_per_row_ids": per_row,
        "quick_total_tokens": len(quick_all),
        "quick_first_ids": first,
        "quick_pred": qpred,
        "quick_margin": qmargin,
        "quick_correct": sum(qcorrect),
        "quick_scored": len(qcorrect),
    }
    out = CRATE / "tests" / "fixtures" / "reference.json"
    out.write_text(json.dumps(ref, indent=1) + "\n")
    print(f"wrote {out}: quick accuracy {sum(qcorrect)}/{len(qcorrect)}")


if __name__ == "__main__":
    main()

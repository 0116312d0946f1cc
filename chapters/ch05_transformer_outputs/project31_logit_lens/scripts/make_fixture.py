"""Reference values for project 31's --quick test, from transformers.

Run from the workspace root:
    .venv/bin/python chapters/ch05_transformer_outputs/project31_logit_lens/scripts/make_fixture.py

It loads assets/models/tiny-roberta as RobertaForMaskedLM (eval, float32, no grad) with
transformers' own tokenizer (which, like the real roberta-large tokenizer, gives <mask>
lstrip=True), and applies the logit lens exactly as the book does:
    lens(H, k) = log_softmax(model.lm_head(hidden_states[k][0]))
Everything the Rust test compares is written to tests/fixtures/tiny_roberta_lens.json:
token ids, the lens at the Part 1/2 layer, the Part 3 laminar profile and its OLS fit,
the Part 5 matrices (target, max, argmax) and slopes, and the check that the lens on the
last hidden state equals the model's MLM logits.
"""

import json
import pathlib

import numpy as np
import torch
from transformers import AutoTokenizer, RobertaForMaskedLM

ROOT = pathlib.Path(__file__).resolve().parents[4]
MODEL = ROOT / "assets/models/tiny-roberta"
OUT = pathlib.Path(__file__).resolve().parents[1] / "tests/fixtures/tiny_roberta_lens.json"

SENTENCE = "The way you do anything is the way you do everything"
MASKED = "The way you do anything is the <mask> you do everything"
PART1_POS = 3


def ols(x, y):
    """const, slope of y = b0 + b1 x by least squares (numpy lstsq)."""
    a = np.column_stack([np.ones_like(x), x])
    beta, *_ = np.linalg.lstsq(a, y, rcond=None)
    return float(beta[0]), float(beta[1])


def main():
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(MODEL)
    model = RobertaForMaskedLM.from_pretrained(MODEL, dtype=torch.float32).eval()
    ids = tok(SENTENCE)["input_ids"]
    mids = tok(MASKED)["input_ids"]
    mask_id = tok.mask_token_id
    mask_pos = mids.index(mask_id)

    def run(seq):
        with torch.no_grad():
            out = model(torch.tensor([seq]), output_hidden_states=True)
        return out

    def lens(hs, k):
        with torch.no_grad():
            return torch.log_softmax(model.lm_head(hs[k][0]).double(), dim=-1)

    out = run(ids)
    hs = out.hidden_states
    n_hidden = len(hs)
    layer = n_hidden - 2
    with torch.no_grad():
        last = model.lm_head(hs[-1][0])
    check1 = float((last - out.logits[0]).abs().max())

    p1 = lens(hs, layer)[PART1_POS]
    mout = run(mids)
    mhs = mout.hidden_states
    p2 = lens(mhs, layer)[mask_pos]

    target_id = ids[mask_pos]
    p3_target, p3_pred = [], []
    for k in range(n_hidden):
        row = lens(mhs, k)[mask_pos]
        p3_target.append(float(row[target_id]))
        p3_pred.append(int(row.argmax()))
    sq = np.sqrt(np.arange(n_hidden, dtype=float))
    p3_const, p3_slope = ols(sq, np.array(p3_target))

    n = len(ids)
    target = np.zeros((n_hidden, n))
    maxlp = np.zeros((n_hidden, n))
    pred = np.zeros((n_hidden, n), dtype=int)
    seqs = []
    for i in range(n):
        seq = list(ids)
        seq[i] = mask_id
        seqs.append(seq)
        h = run(seq).hidden_states
        for k in range(n_hidden):
            row = lens(h, k)[i]
            target[k, i] = float(row[ids[i]])
            pred[k, i] = int(row.argmax())
            maxlp[k, i] = float(row.max())
    slopes_target = [ols(sq, target[:, i])[1] for i in range(n)]
    slopes_max = [ols(sq, maxlp[:, i])[1] for i in range(n)]

    fixture = {
        "sentence": SENTENCE,
        "masked": MASKED,
        "ids": ids,
        "masked_ids": mids,
        "mask_id": mask_id,
        "mask_pos": mask_pos,
        "decoded": tok.decode(ids, skip_special_tokens=True),
        "tokens": [tok.decode([t]) for t in ids],
        "n_hidden": n_hidden,
        "lens_layer": layer,
        "check1_max_abs_diff": check1,
        "logits_unmasked": out.logits[0].tolist(),
        "part1_logsoftmax": p1.tolist(),
        "part2_logsoftmax": p2.tolist(),
        "part3_target": p3_target,
        "part3_pred": p3_pred,
        "part3_const": p3_const,
        "part3_slope": p3_slope,
        "part4_sequences": seqs,
        "part5_target": target.tolist(),
        "part5_maxlp": maxlp.tolist(),
        "part5_pred": pred.tolist(),
        "part5_slope_target": slopes_target,
        "part5_slope_max": slopes_max,
        "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} (check 1 max |lm_head(H[-1]) - logits| = {check1})")


if __name__ == "__main__":
    main()

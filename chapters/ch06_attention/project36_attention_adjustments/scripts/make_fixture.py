"""Reference values for project 36's tests, from Hugging Face transformers, torch and numpy.

Run from anywhere (writes fixtures/reference.json beside this folder) with a Python that
has torch 2.13.0, transformers 4.57.6 and numpy (/work/main/.venv has them):
    .venv/bin/python chapters/ch06_attention/project36_attention_adjustments/scripts/make_fixture.py

It does what the --quick run does, the way the book's notebook does it, on the tiny random
GPT-2 in assets/models/tiny-gpt2 (GPT2LMHeadModel, eval, float32, no gradients) and the
sentences in src/quick_sentences.txt (one per line):
- tokenise them together (GPT2TokenizerFast, pad token = eos 50256, padding on the right,
  padding=True, no truncation) -> input_ids, attention_mask [n, T];
- one forward pass with the attention mask and a forward hook on attn.c_proj of every
  block (its output [n, T, d]);
- offline check 1: every sentence run alone gives the same c_proj outputs at its valid
  positions (asserted here to 1e-5, and the vectors of the shortest sentences stored);
- in float64 from the float32 activations: L2 norms [n, T] per layer; Part 2's log-norms
  of valid tokens at positions >= 1 (count, mean, population std, numpy's 'fd' density
  histogram); Part 3's X[layer, t] = log(mean over valid sequences of the norms); its 5th
  and 95th percentiles; Part 4's OLS of X[layer, 1..30] on [1, p] with np.linalg.lstsq;
  Part 5's triples and OLS of log n_t on [1, log n_{t-2}, log n_{t-1}].
The numbers come from random weights: they check the code, they are not findings.
"""

import json
import pathlib

import numpy as np
import torch
import transformers
from transformers import GPT2LMHeadModel, GPT2TokenizerFast

CRATE = pathlib.Path(__file__).resolve().parents[1]
ROOT = CRATE.parents[2]
TINY = ROOT / "assets" / "models" / "tiny-gpt2"
TOKENS2USE = 30


def f(x):
    return [float(v) for v in np.asarray(x, dtype=np.float64).ravel()]


def c_proj_outputs(model, **inputs):
    outs = {}
    hooks = [
        blk.attn.c_proj.register_forward_hook(
            lambda mod, inp, out, L=L: outs.__setitem__(L, out.detach().clone())
        )
        for L, blk in enumerate(model.transformer.h)
    ]
    with torch.no_grad():
        model(**inputs)
    for h in hooks:
        h.remove()
    return [outs[L] for L in range(len(outs))]


def main():
    tok = GPT2TokenizerFast.from_pretrained(TINY)
    tok.pad_token = tok.eos_token
    assert tok.padding_side == "right"
    model = GPT2LMHeadModel.from_pretrained(TINY, dtype=torch.float32).eval()
    n_layer = model.config.n_layer

    lines = (CRATE / "src" / "quick_sentences.txt").read_text(encoding="utf-8").splitlines()
    texts = [t for t in lines if t.strip()]
    enc = tok(texts, padding=True, truncation=False, return_tensors="pt")
    ids, att = enc["input_ids"], enc["attention_mask"]
    n, T = ids.shape
    mask = att.numpy().astype(bool)  # [n, T]
    lengths = mask.sum(1)

    acts = c_proj_outputs(model, input_ids=ids, attention_mask=att)  # each [n, T, d]

    # Offline check 1: padded batch vs each sentence alone.
    alone_max = 0.0
    alone = {}
    for i, t in enumerate(texts):
        one = tok(t, return_tensors="pt")
        L = int(lengths[i])
        solo = c_proj_outputs(model, **one)
        for layer in range(n_layer):
            diff = float((solo[layer][0] - acts[layer][i, :L]).abs().max())
            alone_max = max(alone_max, diff)
        if L < T:
            alone[i] = [f(solo[layer][0]) for layer in range(n_layer)]
    assert alone_max < 1e-5, alone_max
    shortest = int(np.argmin(lengths))

    norms = [np.linalg.norm(a.double().numpy(), axis=2) for a in acts]  # [n, T] each

    part2 = []
    for nm in norms:
        v = np.log(nm[:, 1:][mask[:, 1:]])
        dens, edges = np.histogram(v, bins="fd", density=True)
        part2.append(
            {
                "n": int(v.size),
                "mean": float(v.mean()),
                "std": float(v.std()),
                "density": f(dens),
                "edges": f(edges),
            }
        )

    counts = mask.sum(0)  # [T]
    X = np.stack([np.log((nm * mask).sum(0) / counts) for nm in norms])  # [layers, T]
    clim = np.percentile(X, [5, 95])

    part4 = []
    p = np.arange(TOKENS2USE)
    design = np.stack([np.ones(TOKENS2USE), p], axis=1)
    for layer in range(n_layer):
        y = X[layer, 1 : TOKENS2USE + 1]
        beta = np.linalg.lstsq(design, y, rcond=None)[0]
        part4.append(f(beta))

    part5 = []
    triples_per_seq = []
    for layer, nm in enumerate(norms):
        rows = []
        for i in range(n):
            seq = nm[i, 1 : lengths[i]]
            rows += [seq[t - 2 : t + 1] for t in range(2, len(seq))]
            if layer == 0:
                triples_per_seq.append(max(len(seq) - 2, 0))
        data = np.log(np.array(rows))
        design5 = np.column_stack([np.ones(len(data)), data[:, 0], data[:, 1]])
        b = np.linalg.lstsq(design5, data[:, 2], rcond=None)[0]
        part5.append(f(b))
    last_shape = [len(rows), 3]

    ref = {
        "about": "tiny-gpt2 through transformers "
        + transformers.__version__
        + ", torch "
        + torch.__version__
        + ", numpy "
        + np.__version__
        + "; written by scripts/make_fixture.py",
        "n_layer": n_layer,
        "d_model": model.config.n_embd,
        "texts": texts,
        "input_ids": ids.tolist(),
        "lengths": [int(x) for x in lengths],
        "alone_max_diff": alone_max,
        "shortest": shortest,
        "alone_shortest": alone[shortest],  # [layers][L * d]
        "norms": [f(nm) for nm in norms],  # [layers][n * T]
        "part2": part2,
        "counts": [int(c) for c in counts],
        "X": [f(x) for x in X],
        "clim": f(clim),
        "part4": part4,
        "part5": part5,
        "triples_per_seq": triples_per_seq,
        "part5_last_shape": last_shape,
    }
    path = CRATE / "fixtures" / "reference.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ref, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes); padded vs alone max diff {alone_max:.2e}")


if __name__ == "__main__":
    main()

"""Reference values for project 38's tests, from Hugging Face transformers, torch and numpy.

Run from anywhere (writes fixtures/reference.json beside this folder) with a Python that
has torch 2.13.0, transformers 4.57.6 and numpy (/work/main/.venv has them):
    .venv/bin/python chapters/ch06_attention/project38_qkv_rsa_selectivity/scripts/make_fixture.py

It does what the --quick run does, the way the book's notebook does it, on the tiny random
GPT-2 in assets/models/tiny-gpt2 (GPT2LMHeadModel, eval, float32, no gradients):
- the 34 prompts "The next word is <word>" (GPT2TokenizerFast, no special tokens), one
  [34, 5] batch, a forward hook on attn.c_attn of every block, split at d and 2d;
- Part 2: np.corrcoef of the flattened position-1 Q, K, V per layer, and the same from one
  row only (position 1 is the same in every prompt);
- Parts 3-4: cosine matrices of the last position (rows / L2 norm, X X^T), RSA = corrcoef
  of the np.triu_indices(34, k=1) values;
- Parts 6-7: within / across masks, mean difference, pooled-variance Student t written out
  from its formula (no scipy here), the average of the means; again after np.arctanh.
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
BOOK_LAYER = 6
WORDS = [
    ["galaxy", "asteroid", "comet", "cosmos", "space", "sun", "planet", "moon", "star", "orbit"],
    ["ceiling", "sofa", "couch", "carpet", "door", "window", "lamp", "chair", "table", "rug",
     "bed", "floor", "wall"],
    ["pear", "grape", "banana", "cherry", "peach", "apple", "seed", "jelly", "orange", "lime",
     "fruit"],
]


def f(x):
    return [float(v) for v in np.asarray(x, dtype=np.float64).ravel()]


def ttest(w, a):
    nw, na = len(w), len(a)
    sp2 = ((nw - 1) * w.var(ddof=1) + (na - 1) * a.var(ddof=1)) / (nw + na - 2)
    return (w.mean() - a.mean()) / np.sqrt(sp2 * (1 / nw + 1 / na))


def cosmat(x):
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    return u @ u.T


def main():
    tok = GPT2TokenizerFast.from_pretrained(TINY)
    model = GPT2LMHeadModel.from_pretrained(TINY, dtype=torch.float32).eval()
    d, n_layer = model.config.n_embd, model.config.n_layer
    layer = min(BOOK_LAYER, n_layer - 1)
    words = [w for cat in WORDS for w in cat]
    labels = np.array([c for c, cat in enumerate(WORDS) for _ in cat])
    ids = [tok(f"The next word is {w}", add_special_tokens=False)["input_ids"] for w in words]
    assert all(len(i) == 5 and i[:4] == [464, 1306, 1573, 318] for i in ids)
    batch = torch.tensor(ids)

    outs = {}
    hooks = [
        blk.attn.c_attn.register_forward_hook(
            lambda mod, inp, out, L=L: outs.__setitem__(L, out.detach().clone())
        )
        for L, blk in enumerate(model.transformer.h)
    ]
    with torch.no_grad():
        model(batch)
    for h in hooks:
        h.remove()
    acts = [outs[L].double().numpy() for L in range(n_layer)]  # [34, 5, 3d]

    same = labels[:, None] == labels[None, :]
    upper = np.triu(np.ones((34, 34), dtype=bool), 1)
    within, across = same & upper, ~same & upper
    iu = np.triu_indices(34, k=1)
    pairs = [(0, 1), (0, 2), (1, 2)]

    corr, corr_row0, pos1_spread, rsa, sel, sel_z = [], [], [], [], [], []
    for L in range(n_layer):
        qkv = [acts[L][:, :, i * d : (i + 1) * d] for i in range(3)]
        p1 = [m[:, 1, :] for m in qkv]
        corr.append([float(np.corrcoef(p1[a].ravel(), p1[b].ravel())[0, 1]) for a, b in pairs])
        corr_row0.append([float(np.corrcoef(p1[a][0], p1[b][0])[0, 1]) for a, b in pairs])
        pos1_spread.append(float(max(np.abs(m - m[0]).max() for m in p1)))
        R = [cosmat(m[:, -1, :]) for m in qkv]
        rsa.append([float(np.corrcoef(R[a][iu], R[b][iu])[0, 1]) for a, b in pairs])
        s, sz = [], []
        for r in R:
            w, a = r[within], r[across]
            s.append([w.mean() - a.mean(), ttest(w, a), (w.mean() + a.mean()) / 2])
            w, a = np.arctanh(w), np.arctanh(a)
            sz.append([w.mean() - a.mean(), ttest(w, a), (w.mean() + a.mean()) / 2])
        sel.append(s)
        sel_z.append(sz)
        if L == layer:
            cos_layer = [f(r) for r in R]

    ref = {
        "about": "tiny-gpt2 through transformers "
        + transformers.__version__
        + ", torch "
        + torch.__version__
        + ", numpy "
        + np.__version__
        + "; written by scripts/make_fixture.py",
        "n_layer": n_layer,
        "d": d,
        "layer": layer,
        "words": words,
        "labels": [int(c) for c in labels],
        "ids": ids,
        "counts": {"within": int(within.sum()), "across": int(across.sum())},
        "corr": corr,
        "corr_row0": corr_row0,
        "pos1_spread": pos1_spread,
        "cos_layer": cos_layer,
        "rsa": rsa,
        "select": f(sel),
        "select_z": f(sel_z),
        "ttest_example": float(ttest(np.arange(1.0, 6.0), np.arange(3.0, 9.0))),
        "arctanh_half": float(np.arctanh(0.5)),
    }
    path = CRATE / "fixtures" / "reference.json"
    path.write_text(json.dumps(ref, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

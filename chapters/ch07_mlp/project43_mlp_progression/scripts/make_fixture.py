"""Reference values for project 43's tests, from Hugging Face transformers, torch and numpy.

Run from anywhere (writes fixtures/reference.json beside this folder) with a Python that
has torch, transformers 4.57.6 and numpy (/work/main/.venv has them):
    .venv/bin/python chapters/ch07_mlp/project43_mlp_progression/scripts/make_fixture.py

It does what the --quick run does, the way the book's notebook does it, on the tiny random
GPT-2 in assets/models/tiny-gpt2 (GPT2LMHeadModel, eval, float32, no gradients) and the
project's quick text (src/quick_text.txt):
- GPT2TokenizerFast, no special tokens; coffee_idx = positions of id 6891; the one-seq
  batch tokens[:ntargets+1] and the many-seq batch rows tokens[i-9 : i+1];
- forward hooks on every block's ln_2 (MLP input), mlp.c_fc, mlp.act and mlp (the MLP
  module's output), one pass per batch; asserted here: act output == gelu_new(c_fc output)
  and c_fc output == ln_2 output @ W + b (offline check 5, in transformers' own tensors);
- per layer and stage: mean / std / min / max of the analysis matrices (one-seq
  X[0, 1:], many-seq X[:, -1]); sklearn-style cosine matrices (rows / L2 norm, X X^T);
  RSA = np.corrcoef of np.triu_indices(n, k=1) values; PR and ED from np.linalg.svd of the
  column-centred matrix (ED = first index of cumsum % > 95); the focus layer's cross-stage
  cosines; np.histogram(..., bins='fd', density=True) of the focus layer's stages.
The numbers come from random weights: they check the code, they are not findings.
"""

import json
import math
import pathlib

import numpy as np
import torch
import transformers
from transformers import GPT2LMHeadModel, GPT2TokenizerFast

CRATE = pathlib.Path(__file__).resolve().parents[1]
ROOT = CRATE.parents[2]
TINY = ROOT / "assets" / "models" / "tiny-gpt2"
TARGET = 6891
PAIRS = [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]


def f(x):
    return [float(v) for v in np.asarray(x, dtype=np.float64).ravel()]


def cosmat(a, b=None):
    b = a if b is None else b
    ua = a / np.linalg.norm(a, axis=1, keepdims=True)
    ub = b / np.linalg.norm(b, axis=1, keepdims=True)
    return ua @ ub.T


def pr_ed(x):
    x = x - x.mean(axis=0, keepdims=True)
    s = np.linalg.svd(x, compute_uv=False)
    lam = s**2
    pr = lam.sum() ** 2 / (lam**2).sum()
    cum = 100 * np.cumsum(lam) / lam.sum()
    ed = int(np.where(cum > 95)[0][0])
    return float(pr), ed


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def run(model, ids):
    n_layer = model.config.n_layer
    outs = {}
    hooks = []
    for L, blk in enumerate(model.transformer.h):
        for s, mod in enumerate([blk.ln_2, blk.mlp.c_fc, blk.mlp.act, blk.mlp]):
            hooks.append(
                mod.register_forward_hook(
                    lambda m, i, o, L=L, s=s: outs.__setitem__((L, s), o.detach().clone())
                )
            )
    with torch.no_grad():
        model(torch.tensor(ids))
    for h in hooks:
        h.remove()
    return [[outs[(L, s)] for s in range(4)] for L in range(n_layer)]


def main():
    tok = GPT2TokenizerFast.from_pretrained(TINY)
    model = GPT2LMHeadModel.from_pretrained(TINY, dtype=torch.float32).eval()
    n_layer = model.config.n_layer
    layer = n_layer // 2
    text = (CRATE / "src" / "quick_text.txt").read_text()
    tokens = tok(text, add_special_tokens=False)["input_ids"]
    assert tok(" coffee", add_special_tokens=False)["input_ids"] == [TARGET]
    idx = [i for i, t in enumerate(tokens) if t == TARGET]
    n = len(idx)
    assert idx[0] >= 9
    one_ids = [tokens[: n + 1]]
    many_ids = [tokens[i - 9 : i + 1] for i in idx]

    acts = [run(model, one_ids), run(model, many_ids)]
    # offline check 5 in transformers' tensors
    check = {"gelu": 0.0, "affine": 0.0}
    for b in range(2):
        for L, blk in enumerate(model.transformer.h):
            x1, x2, x3, _ = acts[b][L]
            check["gelu"] = max(check["gelu"], float((x3 - gelu_new(x2)).abs().max()))
            aff = x1 @ blk.mlp.c_fc.weight + blk.mlp.c_fc.bias
            check["affine"] = max(check["affine"], float((aff - x2).abs().max()))
    assert check["gelu"] < 1e-5 and check["affine"] < 1e-5, check

    mats = [
        [[acts[0][L][s][0, 1:, :].double().numpy() for s in range(4)] for L in range(n_layer)],
        [[acts[1][L][s][:, -1, :].double().numpy() for s in range(4)] for L in range(n_layer)],
    ]
    shapes = [
        [[list(acts[b][L][s].shape) for s in range(4)] for L in range(n_layer)] for b in range(2)
    ]
    iu = np.triu_indices(n, k=1)
    stats, dim, rsa = [], [], []
    for L in range(n_layer):
        d_l = []
        r_l = []
        for b in range(2):
            R = [cosmat(m) for m in mats[b][L]]
            r_l.append([float(np.corrcoef(R[i][iu], R[j][iu])[0, 1]) for i, j in PAIRS])
        for s in range(4):
            pr1, ed1 = pr_ed(mats[0][L][s])
            pr2, ed2 = pr_ed(mats[1][L][s])
            d_l.append([pr1, ed1, pr2, ed2])
        dim.append(d_l)
        rsa.append(r_l)
    for b in range(2):
        for L in range(n_layer):
            for s in range(4):
                m = mats[b][L][s]
                stats.append([float(m.mean()), float(m.std()), float(m.min()), float(m.max())])
    cos_layer = [[f(cosmat(m)) for m in mats[b][layer]] for b in range(2)]
    cross_io = f(cosmat(mats[0][layer][0], mats[0][layer][3]))
    cross_eg = f(cosmat(mats[0][layer][1], mats[0][layer][2]))
    hist = []
    for b in range(2):
        h_b = []
        for s in range(4):
            dens, edges = np.histogram(mats[b][layer][s].ravel(), bins="fd", density=True)
            h_b.append({"edges": f(edges), "density": f(dens)})
        hist.append(h_b)
    dim_np = np.array(dim, dtype=np.float64)  # [L, 4, 4]
    r_pr_ed = [
        float(np.corrcoef(dim_np[:, :, 0].ravel(), dim_np[:, :, 1].ravel())[0, 1]),
        float(np.corrcoef(dim_np[:, :, 2].ravel(), dim_np[:, :, 3].ravel())[0, 1]),
    ]

    ref = {
        "about": "tiny-gpt2 through transformers "
        + transformers.__version__
        + ", torch "
        + torch.__version__
        + ", numpy "
        + np.__version__
        + "; written by scripts/make_fixture.py",
        "n_layer": n_layer,
        "layer": layer,
        "n_tokens": len(tokens),
        "coffee_idx": idx,
        "one_seq": one_ids[0],
        "many_seq": many_ids,
        "shapes": shapes,
        "stage_check": check,
        "stats": stats,
        "dim": dim,
        "rsa": rsa,
        "r_pr_ed": r_pr_ed,
        "cos_layer": cos_layer,
        "cross_io": cross_io,
        "cross_eg": cross_eg,
        "hist": hist,
    }
    path = CRATE / "fixtures" / "reference.json"
    path.write_text(json.dumps(ref, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

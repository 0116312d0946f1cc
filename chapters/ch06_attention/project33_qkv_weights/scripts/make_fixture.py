"""Reference values for project 33's tests, from Hugging Face transformers and torch.

Run from anywhere (writes fixtures/reference.json beside this folder), with a Python that
has torch 2.13.0, transformers 4.57.6 and numpy (scripts/make_fixtures.sh installs the
last two into .venv; fixtures/reference.json was written by .venv's torch with
transformers==4.57.6, safetensors==0.8.0 and numpy 2.4 installed with `pip --target` on
PYTHONPATH):
    .venv/bin/python chapters/ch06_attention/project33_qkv_weights/scripts/make_fixture.py

It loads the tiny random GPT-2 in assets/models/tiny-gpt2 as GPT2LMHeadModel (what the
--quick run uses for all four GPT-2 sizes) and computes, in float64 from its float32
weights, what the project prints and plots, the way the book does it:
- the config (n_embd, n_layer, n_head, head_dim) and the attention parameter count of a
  block (numel of c_attn.weight, c_attn.bias, c_proj.weight, c_proj.bias);
- W_Q, W_K, W_V split from c_attn.weight [d, 3d] as transformers' GPT2Attention splits
  its output (c_attn(x).split(n_embd, dim=2)), checked against c_attn on a random input
  whose values and output are stored for the Rust test to repeat;
- per layer and matrix: mean, unbiased std, the density histogram over
  linspace(-0.8, 0.8, 81); for the focus layer numpy's Freedman-Diaconis histograms;
- head 0 of W_Q at the focus layer: its column cosine matrix and 40-bin histogram;
- per layer, for W_Q and W_K: the within-head pool (strict upper triangle of each
  head's own cosine matrix) and the across-head pool (every value of N_i^T N_j, i < j),
  looped over head pairs as the book does; their mean, population std, the density
  histogram over linspace(-0.4, 0.4, 101); for the focus layer the FD density histograms;
- per layer and matrix: mean and unbiased std of the strict upper triangle of the whole
  [d, d] column cosine matrix.
The numbers come from random weights: they check the code, they are not findings.
"""

import json
import math
import pathlib

import numpy as np
import torch
import transformers
from transformers import GPT2LMHeadModel

CRATE = pathlib.Path(__file__).resolve().parents[1]
ROOT = CRATE.parents[2]
TINY = ROOT / "assets" / "models" / "tiny-gpt2"
# The book's layers (Part 2/4/5: layer 6; Part 1: block 5), capped at the last block of
# a smaller model as src/main.rs does.
BOOK_LAYER = 6
BOOK_COUNT_BLOCK = 5


def f(x):
    return [float(v) for v in np.asarray(x, dtype=np.float64).ravel()]


def density(values, edges):
    counts, e = np.histogram(values, bins=edges, density=True)
    return f(counts)


def cosine_columns(a, b):
    """Columns of a and b normalised to unit L2 norm, then N_a^T N_b."""
    na = a / a.norm(dim=0, keepdim=True)
    nb = b / b.norm(dim=0, keepdim=True)
    return na.T @ nb


def main():
    model = GPT2LMHeadModel.from_pretrained(TINY, torch_dtype=torch.float32).eval()
    cfg = model.config
    d, n_layer, n_head = cfg.n_embd, cfg.n_layer, cfg.n_head
    hd = d // n_head
    layer = min(BOOK_LAYER, n_layer - 1)
    count_block = min(BOOK_COUNT_BLOCK, n_layer - 1)
    blocks = model.transformer.h

    attn = blocks[count_block].attn
    numels = {
        "c_attn.weight": attn.c_attn.weight.numel(),
        "c_attn.bias": attn.c_attn.bias.numel(),
        "c_proj.weight": attn.c_proj.weight.numel(),
        "c_proj.bias": attn.c_proj.bias.numel(),
    }

    # The split transformers' forward pass uses: c_attn(x) -> [.., 3d] -> q | k | v.
    gen = torch.Generator().manual_seed(33)
    x = torch.randn(5, d, generator=gen)
    with torch.no_grad():
        qkv = blocks[layer].attn.c_attn(x)
    q_out, k_out, v_out = qkv.split(d, dim=-1)
    w = blocks[layer].attn.c_attn.weight.detach()
    b = blocks[layer].attn.c_attn.bias.detach()
    assert torch.allclose(q_out, x @ w[:, :d] + b[:d], atol=1e-6)

    per_layer = []
    edges_w = np.linspace(-0.8, 0.8, 81)
    edges_c = np.linspace(-0.4, 0.4, 101)
    for L in range(n_layer):
        W = blocks[L].attn.c_attn.weight.detach().double()  # [d, 3d], Conv1D layout
        mats = dict(zip("qkv", W.split(d, dim=1)))
        entry = {}
        for name, m in mats.items():
            vals = m.flatten().numpy()
            cos = cosine_columns(m, m)
            iu = torch.triu_indices(d, d, offset=1)
            tri = cos[iu[0], iu[1]]
            entry[name] = {
                "mean": float(m.mean()),
                "std": float(m.std(unbiased=True)),
                "density": density(vals, edges_w),
                "cos_mean": float(tri.mean()),
                "cos_std": float(tri.std(unbiased=True)),
                "cos_count": int(tri.numel()),
            }
            if name in "qk":
                within, across = [], []
                for i in range(n_head):
                    hi = m[:, i * hd : (i + 1) * hd]
                    for j in range(i, n_head):
                        hj = m[:, j * hd : (j + 1) * hd]
                        c = cosine_columns(hi, hj)
                        if i == j:
                            t = torch.triu_indices(hd, hd, offset=1)
                            within.append(c[t[0], t[1]])
                        else:
                            across.append(c.flatten())
                within = torch.cat(within).numpy()
                across = torch.cat(across).numpy()
                for pool, v in (("within", within), ("across", across)):
                    entry[name][pool] = {
                        "count": int(v.size),
                        "mean": float(v.mean()),
                        "std": float(v.std(ddof=0)),
                        "density": density(v, edges_c),
                    }
                    if L == layer:
                        dens, e = np.histogram(v, bins="fd", density=True)
                        entry[name][pool]["fd_density"] = f(dens)
                        entry[name][pool]["fd_edges"] = f(e)
            if L == layer:
                counts, e = np.histogram(vals, bins="fd")
                entry[name]["fd_counts"] = f(counts)
                entry[name]["fd_edges"] = f(e)
        per_layer.append(entry)

    wq = blocks[layer].attn.c_attn.weight.detach().double()[:, :d]
    c0 = cosine_columns(wq[:, :hd], wq[:, :hd])
    t = torch.triu_indices(hd, hd, offset=1)
    tri0 = c0[t[0], t[1]].numpy()
    counts40, e40 = np.histogram(tri0, bins=40)

    ref = {
        "about": "tiny-gpt2 through transformers "
        + transformers.__version__
        + ", torch "
        + torch.__version__
        + ", numpy "
        + np.__version__
        + "; written by scripts/make_fixture.py",
        "config": {"n_embd": d, "n_layer": n_layer, "n_head": n_head, "head_dim": hd},
        "layer": layer,
        "count_block": count_block,
        "numels": numels,
        "block_params": sum(numels.values()),
        "total_params": sum(numels.values()) * n_layer,
        "c_attn_shape": list(attn.c_attn.weight.shape),
        "c_attn_input": f(x),
        "c_attn_q": f(q_out),
        "c_attn_k": f(k_out),
        "c_attn_v": f(v_out),
        "layers": per_layer,
        "head0_cos": f(c0),
        "head0_hist_counts": f(counts40),
        "head0_hist_edges": f(e40),
    }
    path = CRATE / "fixtures" / "reference.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ref, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

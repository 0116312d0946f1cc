"""Reference values for project 50's tests, from Hugging Face transformers, torch and numpy.

Run from anywhere (writes fixtures/reference.json beside this folder) with a Python that
has torch, transformers 4.57.6 and numpy (/work/main/.venv has them):
    .venv/bin/python chapters/ch07_mlp/project50_mlp_recommender/scripts/make_fixture.py

It does what the --quick run does, the way the book's notebook does it, on the tiny random
GPT-2 in assets/models/tiny-gpt2 (GPT2LMHeadModel, eval, float32, no gradients; 3 blocks,
d = 16, so its last block 2 stands in for layer 6) and the book's three texts:
- GPT-2 token ids of A, B, C (no BOS);
- forward hooks on transformer.h[L].mlp.c_proj store the MLP output [1, T, d] of every
  block ({text}_{L}); hidden states (output_hidden_states) for offline check 4;
- Part 1: norm[L, t] for t = 1..T-1 and np.percentile(.., [5, 95]);
- Part 2: mean_A, mean_B (tokens 1..), cs_AB, target = 2 mean_B - mean_A, cos with C's
  tokens, the argmax;
- Part 3: per layer max cos and argmax;
- Part 4: cMat[i, j, k] = cos(2 x_B[j] - x_A[i], x_C[k]), the argmax (i, j) of each
  selected k = np.linspace(0, 14, 4).astype(int) with np.unravel_index;
- Part 5: max_sim[L, k] and the argmax pairs for every layer; percentiles.
The numbers come from random weights: they check the code, they are not findings.
"""

import json
import pathlib

import numpy as np
import torch
from transformers import GPT2LMHeadModel, GPT2TokenizerFast

CRATE = pathlib.Path(__file__).resolve().parents[1]
ROOT = CRATE.parents[2]
TINY = ROOT / "assets" / "models" / "tiny-gpt2"
TEXTS = {
    "A": "I'll tell thee everything I can; There's little to relate. I saw an aged aged man, a-sitting on a gate.",
    "B": '"Who are you, aged man?" I said. "And how is it you live?"',
    "C": "And his answer trickled through my head, like water through a sieve.",
}


def f(x):
    return [float(v) for v in np.asarray(x, dtype=np.float64).ravel()]


def cos_rows(a, b):
    """cosine of every row of a [n, d] with every row of b [m, d] -> [n, m] (float64)."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return a @ b.T


def main():
    tok = GPT2TokenizerFast.from_pretrained(TINY)
    model = GPT2LMHeadModel.from_pretrained(TINY).eval()
    n_layers = model.config.n_layer
    acts = {}
    for L, blk in enumerate(model.transformer.h):
        blk.mlp.c_proj.register_forward_hook(
            lambda m, a, o, L=L: acts.__setitem__(L, o.detach().clone())
        )
    ref = {"ids": {}, "norms": {}, "percentiles": {}}
    mlp = {}
    check4 = 0.0
    for name, text in TEXTS.items():
        ids = tok(text)["input_ids"]
        ref["ids"][name] = ids
        ref.setdefault("labels", {})[name] = [tok.decode([i]) for i in ids[1:]]
        acts.clear()
        with torch.no_grad():
            out = model(torch.tensor([ids]), output_hidden_states=True)
        # [L, T, d] float64
        m = np.stack([acts[L][0].double().numpy() for L in range(n_layers)])
        mlp[name] = m
        norms = np.linalg.norm(m[:, 1:, :], axis=-1)
        ref["norms"][name] = norms.tolist()
        ref["percentiles"][name] = f(np.percentile(norms, [5, 95]))
        # offline check 4 with transformers' pieces: block output = resid_pre + attn + mlp
        hs = out.hidden_states
        for L in range(n_layers - 1):  # the last hidden state has ln_f applied
            blk = model.transformer.h[L]
            with torch.no_grad():
                a = blk.attn(blk.ln_1(hs[L]))[0]
            recon = hs[L] + a + acts[L]
            check4 = max(check4, float((recon - hs[L + 1]).abs().max()))
    ref["check4_max_abs"] = check4
    ref["n_layers"] = n_layers

    layer = min(6, n_layers - 1)
    ref["layer"] = layer
    xa, xb, xc = (mlp[n][:, 1:, :] for n in "ABC")
    ma, mb = xa[layer].mean(0), xb[layer].mean(0)
    cs_ab = float(cos_rows(ma[None], mb[None])[0, 0])
    target = 2 * mb - ma
    cos_c = cos_rows(target[None], xc[layer])[0]
    ref["part2"] = {
        "mean_A": f(ma),
        "mean_B": f(mb),
        "cs_AB": cs_ab,
        "cos_C": f(cos_c),
        "argmax": int(cos_c.argmax()),
        "argmax_token": tok.decode([ref["ids"]["C"][1 + int(cos_c.argmax())]]),
        # offline check 1: with A = B the target is B and the recommendation is C's token
        # closest to mean_B
        "same_argmax": int(cos_rows(mb[None], xc[layer])[0].argmax()),
    }

    p3_max, p3_arg = [], []
    for L in range(n_layers):
        t = 2 * xb[L].mean(0) - xa[L].mean(0)
        c = cos_rows(t[None], xc[L])[0]
        p3_max.append(float(c.max()))
        p3_arg.append(int(c.argmax()))
    ref["part3"] = {"max_cos": p3_max, "argmax": p3_arg}

    sel = np.linspace(0, 14, 4).astype(int)
    ref["selected"] = [int(k) for k in sel]

    def cmat(L):
        t = 2 * xb[L][None, :, :] - xa[L][:, None, :]  # [28, 18, d]
        c = cos_rows(t.reshape(-1, t.shape[-1]), xc[L])  # [28*18, 15]
        return c.reshape(xa.shape[1], xb.shape[1], xc.shape[1])

    cm = cmat(layer)
    ref["part4"] = {"shape": list(cm.shape), "size": int(cm.size), "best": [], "max": [], "slices": {}}
    for k in sel:
        s = cm[:, :, k]
        i, j = np.unravel_index(s.argmax(), s.shape)
        ref["part4"]["best"].append([int(i), int(j)])
        ref["part4"]["max"].append(float(s.max()))
        ref["part4"]["slices"][str(int(k))] = s.tolist()
    max_sim, pairs = [], []
    for L in range(n_layers):
        c = cmat(L)
        row, prow = [], []
        for k in range(c.shape[2]):
            s = c[:, :, k]
            i, j = np.unravel_index(s.argmax(), s.shape)
            row.append(float(s.max()))
            prow.append([int(i), int(j)])
        max_sim.append(row)
        pairs.append(prow)
    ref["part5"] = {
        "max_sim": max_sim,
        "pairs": pairs,
        "percentiles": f(np.percentile(np.array(max_sim), [5, 95])),
    }
    ref["percentiles_1_100"] = f(np.percentile(np.arange(1, 101), [5, 95]))

    path = CRATE / "fixtures" / "reference.json"
    path.write_text(json.dumps(ref, indent=1) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()

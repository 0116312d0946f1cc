"""Reference values for project 37's tests, from Hugging Face transformers, torch and numpy.

Run from anywhere (writes fixtures/reference.json beside this folder) with a Python that
has torch 2.13.0, transformers 4.57.6 and numpy (/work/main/.venv has them):
    .venv/bin/python chapters/ch06_attention/project37_prediction_kl/scripts/make_fixture.py

It does what the --quick run does, the way the book's notebook does it, on the tiny random
GPT-2 in assets/models/tiny-gpt2 (GPT2LMHeadModel, eval, float32, no gradients) and the
text in src/quick_text.txt:
- allTokens = the whole text tokenised as one sequence (GPT2TokenizerFast, no special
  tokens); start_idx = len // 2; window = allTokens[start_idx : start_idx + 64] (the tiny
  model's context);
- one forward pass with a forward hook on attn.c_proj of every block; logits argmax;
  correct[t] = argmax(logits[t]) == allTokens[start_idx + t + 1]; toklen = len of the
  decoded target;
- numpy 'fd' density histograms of toklen per group;
- log L2 norms (float64 from the float32 activations) per layer; the last block (2)
  stands in for layer 4: np.histogram counts on np.linspace(min, max, 31), probabilities,
  density sums;
- torch.nn.functional.kl_div on float64 tensors: without epsilon (default reduction), c2i,
  i2c, the symmetric version with the mixture as the target (reduction='batchmean'), the
  book's symmetric_KL and its nbins = 10..50 sweep;
- per layer: mean log-norms per group, their difference and symmetric_KL;
- a numpy permutation test (1000 shuffles, seed 0) per layer, for the order of magnitude
  of the null only: numpy's shuffles cannot be reproduced in Rust.
The numbers come from random weights: they check the code, they are not findings.
"""

import json
import math
import pathlib

import numpy as np
import torch
import torch.nn.functional as F
from transformers import GPT2LMHeadModel, GPT2TokenizerFast

CRATE = pathlib.Path(__file__).resolve().parents[1]
ROOT = CRATE.parents[2]
TINY = ROOT / "assets" / "models" / "tiny-gpt2"
EPS = 1e-15


def f(x):
    return [float(v) for v in np.asarray(x, dtype=np.float64).ravel()]


def num(v):
    v = float(v)
    return v if math.isfinite(v) else str(v)


def kl(inp, target, reduction="mean"):
    return float(F.kl_div(torch.tensor(inp, dtype=torch.float64),
                          torch.tensor(target, dtype=torch.float64), reduction=reduction))


def sym_kl_probs(p, q):
    m = (p + q) / 2
    return (kl(np.log(p + EPS), m, "batchmean") + kl(np.log(q + EPS), m, "batchmean")) / 2


def symmetric_KL(d1, d2, nbins=31):
    edges = np.linspace(min(d1.min(), d2.min()), max(d1.max(), d2.max()), nbins)
    y1 = np.histogram(d1, bins=edges)[0]
    y2 = np.histogram(d2, bins=edges)[0]
    return sym_kl_probs(y1 / y1.sum(), y2 / y2.sum())


def main():
    tok = GPT2TokenizerFast.from_pretrained(TINY)
    model = GPT2LMHeadModel.from_pretrained(TINY, dtype=torch.float32).eval()
    n_layer = model.config.n_layer
    W = model.config.n_positions
    text = (CRATE / "src" / "quick_text.txt").read_text(encoding="utf-8")
    all_tokens = tok(text)["input_ids"]
    start = len(all_tokens) // 2
    window = all_tokens[start:start + W]

    outs = {}
    hooks = [blk.attn.c_proj.register_forward_hook(
        lambda mod, inp, out, L=L: outs.__setitem__(L, out.detach().clone()))
        for L, blk in enumerate(model.transformer.h)]
    with torch.no_grad():
        logits = model(torch.tensor([window])).logits  # [1, W, vocab]
    for h in hooks:
        h.remove()
    pred = logits[0].argmax(-1).tolist()
    targets = [all_tokens[start + t + 1] for t in range(W)]
    correct = np.array([pred[t] == targets[t] for t in range(W)])
    toklen = np.array([len(tok.decode([t])) for t in targets])

    fd = {}
    for name, m in (("incorrect", ~correct), ("correct", correct)):
        dens, edges = np.histogram(toklen[m], bins="fd", density=True)
        fd[name] = {"left": f(edges[:-1]), "density": f(dens), "mean": float(toklen[m].mean())}

    lognorms = [np.log(np.linalg.norm(outs[L][0].double().numpy(), axis=1)) for L in range(n_layer)]
    layer = min(4, n_layer - 1)
    C, I = lognorms[layer][correct], lognorms[layer][~correct]
    edges = np.linspace(min(C.min(), I.min()), max(C.max(), I.max()), 31)
    cc, ci = np.histogram(C, bins=edges)[0], np.histogram(I, bins=edges)[0]
    dens_c = np.histogram(C, bins=edges, density=True)[0]
    yC, yI = cc / cc.sum(), ci / ci.sum()
    with np.errstate(divide="ignore"):
        raw = kl(np.log(yC), yI)
    c2i = kl(np.log(yC + EPS), yI, "batchmean")
    i2c = kl(np.log(yI + EPS), yC, "batchmean")
    M = (yC + yI) / 2
    sym = (kl(np.log(yC + EPS), M, "batchmean") + kl(np.log(yI + EPS), M, "batchmean")) / 2

    rng = np.random.default_rng(0)
    layers = []
    for L in range(n_layer):
        c, i = lognorms[L][correct], lognorms[L][~correct]
        obs = symmetric_KL(c, i)
        null = []
        for _ in range(1000):
            perm = rng.permutation(correct)
            null.append(symmetric_KL(lognorms[L][perm], lognorms[L][~perm]))
        null = np.array(null)
        layers.append({"mean_correct": float(c.mean()), "mean_incorrect": float(i.mean()),
                       "diff": float(c.mean() - i.mean()), "kl": obs,
                       "numpy_null_mean": float(null.mean()),
                       "numpy_p": float((null > obs).mean())})

    ref = {
        "n_layer": n_layer, "d_model": model.config.n_embd, "vocab": model.config.vocab_size,
        "n_stream": len(all_tokens), "start": start, "window": W,
        "window_ids": window, "targets": targets, "predicted": pred,
        "correct": [bool(c) for c in correct], "toklen": [int(t) for t in toklen],
        "fd_toklen": fd, "layer": layer,
        "log_norms": [f(x) for x in lognorms],
        "part3": {"edges": f(edges), "count_correct": f(cc), "count_incorrect": f(ci),
                  "p_correct": f(yC), "p_incorrect": f(yI),
                  "density_sum": float(dens_c.sum()),
                  "density_width_sum": float((dens_c * np.diff(edges)).sum())},
        "part4": {"raw": num(raw), "c2i": c2i, "i2c": i2c, "sym": sym,
                  "symmetric_KL_CI": symmetric_KL(C, I), "symmetric_KL_IC": symmetric_KL(I, C),
                  "sweep": [symmetric_KL(C, I, n) for n in range(10, 51)]},
        "layers": layers,
    }
    path = CRATE / "fixtures" / "reference.json"
    path.write_text(json.dumps(ref, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {path}: {int(correct.sum())} of {W} correct; raw kl {raw}; c2i {c2i:.4f}, "
          f"i2c {i2c:.4f}, sym {sym:.4f}; p per layer {[l['numpy_p'] for l in layers]}")


if __name__ == "__main__":
    main()

"""Reference values for project 48's tests, from Hugging Face transformers, torch, numpy,
statsmodels and scikit-learn (none of them from the program).

Run from anywhere (writes fixtures/reference.json beside this folder) with a Python that has
torch 2.13.0, transformers 4.57.6, numpy, statsmodels and scikit-learn (/work/main/.venv):
    .venv/bin/python chapters/ch07_mlp/project48_can_cant_logistic/scripts/make_fixture.py

- tokenization: GPT2TokenizerFast (assets/models/tiny-gpt2 holds GPT-2's real tokenizer) on
  the spec's texts;
- the book's extraction loop, written again here as in the notebook, over data/quick_docs.txt
  with min_samplesize = 40 (the --quick setting): counts and every window;
- for every window: the output of transformers' `transformer.h[L].mlp.c_fc` (a forward hook)
  at the last position, in every block of the tiny random GPT-2, and the same by hand:
  numpy layer norm of the block's residual (the input of ln_2, a forward pre-hook) with
  ln_2's weight and bias from model.safetensors, @ c_fc.weight + c_fc.bias;
- statsmodels `Logit(y, [1, x]).fit_regularized(method='l1', alpha=0.1, maxiter=3000)`
  (and alpha = 0 via `.fit()`, alpha = 1e6) on numpy synthetic data, and the alpha = 0.1 fit
  of every layer-2 neuron on all extracted windows (can = 0, can't = 1, unbalanced);
- scikit-learn's stratified train_test_split counts of 2·40 balanced labels.
The model weights are random: the numbers check the code, they are not findings.
"""

import json
import pathlib
import warnings

import numpy as np
import statsmodels.api as sm
import torch
from safetensors.numpy import load_file
from sklearn.model_selection import train_test_split
from transformers import GPT2LMHeadModel, GPT2TokenizerFast

warnings.filterwarnings("ignore")
CRATE = pathlib.Path(__file__).resolve().parents[1]
ROOT = CRATE.parents[2]
TINY = ROOT / "assets" / "models" / "tiny-gpt2"
MIN_SAMPLES = 40
CONTEXT_PRE = 10
CANTOK, ATTOK = 460, 470
EXCLUDED = [286, 351, 422, 287, 319, 329, 407]
FACTS = ["can", " can", "can't", " can't", " can\u2019t", " can\u2018t", " can\u02bct",
         " can\u2032t", " can\u055at"]

tok = GPT2TokenizerFast.from_pretrained(TINY)
ref = {"token_facts": {t: tok.encode(t) for t in FACTS}}

# the extraction loop
can, cant = [], []
docs = (CRATE / "data" / "quick_docs.txt").read_text().splitlines()
n_docs, n_tokens = 0, 0
for text in docs:
    if len(cant) >= MIN_SAMPLES:
        break
    tokens = tok.encode(text)
    n_docs += 1
    n_tokens += len(tokens)
    for ti in range(CONTEXT_PRE, len(tokens) - 1):
        if tokens[ti] == CANTOK:
            nxt = tokens[ti + 1]
            d = tok.decode([nxt])
            if d[:1] == " " and nxt not in EXCLUDED:
                can.append(tokens[ti - CONTEXT_PRE: ti + 1])
            if nxt == ATTOK:
                cant.append(tokens[ti - CONTEXT_PRE: ti + 1])
ref["extraction"] = {"docs": n_docs, "tokens": n_tokens, "can": can, "cant": cant}

# c_fc outputs at the last position
model = GPT2LMHeadModel.from_pretrained(TINY).eval()
w = load_file(str(TINY / "model.safetensors"))
pre = {}
resid = {}
for L, blk in enumerate(model.transformer.h):
    blk.mlp.c_fc.register_forward_hook(
        lambda m, a, o, L=L: pre.__setitem__(L, o.detach().double().numpy()))
    blk.ln_2.register_forward_pre_hook(
        lambda m, a, L=L: resid.__setitem__(L, a[0].detach().double().numpy()))
windows = can + cant
with torch.no_grad():
    model(torch.tensor(windows))
n_layers = len(model.transformer.h)
acts = {}
by_hand_err = 0.0
eps = model.config.layer_norm_epsilon
for L in range(n_layers):
    r = resid[L][:, -1, :]
    mu = r.mean(-1, keepdims=True)
    var = r.var(-1, keepdims=True)
    g = w[f"transformer.h.{L}.ln_2.weight"].astype(np.float64)
    b = w[f"transformer.h.{L}.ln_2.bias"].astype(np.float64)
    ln = (r - mu) / np.sqrt(var + eps) * g + b
    hand = ln @ w[f"transformer.h.{L}.mlp.c_fc.weight"].astype(np.float64) + w[f"transformer.h.{L}.mlp.c_fc.bias"]
    by_hand_err = max(by_hand_err, float(np.abs(hand - pre[L][:, -1, :]).max()))
for i, v in enumerate(windows):
    key = " ".join(map(str, v))
    acts[key] = [[float(x) for x in pre[L][i, -1, :]] for L in range(n_layers)]
ref["last_pre"] = acts
ref["by_hand_max_err"] = by_hand_err


def l1(X, y, alpha):
    r = sm.Logit(y, X).fit_regularized(method="l1", alpha=alpha, maxiter=3000, disp=0)
    return {"params": [float(v) for v in r.params],
            "pvalues": [None if np.isnan(v) else float(v) for v in r.pvalues]}


rng = np.random.default_rng(48)
y = np.repeat([0, 1], 500)
x = rng.normal(0, 1, 1000) + 1.5 * y
X = np.column_stack([np.ones(1000), x])
mle = sm.Logit(y, X).fit(disp=0)
noise = rng.normal(0, 1, 1000)
Xn = np.column_stack([np.ones(1000), noise])
ref["synthetic"] = {
    "x": [float(v) for v in x], "y": [int(v) for v in y], "noise": [float(v) for v in noise],
    "alpha0.1": l1(X, y, 0.1), "alpha0": {"params": [float(v) for v in mle.params],
                                          "pvalues": [float(v) for v in mle.pvalues]},
    "alpha1e6": l1(X, y, 1e6), "noise_alpha0.1": l1(Xn, y, 0.1),
}

# every layer-2 neuron on all windows (unbalanced)
lab = np.array([0] * len(can) + [1] * len(cant))
neurons = []
for n in range(pre[2].shape[-1]):
    xn = pre[2][:, -1, n]
    neurons.append(l1(np.column_stack([np.ones(len(xn)), xn]), lab, 0.1))
ref["layer2_all_windows"] = neurons

yb = np.repeat([0, 1], MIN_SAMPLES)
tr, te = train_test_split(yb, test_size=0.2, stratify=yb, random_state=0)
ref["split"] = {"train": [int((tr == c).sum()) for c in (0, 1)],
                "test": [int((te == c).sum()) for c in (0, 1)]}

out = CRATE / "fixtures" / "reference.json"
out.write_text(json.dumps(ref))
print(f"wrote {out}: {len(can)} can, {len(cant)} can't windows from {n_docs} documents; "
      f"by-hand c_fc max err {by_hand_err:.2e}")

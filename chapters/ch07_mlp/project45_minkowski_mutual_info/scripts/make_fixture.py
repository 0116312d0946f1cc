"""Reference values for project 45's tests, from transformers, torch, numpy, scipy, sklearn.

Run from anywhere (writes fixtures/reference.json beside this folder) with a Python that has
torch 2.13.0, transformers 4.57.6, numpy, scipy and scikit-learn (/work/main/.venv has them):
    .venv/bin/python chapters/ch07_mlp/project45_minkowski_mutual_info/scripts/make_fixture.py

It does what the --quick run does, the way the book's notebook does it, on the tiny random
GPT-2 in assets/models/tiny-gpt2 (GPT2LMHeadModel, eval, float32, no gradients; 3 blocks, so
its last block, 2, stands in for layer 3) and the project's --quick text
(assets/quick_text.txt):
- GPT2TokenizerFast on the whole text, no special tokens: count, unique count, the
  positions of " coffee";
- forward hooks on every transformer.h[L].attn.c_proj and transformer.h[L].mlp.c_proj
  (keys att_L, mlp_L), one pass over tokens[0 : target[9] + 1]; the block outputs too
  (output_hidden_states) for offline check 5;
- Parts 4–6: for every layer and block type, the 45 pairs' L1 / L2 (scipy minkowski),
  k-NN MI (sklearn mutual_info_regression, n_neighbors=3, the dimensions as samples), and
  scipy.stats.kendalltau against the token distance, plus the means;
- Part 7: the [n, 10] batch (rows ending in " coffee"), the L2 norms of att_L[:, -1] and
  mlp_L[:, -1], and sklearn's MI for every pair of layers;
- offline check 4: scipy's kendalltau on the fixed examples the program uses.
The numbers come from random weights: they check the code, they are not findings.
"""

import json
import pathlib

import numpy as np
import torch
from scipy.spatial.distance import minkowski
from scipy.stats import kendalltau
from sklearn.feature_selection import mutual_info_regression
from transformers import GPT2LMHeadModel, GPT2TokenizerFast

CRATE = pathlib.Path(__file__).resolve().parents[1]
ROOT = CRATE.parents[2]
TINY = ROOT / "assets" / "models" / "tiny-gpt2"
TEXT = (CRATE / "assets" / "quick_text.txt").read_text()
N_TARGETS = 10
N_CONTEXT = 9
N_SEQUENCES = 100
TARGET = 6891


def f(x):
    return [float(v) for v in np.asarray(x, dtype=np.float64).ravel()]


def mi(x, y):
    return float(
        mutual_info_regression(
            np.asarray(x, dtype=np.float64).reshape(-1, 1),
            np.asarray(y, dtype=np.float64),
            n_neighbors=3,
            random_state=0,
        )[0]
    )


def main():
    torch.manual_seed(0)
    tok = GPT2TokenizerFast.from_pretrained(TINY)
    model = GPT2LMHeadModel.from_pretrained(TINY).eval()
    ids = tok(TEXT, add_special_tokens=False)["input_ids"]
    positions = [i for i, t in enumerate(ids) if t == TARGET]
    targets = positions[:N_TARGETS]
    n_layers = model.config.n_layer

    acts = {}

    def hook(key):
        def fn(mod, inp, out):
            acts[key] = out.detach().clone()

        return fn

    for L, blk in enumerate(model.transformer.h):
        blk.attn.c_proj.register_forward_hook(hook(f"att_{L}"))
        blk.mlp.c_proj.register_forward_hook(hook(f"mlp_{L}"))

    prefix = torch.tensor([ids[: targets[-1] + 1]])
    with torch.no_grad():
        outp = model(prefix, output_hidden_states=True)
    hs = outp.hidden_states  # embeddings, then each block's output (the last after ln_f)
    # offline check 5 on the blocks whose output is not normalised (all but the last)
    resid_err = 0.0
    for L in range(n_layers - 1):
        d = hs[L + 1] - hs[L] - acts[f"att_{L}"] - acts[f"mlp_{L}"]
        resid_err = max(resid_err, float(d.abs().max()))
    shape = list(acts["att_0"].shape)

    pairs = [(i, j) for i in range(N_TARGETS) for j in range(i + 1, N_TARGETS)]
    tokdist = [targets[j] - targets[i] for i, j in pairs]
    layers = {}
    for L in range(n_layers):
        for blk in ["att", "mlp"]:
            a = acts[f"{blk}_{L}"][0].double().numpy()
            vs = [a[p] for p in targets]
            m = {
                "mi": [mi(vs[i], vs[j]) for i, j in pairs],
                "l1": [minkowski(vs[i], vs[j], 1) for i, j in pairs],
                "l2": [minkowski(vs[i], vs[j], 2) for i, j in pairs],
            }
            entry = {}
            for k, v in m.items():
                # MI values equal in exact arithmetic differ in their last bits: round to
                # 12 decimals so that they tie (as the program does)
                t = kendalltau(tokdist, np.round(v, 12))
                entry[k] = f(v)
                entry[k + "_mean"] = float(np.mean(v))
                entry[k + "_tau"] = float(t.statistic)
                entry[k + "_p"] = float(t.pvalue)
            entry["vectors"] = [f(v) for v in vs]
            layers[f"{blk}_{L}"] = entry

    usable = [t for t in positions if t > N_CONTEXT + 1][:N_SEQUENCES]
    batch = [ids[t - N_CONTEXT : t + 1] for t in usable]
    with torch.no_grad():
        model(torch.tensor(batch))
    norms = {}
    for L in range(n_layers):
        for blk in ["att", "mlp"]:
            norms[f"{blk}_{L}"] = f(acts[f"{blk}_{L}"][:, -1, :].double().norm(dim=1))
    mi7 = []
    for i in range(n_layers):
        for j in range(i + 1, n_layers):
            mi7.append(
                {
                    "i": i,
                    "j": j,
                    "att": mi(norms[f"att_{i}"], norms[f"att_{j}"]),
                    "mlp": mi(norms[f"mlp_{i}"], norms[f"mlp_{j}"]),
                }
            )

    tx = [1, 2, 2, 3, 4, 4, 4, 5, 6, 7, 7, 8]
    ty = [2, 1, 3, 3, 5, 4, 6, 6, 8, 7, 9, 9]
    ex = list(range(1, 11))
    ey = [3, 1, 4, 2, 6, 5, 9, 10, 7, 8]
    kt, ke = kendalltau(tx, ty), kendalltau(ex, ey)

    ref = {
        "n_tokens": len(ids),
        "n_unique": len(set(ids)),
        "positions": positions,
        "targets": targets,
        "prefix_len": targets[-1] + 1,
        "hook_shape": shape,
        "check5_resid_err": resid_err,
        "pairs": pairs,
        "tokdist": tokdist,
        "layers": layers,
        "batch_t": usable,
        "batch": batch,
        "norms": norms,
        "part7_mi": mi7,
        "kendall_ties": {"tau": float(kt.statistic), "p": float(kt.pvalue)},
        "kendall_exact": {"tau": float(ke.statistic), "p": float(ke.pvalue)},
    }
    path = CRATE / "fixtures" / "reference.json"
    path.write_text(json.dumps(ref, indent=1) + "\n")
    print(f"wrote {path}: {len(ids)} tokens, {len(positions)} targets, {len(usable)} sequences")


if __name__ == "__main__":
    main()

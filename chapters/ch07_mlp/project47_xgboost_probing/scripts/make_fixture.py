"""Reference values for project 47's tests, from transformers, torch and the xgboost package.

Run from anywhere (writes fixtures/reference.json beside this folder) with a Python that
has torch 2.13.0, transformers 4.57.6 and xgboost 3.2.0 (/work/main/.venv has them):
    .venv/bin/python chapters/ch07_mlp/project47_xgboost_probing/scripts/make_fixture.py

What it computes, independently of the Rust program:
- the --quick text (data/quick_text.txt) tokenized by transformers' GPT2TokenizerFast of
  assets/models/tiny-gpt2; the spec's " that" categories counted by a Python loop (a
  " that" needs a next token and 5 tokens before it); the first determiner window;
- on that window, the tiny random GPT-2 (GPT2LMHeadModel, eval, float32): the output of
  every transformer.h[L].mlp.act module (forward hook) at the last position, and the
  spec's ablation hook on h[2].mlp.act (copy the output, zero [:, -1, [1, 5, 9]], return
  the copy): the Frobenius norm of the last-position logit difference and the largest
  logit change at earlier positions;
- offline check 2 with xgboost's Python API: one boosting round on the hand-built data
  (x = 0, 1, 2, 3; y = 0, 0, 0, 1; weight 8 each; eta 0.05, depth 2, no subsampling,
  base_score 0.5, alpha = lambda = 5, and alpha = 100), read from get_dump(json, stats).
The numbers come from random weights: they check the code, they are not findings.
"""

import json
import pathlib

import numpy as np
import torch
import xgboost as xgb
from transformers import GPT2LMHeadModel, GPT2TokenizerFast

CRATE = pathlib.Path(__file__).resolve().parents[1]
ROOT = CRATE.parents[2]
TINY = ROOT / "assets" / "models" / "tiny-gpt2"
THAT = 326
POST_COMP = [339, 673, 340, 484, 356, 314, 345, 262, 257, 281, 428, 326, 777, 883]
POST_DP = [318, 373, 389, 547, 468, 423, 550, 466, 750, 857, 2499, 3022, 22523, 6067, 5419,
           10143, 3421]
CONTEXT_PRE = 5
LAYER = 2
NEURONS = [1, 5, 9]

text = (CRATE / "data" / "quick_text.txt").read_text()
tok = GPT2TokenizerFast.from_pretrained(TINY)
ids = tok(text, add_special_tokens=False)["input_ids"]
counts = {"complementizer": 0, "pronoun": 0, "determiner": 0, "too_early": 0}
first_det = None
for i in range(len(ids) - 1):
    if ids[i] != THAT:
        continue
    if i < CONTEXT_PRE:
        counts["too_early"] += 1
        continue
    nxt = ids[i + 1]
    if nxt in POST_COMP:
        counts["complementizer"] += 1
    elif nxt in POST_DP:
        counts["pronoun"] += 1
    else:
        counts["determiner"] += 1
        if first_det is None:
            first_det = i
window = ids[first_det - CONTEXT_PRE : first_det + 1]

torch.manual_seed(0)
model = GPT2LMHeadModel.from_pretrained(TINY).eval()
acts = {}
state = {"ablate": False}


def capture(L):
    def hook(mod, args, out):
        if state["ablate"] and L == LAYER:
            out = out.clone()
            out[:, -1, NEURONS] = 0
        acts[L] = out.detach().clone()
        return out

    return hook


for L, blk in enumerate(model.transformer.h):
    blk.mlp.act.register_forward_hook(capture(L))

x = torch.tensor([window])
with torch.no_grad():
    clean = model(x).logits
    clean_acts = {L: a[0, -1].double().numpy().tolist() for L, a in acts.items()}
    state["ablate"] = True
    hooked = model(x).logits
    hooked_act = acts[LAYER][0]
d_last = (hooked[0, -1] - clean[0, -1]).double()
ref = {
    "n_tokens": len(ids),
    "counts": counts,
    "window": window,
    "mlp_act_last": [clean_acts[L] for L in range(len(model.transformer.h))],
    "ablation_layer": LAYER,
    "ablation_neurons": NEURONS,
    "ablation_frobenius": float(torch.linalg.norm(d_last).item()),
    "ablation_earlier_max": float((hooked[0, :-1] - clean[0, :-1]).abs().max().item()),
    "ablation_zeroed_max": float(hooked_act[-1, NEURONS].abs().max().item()),
}


def hand_tree(alpha):
    d = xgb.DMatrix(np.array([[0.0], [1.0], [2.0], [3.0]]), label=[0, 0, 0, 1],
                    weight=[8.0] * 4)
    params = {"objective": "binary:logistic", "eta": 0.05, "max_depth": 2, "subsample": 1.0,
              "colsample_bytree": 1.0, "lambda": 5.0, "alpha": alpha, "gamma": 0.0,
              "min_child_weight": 1.0, "tree_method": "hist", "max_bin": 256,
              "base_score": 0.5, "seed": 0}
    b = xgb.train(params, d, num_boost_round=1)
    t = json.loads(b.get_dump(dump_format="json", with_stats=True)[0])
    if "leaf" in t:
        return {"split": None, "leaves": [t["leaf"]]}
    kids = {c["nodeid"]: c for c in t["children"]}
    return {"split": [t["split"], t["split_condition"], t["gain"]],
            "leaves": [kids[t["yes"]]["leaf"], kids[t["no"]]["leaf"]]}


ref["hand_alpha5"] = hand_tree(5.0)
ref["hand_alpha100"] = hand_tree(100.0)
ref["xgboost_version"] = xgb.__version__
out = CRATE / "fixtures" / "reference.json"
out.parent.mkdir(exist_ok=True)
out.write_text(json.dumps(ref, indent=1) + "\n")
print("wrote", out, {k: v for k, v in ref.items() if k not in ("mlp_act_last",)})

"""Reference values for project 49's tests, from Hugging Face transformers, torch and numpy.

Run from anywhere (writes fixtures/reference.json beside this folder) with a Python that
has torch, transformers 4.57.6 and numpy (/work/main/.venv has them):
    .venv/bin/python chapters/ch07_mlp/project49_median_replacement/scripts/make_fixture.py

It does what the --quick run does, the way the book's notebook does it, on the tiny random
GPT-2 in assets/models/tiny-gpt2 (GPT2LMHeadModel, eval, float32, no gradients; 3 blocks,
d = 16, MLP width 64; its last block 2 stands in for layer 9) and the book's prompt:
- tokenizer ids of the prompt and of " night";
- the clean run with output_hidden_states=True (4 tensors, the last with ln_f), the
  last-position log_softmax; forward hooks on mlp.c_fc, mlp.act and mlp.c_proj of every
  block record the transformers module outputs (the hook points the program reads);
- Part 2: block 2's c_fc output at the last token, torch.median, mean, the top
  int(0.1 * 64) replaced by the median, np.histogram counts with edges linspace(-5, 2, 41);
- Parts 3-5: for p in np.linspace(0.01, 0.99, 21), forward hooks on c_fc / act / c_proj of
  ALL blocks that take vals = output[0, -1, :], med = torch.median(vals), replace the
  k = int(p * N) largest (signed; absolute for c_proj) entries by med IN PLACE and return
  the output; the target's log_softmax and ||hs_i[0,-1] - hs_clean_i[0,-1]|| for i = 0..3;
- offline check 2: the c_fc hook on block 1 only with p = 0.5; check 4: earlier-position
  logits of that run against the clean ones.
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
PROMPT = "It was a dark and stormy"
TARGET = " night"


def f(x):
    return [float(v) for v in np.asarray(x, dtype=np.float64).ravel()]


def main():
    tok = GPT2TokenizerFast.from_pretrained(TINY)
    model = GPT2LMHeadModel.from_pretrained(TINY).eval()
    ids = tok(PROMPT)["input_ids"]
    target = tok(TARGET)["input_ids"]
    assert len(target) == 1
    target = target[0]
    x = torch.tensor([ids])
    n_layers = model.config.n_layer
    blocks = model.transformer.h

    # --- clean run, module outputs
    modules = {}
    handles = []
    for L, b in enumerate(blocks):
        for key, mod in (("c_fc", b.mlp.c_fc), ("act", b.mlp.act), ("c_proj", b.mlp.c_proj)):
            handles.append(
                mod.register_forward_hook(
                    lambda m, a, o, key=key, L=L: modules.__setitem__(f"{key}_{L}", o.detach().clone())
                )
            )
    with torch.no_grad():
        clean = model(x, output_hidden_states=True)
    for h in handles:
        h.remove()
    hs_clean = [h[0, -1].clone() for h in clean.hidden_states]
    lsm_clean = torch.log_softmax(clean.logits[0, -1].double(), -1)
    layer = n_layers - 1
    ref = {
        "ids": ids,
        "target": target,
        "n_hidden_states": len(clean.hidden_states),
        "clean_lsm_target": float(lsm_clean[target]),
        "clean_argmax": int(lsm_clean.argmax()),
        "clean_argmax_token": tok.decode([int(lsm_clean.argmax())]),
        "clean_top10_ids": [int(i) for i in lsm_clean.topk(10).indices],
        "clean_top10_lsm": f(lsm_clean.topk(10).values),
        "clean_exp_sum_minus_1": float(lsm_clean.exp().sum() - 1),
        "modules": {k: f(v[0]) for k, v in modules.items()},
        "module_shapes": {k: list(v.shape) for k, v in modules.items()},
    }

    # --- Part 2
    v = modules[f"c_fc_{layer}"][0, -1].clone()
    n = v.numel()
    k = int(0.1 * n)
    med = torch.median(v)
    vr = v.clone()
    vr[torch.topk(v, k).indices] = med
    edges = np.linspace(-5, 2, 41)
    vn, vrn = v.double().numpy(), vr.double().numpy()
    desc = np.sort(vn)[::-1]
    ref["part2"] = {
        "layer": layer,
        "n": n,
        "k": k,
        "median": float(med),
        "mean": float(v.double().mean()),
        "n_negative": int((vn < 0).sum()),
        "counts_original": f(np.histogram(vn, edges)[0]),
        "counts_replaced": f(np.histogram(vrn, edges)[0]),
        "equal_median_before": int((vn == float(med)).sum()),
        "equal_median_after": int((vrn == float(med)).sum()),
        "max_after": float(vrn.max()),
        "kplus1_largest": float(desc[k]),
        "changed": int((vn != vrn).sum()),
        "median_1234": float(torch.median(torch.tensor([1.0, 2, 3, 4]))),
        "median_513": float(torch.median(torch.tensor([5.0, 1, 3]))),
    }

    # --- Parts 3-5
    pcts = np.linspace(0.01, 0.99, 21)
    ref["pcts"] = f(pcts)
    ref["k_5120"] = [int(p * 5120) for p in pcts]
    ref["k_1280"] = [int(p * 1280) for p in pcts]

    def make_hook(k, by_abs):
        def hook(module, args, output):
            vals = output[0, -1, :]
            med = torch.median(vals)
            score = vals.abs() if by_abs else vals
            if k > 0:
                idx = torch.topk(score, k).indices
                output[0, -1, idx] = med
            return output

        return hook

    def lesioned(site, k, only=None):
        handles = []
        by_abs = site == "c_proj"
        for L, b in enumerate(blocks):
            if only is not None and L != only:
                continue
            mod = {"c_fc": b.mlp.c_fc, "act": b.mlp.act, "c_proj": b.mlp.c_proj}[site]
            handles.append(mod.register_forward_hook(make_hook(k, by_abs)))
        with torch.no_grad():
            out = model(x, output_hidden_states=True)
        for h in handles:
            h.remove()
        return out

    d_mlp = modules["c_fc_0"].shape[-1]
    d = model.config.n_embd
    for key, site, N in (("pre_gelu", "c_fc", d_mlp), ("post_gelu", "act", d_mlp), ("projection", "c_proj", d)):
        lsms, norms, ks = [], [], []
        for p in pcts:
            k = int(p * N)
            out = lesioned(site, k)
            lsms.append(float(torch.log_softmax(out.logits[0, -1].double(), -1)[target]))
            norms.append([float((h[0, -1].double() - c.double()).norm()) for h, c in zip(out.hidden_states, hs_clean)])
            ks.append(k)
        ref[key] = {"k": ks, "lsm_target": lsms, "hs_diff_norms": norms}

    # --- offline checks 2 and 4: c_fc of block n_layers // 2 only, p = 0.5
    single = n_layers // 2
    out = lesioned("c_fc", int(0.5 * d_mlp), only=single)
    ref["single"] = {
        "layer": single,
        "k": int(0.5 * d_mlp),
        "hs_diff_norms": [float((h[0, -1].double() - c.double()).norm()) for h, c in zip(out.hidden_states, hs_clean)],
        "early_logits_max_abs_diff": float((out.logits[0, :-1] - clean.logits[0, :-1]).abs().max()),
        "last_logits_max_abs_diff": float((out.logits[0, -1] - clean.logits[0, -1]).abs().max()),
    }

    path = CRATE / "fixtures" / "reference.json"
    path.write_text(json.dumps(ref, indent=1) + "\n")
    print("wrote", path)


if __name__ == "__main__":
    main()

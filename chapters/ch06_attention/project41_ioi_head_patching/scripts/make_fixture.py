"""Reference values for project 41's tests, from Hugging Face transformers, torch and numpy.

Run from anywhere (writes fixtures/reference.json beside this folder) with a Python that
has torch 2.13, transformers 4.57.6 and numpy (/work/main/.venv has them):
    .venv/bin/python chapters/ch06_attention/project41_ioi_head_patching/scripts/make_fixture.py

It does what the --quick run does, the way the book's notebook does it, on the tiny random
GPT-2 in assets/models/tiny-gpt2 (GPT2LMHeadModel, eval, float32, no gradients) with the
two IOI sentences, using forward PRE-hooks on `attn.c_proj` of a block (its input
[1, T, n_head * d_head], head h = columns h*d_head .. h*d_head + d_head - 1):
- Part 1: last-position logits of both sentences (the two names and the argmax), the
  log-softmax at the two names, IOI = logit[Mike] - logit[Emma];
- Part 2: each head of each layer of EM scrambled with a numpy permutation
  (default_rng(0), stored here, so the test can apply the same ones through common);
  the head's Frobenius norm and the IOI;
- Part 3: the ME run's c_proj inputs (MEattn) for every block, the mean-over-heads norms
  [layer, T] with their 5th/95th percentiles, and the per-token 2nd/98th percentiles of
  the last block's [heads x d_head] values (the --quick stand-in for layer 4);
- Part 4: per layer, the selectivity ratio of |MEattn[L][0, 1] - MEattn[L][0, 9]|;
- Part 5: each head of EM patched with ME's values (all positions): the IOI; and the
  offline checks 1-2 (self-patch leaves the logits unchanged; hidden states before the
  first differing position are unchanged by an ME patch), asserted here.
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
TEXT_ME = "When Mike and Emma went to the cafe, Mike gave a coffee to"
TEXT_EM = "When Mike and Emma went to the cafe, Emma gave a coffee to"
MIKE, EMMA = 4995, 18966


def f(x):
    return [float(v) for v in np.asarray(x, dtype=np.float64).ravel()]


def run(model, ids, layer=None, edit=None, store=None, hidden=False):
    """A forward pass; `edit(x)` rewrites block `layer`'s c_proj input in place;
    `store` (a dict) collects every block's c_proj input."""
    handles = []
    for L, blk in enumerate(model.transformer.h):
        def pre(mod, args, L=L):
            x = args[0]
            if L == layer and edit is not None:
                x = x.clone()
                edit(x)
            if store is not None:
                store[L] = x.detach().clone()
            return (x,)
        handles.append(blk.attn.c_proj.register_forward_pre_hook(pre))
    with torch.no_grad():
        out = model(ids, output_hidden_states=hidden)
    for h in handles:
        h.remove()
    return out


def main():
    tok = GPT2TokenizerFast.from_pretrained(TINY)
    model = GPT2LMHeadModel.from_pretrained(TINY, dtype=torch.float32).eval()
    cfg = model.config
    n_layer, n_head = cfg.n_layer, cfg.n_head
    dh = cfg.n_embd // n_head
    ids_me = tok(TEXT_ME, return_tensors="pt")["input_ids"]
    ids_em = tok(TEXT_EM, return_tensors="pt")["input_ids"]
    T = ids_me.shape[1]

    def ioi(out):
        last = out.logits[0, -1]
        return float(last[MIKE] - last[EMMA])

    # Part 1 and the clean runs.
    me_acts, em_acts = {}, {}
    out_me = run(model, ids_me, store=me_acts, hidden=True)
    out_em = run(model, ids_em, store=em_acts, hidden=True)
    part1 = {}
    for name, out in [("ME", out_me), ("EM", out_em)]:
        last = out.logits[0, -1].double()
        ls = torch.log_softmax(last, 0)
        part1[name] = {
            "ioi": float(last[MIKE] - last[EMMA]),
            "argmax": int(last.argmax()),
            "logit_mike": float(last[MIKE]),
            "logit_emma": float(last[EMMA]),
            "logsoftmax_mike": float(ls[MIKE]),
            "logsoftmax_emma": float(ls[EMMA]),
        }
    ioi_em = part1["EM"]["ioi"]

    # Part 2: numpy permutations of each head's [T, dh] values (row-major flatten).
    rng = np.random.default_rng(0)
    perms, scr_ioi, scr_norm = [], [], []
    for L in range(n_layer):
        pl, il, nl = [], [], []
        for h in range(n_head):
            perm = rng.permutation(T * dh)

            def edit(x, h=h, perm=perm):
                v = x.view(1, T, n_head, dh)[0, :, h, :].reshape(-1)
                x.view(1, T, n_head, dh)[0, :, h, :] = v[torch.from_numpy(perm)].view(T, dh)

            pl.append([int(p) for p in perm])
            il.append(ioi(run(model, ids_em, layer=L, edit=edit)))
            nl.append(float(em_acts[L].view(1, T, n_head, dh)[0, :, h, :].double().norm()))
        perms.append(pl)
        scr_ioi.append(il)
        scr_norm.append(nl)

    # Part 3.
    me = [me_acts[L].view(1, T, n_head, dh).double().numpy() for L in range(n_layer)]
    norms = np.stack([np.linalg.norm(m[0], axis=2).mean(1) for m in me])  # [layers, T]
    norm_lim = np.percentile(norms, [5, 95])
    layer3a = n_layer - 1  # --quick: layer 4 does not exist, the last block stands in
    lim3a = [f(np.percentile(me[layer3a][0, t], [2, 98])) for t in range(T)]

    # Part 4.
    pos = [i for i, t in enumerate(ids_me[0].tolist()) if t == MIKE]
    ratios = []
    for L in range(n_layer):
        diff = me[L][0, pos[0]] - me[L][0, pos[1]]  # [heads, dh]
        s = np.sort(np.abs(diff).mean(1))
        ratios.append(float(s[-2:].mean() / s[:2].mean()))

    # Part 5 and offline checks 1-2.
    patch_ioi = []
    first_diff = int((ids_me != ids_em).nonzero()[0, 1])
    self_max, early_max = 0.0, 0.0
    for L in range(n_layer):
        row = []
        for h in range(n_head):
            cols = slice(h * dh, (h + 1) * dh)

            def edit(x, src=me_acts[L], cols=cols):
                x[:, :, cols] = src[:, :, cols]

            out = run(model, ids_em, layer=L, edit=edit, hidden=True)
            row.append(ioi(out))
            for a, b in zip(out.hidden_states, out_em.hidden_states):
                early_max = max(early_max, float((a[0, :first_diff] - b[0, :first_diff]).abs().max()))

            def own(x, src=em_acts[L], cols=cols):
                x[:, :, cols] = src[:, :, cols]

            o2 = run(model, ids_em, layer=L, edit=own)
            self_max = max(self_max, float((o2.logits - out_em.logits).abs().max()))
        patch_ioi.append(row)
    assert self_max <= 1e-6, self_max
    assert early_max == 0.0, early_max

    ref = {
        "about": "tiny-gpt2 through transformers "
        + transformers.__version__
        + ", torch "
        + torch.__version__
        + ", numpy "
        + np.__version__
        + "; written by scripts/make_fixture.py",
        "n_layer": n_layer,
        "n_head": n_head,
        "d_head": dh,
        "ids_me": ids_me[0].tolist(),
        "ids_em": ids_em[0].tolist(),
        "mike_positions": pos,
        "first_diff": first_diff,
        "part1": part1,
        "ioi_em": ioi_em,
        "perms": perms,
        "scramble_ioi": scr_ioi,
        "scramble_norm": scr_norm,
        "me_attn": [f(m) for m in me],
        "norms": [f(r) for r in norms],
        "norm_lim": f(norm_lim),
        "layer3a": layer3a,
        "lim3a": lim3a,
        "ratios": ratios,
        "patch_ioi": patch_ioi,
        "self_patch_max": self_max,
        "early_max": early_max,
    }
    path = CRATE / "fixtures" / "reference.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ref, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes); IOI_EM {ioi_em:.4f}, self-patch {self_max:.1e}")


if __name__ == "__main__":
    main()

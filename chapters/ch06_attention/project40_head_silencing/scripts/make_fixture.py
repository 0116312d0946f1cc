"""Reference values for project 40's tests, from Hugging Face transformers, torch and numpy.

Run from anywhere (writes fixtures/reference.json beside this folder) with a Python that
has torch 2.13.0, transformers 4.57.6 and numpy (/work/main/.venv has them):
    .venv/bin/python chapters/ch06_attention/project40_head_silencing/scripts/make_fixture.py

It does what the --quick run does, the way the book's notebook does it, on the tiny random
GPT-2 in assets/models/tiny-gpt2 (GPT2LMHeadModel, eval, float32, no gradients; 3 blocks,
so its last block, 2, stands in for layer2silence = 4) and the book's prompt:
- a forward PRE-hook on every block's attn.c_proj: when the block index equals
  layer2silence, view the input [B, T, d] as [B, T, n_heads, d_head] and zero head
  head2silence in place; a forward hook on every block stores output[0] (before ln_f);
- Part 2: cosine similarities of positions 1.. (strict upper triangle), their means and the
  counts in np.histogram with edges linspace(0.6, 1, 32);
- Part 3: silence (2, 1): mean cs_diff per block and np.histogram(bins='fd') counts for the
  blocks >= 2; offline check 2 (blocks before 2 bit-identical; the c_proj output changes by
  -head_out @ W_proj[h*dh:(h+1)*dh]);
- offline check 3 with real weights: V weights and bias of a head set to 0, then silencing
  that head changes nothing;
- Parts 4 and 5: last-position log-softmax of the clean run, of (2, 1), of head 1 in every
  block, and of every (block, head): one full hooked forward pass each (no batching, no
  cached prefix: the reference for the program's batched sweep).
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
PROMPT = (
    "Look for the music on all things, and life will be a symphony of joy. "
    "My music is best understood by children and"
)
HEAD = 1

state = {"layer": 1000, "head": 0}


def f(x):
    return [float(v) for v in np.asarray(x, dtype=np.float64).ravel()]


def install(model, n_head, d_head):
    hs = {}
    attn_out = {}

    def pre(mod, args, L):
        if L == state["layer"]:
            x = args[0]
            b, t, d = x.shape
            x.view(b, t, n_head, d_head)[:, :, state["head"], :] = 0
        return None

    for L, blk in enumerate(model.transformer.h):
        blk.attn.c_proj.register_forward_pre_hook(lambda m, a, L=L: pre(m, a, L))
        blk.attn.c_proj.register_forward_hook(
            lambda m, a, o, L=L: attn_out.__setitem__(L, o.detach().clone())
        )
        blk.register_forward_hook(
            lambda m, a, o, L=L: hs.__setitem__(L, o[0].detach().clone())
        )
    return hs, attn_out


def run(model, ids, hs, attn_out, layer, head):
    state["layer"], state["head"] = layer, head
    with torch.no_grad():
        logits = model(ids).logits.detach().clone()
    n = len(hs)
    return logits, [hs[L].clone() for L in range(n)], {k: v.clone() for k, v in attn_out.items()}


def pool(h):
    """[1, T, d] -> strictly upper triangle of the cosine matrix of positions 1.."""
    x = h[0, 1:, :].double().numpy()
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    c = x @ x.T
    return c[np.triu_indices(c.shape[0], k=1)]


def last(logits, target=None):
    lsm = torch.log_softmax(logits[0, -1].double(), -1)
    top = int(lsm.argmax())
    t = top if target is None else target
    return {"top": top, "max_lsm": float(lsm[top]), "target_lsm": float(lsm[t])}, lsm


def main():
    tok = GPT2TokenizerFast.from_pretrained(TINY)
    model = GPT2LMHeadModel.from_pretrained(TINY, dtype=torch.float32).eval()
    cfg = model.config
    n_layer, n_head, d = cfg.n_layer, cfg.n_head, cfg.n_embd
    dh = d // n_head
    layer = n_layer - 1  # stands in for the book's 4
    ids = tok(PROMPT, return_tensors="pt")["input_ids"]
    T = ids.shape[1]

    # unhooked reference first (check 1)
    with torch.no_grad():
        plain = model(ids, output_hidden_states=True)
    hs, attn_out = install(model, n_head, dh)
    logits_c, hs_c, attn_c = run(model, ids, hs, attn_out, 1000, 0)
    check1_logits = float((logits_c - plain.logits).abs().max())
    # HF's hidden_states[l+1] is block l's output, except the last (ln_f applied)
    check1_hidden = max(
        float((hs_c[L] - plain.hidden_states[L + 1]).abs().max()) for L in range(n_layer - 1)
    )
    assert check1_logits == 0.0 and check1_hidden == 0.0

    cs_clean = [pool(h) for h in hs_c]
    edges = np.linspace(0.6, 1, 32)
    y = [np.histogram(p, bins=edges)[0].tolist() for p in cs_clean]

    # Part 3 and check 2
    logits_s, hs_s, attn_s = run(model, ids, hs, attn_out, layer, HEAD)
    before = max([float((hs_s[L] - hs_c[L]).abs().max()) for L in range(layer)] + [0.0])
    at = float((hs_s[layer] - hs_c[layer]).abs().max())
    # head_out: the c_proj input of the clean run at the head's columns
    cap = {}
    hk = model.transformer.h[layer].attn.c_proj.register_forward_pre_hook(
        lambda m, a: cap.__setitem__("x", a[0].detach().clone())
    )
    run(model, ids, hs, attn_out, 1000, 0)
    hk.remove()
    W = model.transformer.h[layer].attn.c_proj.weight.detach()  # Conv1D [d_in, d_out]
    term = cap["x"][0, :, HEAD * dh:(HEAD + 1) * dh] @ W[HEAD * dh:(HEAD + 1) * dh, :]
    err = float(((attn_s[layer] - attn_c[layer])[0] + term).abs().max())
    assert before == 0.0 and at > 0 and err < 1e-5
    diffs = [c - s for c, s in zip(cs_clean, (pool(h) for h in hs_s))]
    fd = {str(L): np.histogram(diffs[L], bins="fd")[0].tolist() for L in range(layer, n_layer)}

    # Part 4
    clean, lsm_c = last(logits_c)
    target = clean["top"]
    sil, lsm_s = last(logits_s, target)
    head1 = [last(run(model, ids, hs, attn_out, L, HEAD)[0], target)[0] for L in range(n_layer)]
    top10_clean = [int(i) for i in torch.topk(lsm_c, 10).indices]
    top10_sil = [int(i) for i in torch.topk(lsm_s, 10).indices]

    # Part 5: one full hooked run per (block, head)
    every = [
        [last(run(model, ids, hs, attn_out, L, h)[0], target)[0] for L in range(n_layer)]
        for h in range(n_head)
    ]  # [head][layer]

    # check 3: a head with zero V weights and bias, silenced or not
    dead = {}
    for L, h in [(0, 1), (layer, 3)]:
        m2 = GPT2LMHeadModel.from_pretrained(TINY, dtype=torch.float32).eval()
        with torch.no_grad():
            c = m2.transformer.h[L].attn.c_attn
            cols = slice(2 * d + h * dh, 2 * d + (h + 1) * dh)
            c.weight[:, cols] = 0
            c.bias[cols] = 0
        hs2, ao2 = install(m2, n_head, dh)
        a = run(m2, ids, hs2, ao2, 1000, 0)[0]
        b = run(m2, ids, hs2, ao2, L, h)[0]
        dead[f"L{L}H{h}"] = float((a - b).abs().max())
        assert dead[f"L{L}H{h}"] == 0.0

    ref = {
        "prompt": PROMPT,
        "ids": ids[0].tolist(),
        "n_layer": n_layer,
        "n_head": n_head,
        "layer": layer,
        "head": HEAD,
        "check1": {"logits": check1_logits, "hidden": check1_hidden},
        "pool_size": len(cs_clean[0]),
        "cs_clean_mean": [float(p.mean()) for p in cs_clean],
        "hist_counts": y,  # [layer][bin]
        "check2": {"before": before, "at": at, "attn_err": err},
        "cs_diff_mean": [float(x.mean()) for x in diffs],
        "cs_diff_maxabs": [float(np.abs(x).max()) for x in diffs],
        "fd_counts": fd,
        "clean": clean,
        "silenced": sil,
        "top10_clean": top10_clean,
        "top10_silenced": top10_sil,
        "head1": head1,
        "every": every,
        "check3": dead,
        "T": T,
    }
    out = CRATE / "fixtures" / "reference.json"
    out.write_text(json.dumps(ref, indent=1) + "\n")
    print(f"wrote {out}: target {target} ({tok.decode([target])!r}), T = {T}")


if __name__ == "__main__":
    main()

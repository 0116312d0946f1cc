"""Reference values for project 34's tests, from Hugging Face transformers, torch and numpy.

Run from anywhere (writes fixtures/reference.json beside this folder) with a Python that
has torch 2.13.0, transformers 4.57.6 and numpy (/work/main/.venv has them):
    .venv/bin/python chapters/ch06_attention/project34_qkv_activations/scripts/make_fixture.py

It does what the --quick run does, the way the book's notebook does it, on the tiny random
GPT-2 in assets/models/tiny-gpt2 (GPT2LMHeadModel, eval, float32, no gradients) and the
story in src/quick_text.txt:
- tokenise the whole text as one sequence (GPT2TokenizerFast, no special tokens), find every
  position of token " like" (588), drop those < 50, stack the rows tokens[p-50 .. p];
- one forward pass of the batch with a forward hook on attn.c_attn of every block (its
  output [n, 51, 3d]), output_hidden_states and eager attention probabilities;
- assert, as the spec's offline checks 2 and 3 ask: c_attn output = ln_1(block input) @ W + b
  by hand; causal softmax(q k^T / sqrt(d_head)) recomputed from the split q, k (heads =
  contiguous column blocks) = transformers' attention probabilities; changing the last
  token of every row leaves every c_attn output at positions < 50 bit-identical;
- in float64 from the float32 activations: the descriptives (per sequence over the d dims:
  mean, mean |x|, variance ddof=1; averaged over sequences) of Q, K, V at positions -1 and
  -2 in every layer; numpy density histograms (linspace(-7, 7, 234) at the focus layer,
  linspace(-4, 4, 101) at every layer); the mean over [n, heads, d_head] of the unbiased
  std across the 51 tokens.
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
TARGET = " like"
CONTEXT = 50
BOOK_LAYER = 6


def f(x):
    return [float(v) for v in np.asarray(x, dtype=np.float64).ravel()]


def density(values, edges):
    counts, _ = np.histogram(np.asarray(values).ravel(), bins=edges, density=True)
    return f(counts)


def features(x):
    """x [n, d] float64 -> [mean, L1 mean, unbiased variance], each averaged over rows."""
    return [
        float(x.mean(axis=1).mean()),
        float(np.abs(x).mean(axis=1).mean()),
        float(x.var(axis=1, ddof=1).mean()),
    ]


def run(model, batch):
    outs = {}
    hooks = [
        blk.attn.c_attn.register_forward_hook(
            lambda mod, inp, out, L=L: outs.__setitem__(L, out.detach().clone())
        )
        for L, blk in enumerate(model.transformer.h)
    ]
    with torch.no_grad():
        res = model(batch, output_attentions=True, output_hidden_states=True)
    for h in hooks:
        h.remove()
    return [outs[L] for L in range(len(outs))], res


def main():
    tok = GPT2TokenizerFast.from_pretrained(TINY)
    model = GPT2LMHeadModel.from_pretrained(
        TINY, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    cfg = model.config
    d, n_layer, n_head = cfg.n_embd, cfg.n_layer, cfg.n_head
    hd = d // n_head
    layer = min(BOOK_LAYER, n_layer - 1)

    text = (CRATE / "src" / "quick_text.txt").read_text(encoding="utf-8")
    ids = tok(text, add_special_tokens=False)["input_ids"]
    target = tok.encode(TARGET)
    assert len(target) == 1
    target = target[0]
    positions = [i for i, t in enumerate(ids) if t == target]
    kept = [p for p in positions if p >= CONTEXT]
    rows = [ids[p - CONTEXT : p + 1] for p in kept]
    batch = torch.tensor(rows, dtype=torch.long)  # [n, 51]
    assert (batch[:, -1] == target).all()
    tails = [tok.decode(r[-10:]) for r in rows[:5]]

    acts, res = run(model, batch)  # each [n, 51, 3d]
    n, p = batch.shape

    # Offline check 2: c_attn(ln_1(block input)) by hand, splits and heads, attention.
    blk = model.transformer.h[layer]
    resid_pre = res.hidden_states[layer]  # input of block `layer`
    with torch.no_grad():
        ln = torch.nn.functional.layer_norm(
            resid_pre, (d,), blk.ln_1.weight, blk.ln_1.bias, cfg.layer_norm_epsilon
        )
        by_hand = ln @ blk.attn.c_attn.weight + blk.attn.c_attn.bias
    assert torch.allclose(by_hand, acts[layer], atol=1e-5), (by_hand - acts[layer]).abs().max()
    q, k, v = acts[layer].split(d, dim=2)
    qh = q.view(n, p, n_head, hd).transpose(1, 2)  # [n, h, p, hd]
    kh = k.view(n, p, n_head, hd).transpose(1, 2)
    scores = qh @ kh.transpose(-1, -2) / math.sqrt(hd)
    causal = torch.ones(p, p, dtype=torch.bool).tril()
    probs = scores.masked_fill(~causal, float("-inf")).softmax(-1)
    attn_err = float((probs - res.attentions[layer]).abs().max())
    assert attn_err < 1e-5, attn_err

    # Offline check 3: a different last token changes nothing before it.
    changed = batch.clone()
    changed[:, -1] = (target + 1) % cfg.vocab_size
    acts2, _ = run(model, changed)
    for L in range(n_layer):
        assert torch.equal(acts[L][:, :-1], acts2[L][:, :-1]), L
        assert not torch.equal(acts[L][:, -1], acts2[L][:, -1]), L

    a64 = [x.double().numpy() for x in acts]
    desc = []  # [layer][matrix][category][feature]
    dens4 = []  # [layer][matrix][category][bins]
    token_std = []  # [layer][matrix]
    edges4 = np.linspace(-4, 4, 101)
    for L in range(n_layer):
        mats = [a64[L][:, :, i * d : (i + 1) * d] for i in range(3)]
        desc.append([[features(m[:, -1]), features(m[:, -2])] for m in mats])
        dens4.append([[density(m[:, -1], edges4), density(m[:, -2], edges4)] for m in mats])
        token_std.append(
            [float(m.reshape(n, p, n_head, hd).std(axis=1, ddof=1).mean()) for m in mats]
        )
    edges2 = np.linspace(-7, 7, 234)
    mats = [a64[layer][:, :, i * d : (i + 1) * d] for i in range(3)]
    dens2 = [[density(m[:, -1], edges2), density(m[:, -2], edges2)] for m in mats]

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
        "n_tokens": len(ids),
        "target_id": target,
        "positions": positions,
        "kept": kept,
        "rows": rows,
        "tails": tails,
        "c_attn_final": f(a64[layer][:, -1]),  # [n, 3d] at the focus layer
        "c_attn_seq0": f(np.stack([a[0] for a in a64])),  # [layers, p, 3d]
        "resid_pre_seq0": f(resid_pre[0]),  # [p, d]
        "attn_seq0": f(res.attentions[layer][0]),  # [h, p, p]
        "attn_recompute_max_err": attn_err,
        "descriptives": desc,
        "density_part2": dens2,
        "density_part4": dens4,
        "token_std": token_std,
    }
    path = CRATE / "fixtures" / "reference.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ref, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes); attention recomputed to {attn_err:.2e}")


if __name__ == "__main__":
    main()

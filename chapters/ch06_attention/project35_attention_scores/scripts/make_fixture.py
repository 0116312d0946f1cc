"""Reference values for project 35's tests, from Hugging Face transformers, torch and numpy.

Run from anywhere (writes fixtures/reference.json beside this folder) with a Python that
has torch 2.13.0, transformers 4.57.6 and numpy (/work/main/.venv has them):
    .venv/bin/python chapters/ch06_attention/project35_attention_scores/scripts/make_fixture.py

On the tiny random GPT-2 in assets/models/tiny-gpt2 (GPT2LMHeadModel, eager attention,
eval, float32, no gradients) and the text in src/quick_text.txt, one forward pass records:
- every block's attn.c_attn output (a forward hook), split into Q, K [T, d];
- transformers' own pre-softmax attention weights (the input of the softmax inside
  eager_attention_forward: q k^T / sqrt(d_head); above the diagonal torch.finfo(float32).min
  plus the same value from the causal attention mask, which overflows to -inf) and its
  attention probabilities (output_attentions);
then, in float64 from the float32 activations, everything the --quick run plots: the
Part 4 pools and their Freedman-Diaconis densities, the Part 5/6/8 densities, Part 6's
means and unbiased stdevs, Part 7's pools, Part 9's two averages. It also tokenises the
book's Purple excerpt (offline check 6). The numbers come from random weights: they check
the code, they are not findings.
"""

import json
import math
import pathlib

import numpy as np
import torch
import transformers
from transformers import GPT2LMHeadModel, GPT2TokenizerFast
from transformers.models.gpt2 import modeling_gpt2

CRATE = pathlib.Path(__file__).resolve().parents[1]
ROOT = CRATE.parents[2]
TINY = ROOT / "assets" / "models" / "tiny-gpt2"
BOOK_LAYER = 6
PURPLE = (
    "Purple is a color similar in appearance to violet light. In the RYB color model "
    "historically used in the arts, purple is a secondary color created by combining red "
    "and blue pigments. In the CMYK color model used in modern printing, purple is made by "
    "combining magenta pigment with either cyan pigment, black pigment, or both. In the RGB "
    "color model used in computer and television screens, purple is created by mixing red "
    "and blue light in order to create colors that appear similar to violet light. "
    "According to color theory, purple is considered a cool color."
)


def f(x):
    return [float(v) for v in np.asarray(x, dtype=np.float64).ravel()]


def density(values, bins, rng=None):
    counts, edges = np.histogram(np.asarray(values).ravel(), bins=bins, range=rng, density=True)
    return f(counts), f(edges)


def causal_softmax(s):
    """Row-wise softmax of s [.., T, T] with -inf strictly above the diagonal."""
    t = s.shape[-1]
    mask = np.triu(np.ones((t, t), dtype=bool), k=1)
    s = np.where(mask, -np.inf, s)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def main():
    tok = GPT2TokenizerFast.from_pretrained(TINY)
    model = GPT2LMHeadModel.from_pretrained(
        TINY, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    cfg = model.config
    d, n_layer, n_head = cfg.n_embd, cfg.n_layer, cfg.n_head
    hd = d // n_head
    layer = min(BOOK_LAYER, n_layer - 1)

    purple_ids = tok(PURPLE, add_special_tokens=False)["input_ids"]
    text = (CRATE / "src" / "quick_text.txt").read_text(encoding="utf-8")
    ids = tok(text, add_special_tokens=False)["input_ids"]
    batch = torch.tensor([ids], dtype=torch.long)  # [1, T]
    T = len(ids)

    c_attn = {}
    hooks = [
        blk.attn.c_attn.register_forward_hook(
            lambda mod, inp, out, L=L: c_attn.__setitem__(L, out.detach().clone())
        )
        for L, blk in enumerate(model.transformer.h)
    ]
    # The softmax input inside eager_attention_forward: transformers' pre-softmax weights.
    pre_softmax = []
    real_softmax = modeling_gpt2.nn.functional.softmax

    def recording_softmax(x, *a, **k):
        pre_softmax.append(x.detach().clone())
        return real_softmax(x, *a, **k)

    modeling_gpt2.nn.functional.softmax = recording_softmax
    try:
        with torch.no_grad():
            res = model(batch, output_attentions=True)
    finally:
        modeling_gpt2.nn.functional.softmax = real_softmax
        for h in hooks:
            h.remove()
    assert len(pre_softmax) == n_layer, len(pre_softmax)

    qs, ks, within, across, dens5, means6, stds6, dens6, dens6c, edges6c = ([] for _ in range(10))
    pools7, dens8, hand_pattern = [], [], []
    for L in range(n_layer):
        out = c_attn[L][0].double().numpy()  # [T, 3d]
        q, k = out[:, :d], out[:, d : 2 * d]
        qs.append(q)
        ks.append(k)
        qh = q.reshape(T, n_head, hd).transpose(1, 0, 2)  # [h, T, hd]
        kh = k.reshape(T, n_head, hd).transpose(1, 0, 2)
        # Parts 4/5: final query of head qi with keys 1..T-2 of head ki.
        w, a = [], []
        for qi in range(n_head):
            for ki in range(n_head):
                dp = qh[qi, T - 1] @ kh[ki, 1 : T - 1].T / math.sqrt(hd)
                (w if qi == ki else a).extend(dp.tolist())
        within.append(w)
        across.append(a)
        e5 = np.linspace(-20, 20, 101)
        dens5.append([density(w, e5)[0], density(a, e5)[0]])
        # Part 6: unmasked scores.
        s = qh @ kh.transpose(0, 2, 1) / math.sqrt(hd)  # [h, T, T]
        means6.append(float(s.mean()))
        stds6.append(float(s.std(ddof=1)))
        dens6.append(density(s, np.linspace(-15, 15, 201))[0])
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        sm = e / e.sum(axis=-1, keepdims=True)
        c, ed = density(sm, 201)
        dens6c.append(c)
        edges6c.append(ed)
        # Parts 7/8: causal softmax pools.
        A = causal_softmax(s)
        hand_pattern.append(A)
        p = [
            A[:, T - 1, : T - 1].ravel().tolist(),
            np.stack([np.diag(A[h, 1:, 1:]) for h in range(n_head)]).ravel().tolist(),
            A[:, 0, 0].tolist(),
        ]
        pools7.append(p)
        e8 = np.linspace(0, 1, 91)
        dens8.append([density(v, e8)[0] for v in p])

    # Offline check 1: the hand-built causal softmax = transformers' probabilities.
    attn = np.stack([res.attentions[L][0].double().numpy() for L in range(n_layer)])
    attn_err = float(np.abs(np.stack(hand_pattern) - attn).max())
    assert attn_err < 1e-5, attn_err

    # Part 4 at the focus layer: Freedman-Diaconis densities.
    fd = [density(within[layer], "fd"), density(across[layer], "fd")]
    # Part 9 at the focus layer.
    q, k = qs[layer], ks[layer]
    qkt_all = q @ k.T / (math.sqrt(hd) * n_head)
    qh = q.reshape(T, n_head, hd).transpose(1, 0, 2)
    kh = k.reshape(T, n_head, hd).transpose(1, 0, 2)
    qkt_each = qh @ kh.transpose(0, 2, 1) / math.sqrt(hd)
    mean_each = qkt_each.mean(axis=0)

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
        "purple_ids": purple_ids,
        "ids": ids,
        "q": [f(x) for x in qs],  # [layer][T * d]
        "k": [f(x) for x in ks],
        # [layer][h * T * T]; JSON has no -inf: null marks the entries transformers masked
        "pre_softmax": [[v if math.isfinite(v) else None for v in f(x[0])] for x in pre_softmax],
        # every non-finite or float32-lowest entry is -inf
        "masked_are_neg_inf": all(
            bool((x[~torch.isfinite(x) | (x <= torch.finfo(torch.float32).min)] == -math.inf).all())
            for x in pre_softmax
        ),
        "attentions": [f(x) for x in attn],  # [layer][h * T * T]
        "attn_recompute_max_err": attn_err,
        "within": within,
        "across": across,
        "fd_density": [c for c, _ in fd],
        "fd_edges": [e for _, e in fd],
        "density5": dens5,
        "mean6": means6,
        "std6": stds6,
        "density6": dens6,
        "density6c": dens6c,
        "edges6c": edges6c,
        "pools7": pools7,
        "density8": dens8,
        "qkt_all": f(qkt_all),
        "mean_each": f(mean_each),
    }
    path = CRATE / "fixtures" / "reference.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ref, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes); T = {T}; attention recomputed to {attn_err:.2e}")


if __name__ == "__main__":
    main()

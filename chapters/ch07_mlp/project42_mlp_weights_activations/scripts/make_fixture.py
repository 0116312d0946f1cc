"""Reference values for project 42's tests, from Hugging Face transformers, torch and numpy.

Run from the repository root (writes fixtures/reference.json beside this folder):
    .venv/bin/python chapters/ch07_mlp/project42_mlp_weights_activations/scripts/make_fixture.py

It loads the tiny random GPT-2 in assets/models/tiny-gpt2 as GPT2LMHeadModel (what the
--quick run uses), tokenizes the book's sentence with transformers' GPT2TokenizerFast
(no BOS, no special tokens), and records with forward hooks on the HF modules of every
block (not with the Rust code's hook points):
  - the input of `h[l].mlp` (= ln_2's output), the outputs of `mlp.c_fc`, `mlp.act`,
    `mlp.c_proj` and of the whole `mlp` module (float32, as float64 lists);
  - the MLP weights as stored (Conv1D [in, out]) only through their numpy density
    histograms over linspace(-0.8, 0.8, 201) for every layer, and their numels;
  - numpy density histograms (linspace(-3, 3, 201)) of each stage of the focus block
    (all tokens, and per token) and of each stage of every block over tokens 1..;
  - Pearson r (numpy corrcoef) of the focus block's input vs projection over tokens 1..;
  - torch's exact and tanh GELU on the 51-point grid of Part 0a.
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
SENTENCE = "Would you prefer a strawberry-flavored peanut or a peanut-flavored strawberry?"
# The book's blocks (5 for Parts 1-3, 10 for Part 5), capped at the last block as
# src/main.rs does.
BOOK_LAYER = 5
BOOK_TSNE_LAYER = 10


def f(x):
    return [float(v) for v in np.asarray(x, dtype=np.float64).ravel()]


def density(values, edges):
    counts, _ = np.histogram(np.asarray(values, dtype=np.float64).ravel(), bins=edges, density=True)
    return f(counts)


def main():
    model = GPT2LMHeadModel.from_pretrained(TINY, torch_dtype=torch.float32).eval()
    tok = GPT2TokenizerFast.from_pretrained(TINY)
    ids = tok(SENTENCE, add_special_tokens=False)["input_ids"]
    cfg = model.config
    n = cfg.n_layer
    layer = min(BOOK_LAYER, n - 1)
    tsne_layer = min(BOOK_TSNE_LAYER, n - 1)

    rec = {}

    def keep(name, what):
        def hook(mod, inp, out):
            rec[name] = (inp[0] if what == "in" else out).detach().clone()

        return hook

    handles = []
    for l, blk in enumerate(model.transformer.h):
        handles.append(blk.mlp.register_forward_hook(keep(f"{l}.in", "in")))
        handles.append(blk.mlp.c_fc.register_forward_hook(keep(f"{l}.c_fc", "out")))
        handles.append(blk.mlp.act.register_forward_hook(keep(f"{l}.act", "out")))
        handles.append(blk.mlp.c_proj.register_forward_hook(keep(f"{l}.c_proj", "out")))
        handles.append(blk.mlp.register_forward_hook(keep(f"{l}.out", "out")))
    with torch.no_grad():
        model(torch.tensor([ids]))
    for h in handles:
        h.remove()

    w_edges = np.linspace(-0.8, 0.8, 201)
    a_edges = np.linspace(-3, 3, 201)
    blocks = []
    for l, blk in enumerate(model.transformer.h):
        st = [rec[f"{l}.{k}"][0].numpy() for k in ("in", "c_fc", "act", "c_proj")]
        assert np.array_equal(st[3], rec[f"{l}.out"][0].numpy())  # dropout is identity
        blocks.append(
            {
                "w1_density": density(blk.mlp.c_fc.weight.detach().numpy(), w_edges),
                "w2_density": density(blk.mlp.c_proj.weight.detach().numpy(), w_edges),
                "w1_shape": list(blk.mlp.c_fc.weight.shape),
                "w2_shape": list(blk.mlp.c_proj.weight.shape),
                "laminar": [density(s[1:], a_edges) for s in st],
                "mlp_out": f(rec[f"{l}.out"][0]),
            }
        )
    st = [rec[f"{layer}.{k}"][0].numpy() for k in ("in", "c_fc", "act", "c_proj")]
    blk = model.transformer.h[layer].mlp
    w1 = blk.c_fc.weight.detach().double().numpy()
    w2 = blk.c_proj.weight.detach().double().numpy()
    t_in = rec[f"{tsne_layer}.in"][0].numpy()[1:].ravel().astype(np.float64)
    t_out = rec[f"{tsne_layer}.out"][0].numpy()[1:].ravel().astype(np.float64)
    x = torch.linspace(-4, 4, 51, dtype=torch.float64)

    ref = {
        "about": "tiny-gpt2 through transformers "
        + transformers.__version__
        + ", torch "
        + torch.__version__
        + ", numpy "
        + np.__version__
        + "; written by scripts/make_fixture.py",
        "config": {"n_embd": cfg.n_embd, "n_layer": n, "d_mlp": 4 * cfg.n_embd},
        "layer": layer,
        "tsne_layer": tsne_layer,
        "ids": ids,
        "tokens": [tok.decode([i]) for i in ids],
        "numels": [
            blk.c_fc.weight.numel(),
            blk.c_fc.bias.numel(),
            blk.c_proj.weight.numel(),
            blk.c_proj.bias.numel(),
        ],
        "stage_shapes": [list(rec[f"{layer}.{k}"].shape) for k in ("in", "c_fc", "act", "c_proj")],
        "stage_density": [density(s, a_edges) for s in st],
        "stage_min": [float(s.min()) for s in st],
        "stage_max": [float(s.max()) for s in st],
        "token_density": [[density(s[i], a_edges) for i in range(len(ids))] for s in st],
        "w1w2_squared": f((w1 @ w2) ** 2),
        "blocks": blocks,
        "tsne_input": f(t_in),
        "tsne_projection": f(t_out),
        "pearson_r": float(np.corrcoef(t_in, t_out)[0, 1]),
        "gelu_x": f(x),
        "gelu_exact": f(torch.nn.functional.gelu(x)),
        "gelu_tanh": f(torch.nn.functional.gelu(x, approximate="tanh")),
    }
    path = CRATE / "fixtures" / "reference.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ref, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

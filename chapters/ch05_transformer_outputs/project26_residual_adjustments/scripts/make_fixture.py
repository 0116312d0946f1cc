"""Reference values for project 26's tests, from Hugging Face transformers + PyTorch hooks.

Run from the workspace root:
    .venv/bin/python chapters/ch05_transformer_outputs/project26_residual_adjustments/scripts/make_fixture.py

It loads the tiny random GPT-2 in assets/models/tiny-gpt2 (3 blocks, d_model 16, GPT-2's
real tokenizer) with GPT2LMHeadModel in eval mode and, exactly as the book's notebook
does, attaches PyTorch forward hooks to every block (`transformer.h[l]`, output[0]),
every `attn.c_proj` and every `mlp.c_proj`, runs the spec's main sentence once with
output_hidden_states=True, and writes tests/fixtures/reference.json:
- ids: the tokenizer's ids of the main sentence (no special tokens);
- hidden_states[k] (k = 0..n_layer) as transformers reports them, [17, 16] each;
- block_out[l], attn_c_proj[l], mlp_c_proj[l]: the forward-hook captures, [17, 16];
- ln_f_of_last_block: model.transformer.ln_f applied to block_out[n_layer - 1];
- last_logits_argmax / last_logits_first_256: the logits at the last position (argmax,
  and the first 256 of them to keep the file small).
The numbers come from random weights: they check the code, they are not findings.
"""

import json
import pathlib

import torch
from transformers import GPT2LMHeadModel, GPT2TokenizerFast

CRATE = pathlib.Path(__file__).resolve().parents[1]
ROOT = CRATE.parents[2]
TINY = ROOT / "assets" / "models" / "tiny-gpt2"
SENTENCE = "Plants make fantastic pets because they don't leave a mess after you feed them."


def main():
    tok = GPT2TokenizerFast.from_pretrained(TINY)
    model = GPT2LMHeadModel.from_pretrained(TINY, dtype=torch.float32).eval()
    n = model.config.n_layer
    caps = {"block_out": {}, "attn_c_proj": {}, "mlp_c_proj": {}}

    def keep(kind, l):
        def hook(module, inputs, output):
            out = output[0] if isinstance(output, tuple) else output
            caps[kind][l] = out.detach().clone()

        return hook

    handles = []
    for l, blk in enumerate(model.transformer.h):
        handles.append(blk.register_forward_hook(keep("block_out", l)))
        handles.append(blk.attn.c_proj.register_forward_hook(keep("attn_c_proj", l)))
        handles.append(blk.mlp.c_proj.register_forward_hook(keep("mlp_c_proj", l)))

    ids = tok(SENTENCE, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_hidden_states=True)
        ln_f_last = model.transformer.ln_f(caps["block_out"][n - 1])
    for h in handles:
        h.remove()

    as_list = lambda t: t[0].double().tolist()  # noqa: E731
    ref = {
        "ids": ids,
        "n_layer": n,
        "d_model": model.config.n_embd,
        "hidden_states": [as_list(h) for h in out.hidden_states],
        "block_out": [as_list(caps["block_out"][l]) for l in range(n)],
        "attn_c_proj": [as_list(caps["attn_c_proj"][l]) for l in range(n)],
        "mlp_c_proj": [as_list(caps["mlp_c_proj"][l]) for l in range(n)],
        "ln_f_of_last_block": as_list(ln_f_last),
        "last_logits_argmax": int(out.logits[0, -1].argmax()),
        "last_logits_first_256": out.logits[0, -1, :256].double().tolist(),
    }
    path = CRATE / "tests" / "fixtures" / "reference.json"
    path.write_text(json.dumps(ref))
    print(f"wrote {path} ({path.stat().st_size} bytes), ids {ids}")


if __name__ == "__main__":
    main()

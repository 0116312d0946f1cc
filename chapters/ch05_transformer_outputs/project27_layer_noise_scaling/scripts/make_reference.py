"""Reference outputs of project 27's interventions on the tiny GPT-2, from transformers.

Run from the workspace root:
    .venv/bin/python chapters/ch05_transformer_outputs/project27_layer_noise_scaling/scripts/make_reference.py

For the clean prompt and for each block L of assets/models/tiny-gpt2, a forward hook on
`model.transformer.h[L]` (as in the book) either multiplies the block's output by 0.5
or adds `z * output.std() / 2` (torch's std: unbiased, over all elements), with z a
standard-normal draw stored in the fixture so that the Rust test can apply the same
noise through the project's hook. Stored per run: every hidden state
(`output_hidden_states`: embeddings, block outputs, ln_f of the last), the final
position's logits at every 100th token id (plus the target), the log-softmax of the
target and of the argmax, and the argmax id. Written to
tests/fixtures/tiny_gpt2_reference.safetensors (small).
"""

import pathlib

import torch
import transformers
from safetensors.torch import save_file
from transformers import GPT2LMHeadModel, GPT2TokenizerFast

ROOT = pathlib.Path(__file__).resolve().parents[4]
CRATE = pathlib.Path(__file__).resolve().parents[1]
MODEL = ROOT / "assets" / "models" / "tiny-gpt2"
PROMPT = "Pay no attention to that man behind the"
TARGET = " curtain"
SPEC_IDS = [19197, 645, 3241, 284, 326, 582, 2157, 262]
SPEC_TARGET = [29461]

tok = GPT2TokenizerFast.from_pretrained(MODEL)
ids = tok(PROMPT)["input_ids"]
assert ids == SPEC_IDS, ids
assert tok(TARGET)["input_ids"] == SPEC_TARGET
target = SPEC_TARGET[0]

model = GPT2LMHeadModel.from_pretrained(MODEL, dtype=torch.float32).eval()
n_layers = model.config.n_layer
x = torch.tensor([ids])
vocab = model.config.vocab_size
pick = torch.tensor(sorted(set(range(0, vocab, 100)) | {target}))

gen = torch.Generator().manual_seed(1234)
draws = torch.randn((n_layers, 1, len(ids), model.config.n_embd), generator=gen)


def run(layer=None, fn=None):
    handle = None
    if layer is not None:

        def hook(module, inputs, output):
            return (fn(output[0]),) + tuple(output[1:])

        handle = model.transformer.h[layer].register_forward_hook(hook)
    try:
        with torch.no_grad():
            out = model(x, output_hidden_states=True)
    finally:
        if handle is not None:
            handle.remove()
    logits = out.logits[0, -1].double()
    lsm = logits.log_softmax(-1)
    best = int(lsm.argmax())
    return {
        "hidden": torch.stack(out.hidden_states).float(),  # [n+1, 1, pos, d]
        "logits": logits[pick].float(),
        "lsm_target": lsm[target].reshape(1),
        "lsm_argmax": lsm[best].reshape(1),
        "argmax": torch.tensor([best], dtype=torch.int64),
    }


runs = {"clean": run()}
for L in range(n_layers):
    runs[f"scale{L}"] = run(L, lambda o: o * 0.5)
    z = draws[L]
    runs[f"noise{L}"] = run(L, lambda o, z=z: o + z * o.std() / 2)

tensors = {"pick": pick, "noise_draws": draws.contiguous()}
for name, r in runs.items():
    for k, v in r.items():
        tensors[f"{name}.{k}"] = v.contiguous()
out = CRATE / "tests" / "fixtures" / "tiny_gpt2_reference.safetensors"
save_file(tensors, str(out))
print(f"wrote {out} ({out.stat().st_size} bytes); torch {torch.__version__}, transformers {transformers.__version__}")

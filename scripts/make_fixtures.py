"""Build the tiny test models and the reference outputs the Rust tests compare against.

Run through scripts/make_fixtures.sh, which installs the pinned Python packages into
.venv first. Writes:

  assets/models/tiny-gpt2/        config.json, model.safetensors, tokenizer.json
      A randomly initialised GPT-2 (3 layers, d_model 16, 4 heads, context 64) with
      GPT-2's real 50257-token byte-level BPE tokenizer, so text tokenizes exactly as
      with `gpt2`. The tokenizer is built from GPT-2's original encoder.json/vocab.bpe,
      which the Rust crate tiktoken-rs ships (found through `cargo metadata`).
  assets/fixtures/tiny-gpt2.safetensors
      transformers' outputs for a right-padded batch of three sentences: input ids,
      attention mask, every block's residual-stream output, every attention pattern,
      the final-layer-norm output, and the logits at each sentence's first and last
      real token.

Everything is deterministic (fixed seed), so re-running gives the same files.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
import transformers
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"

# Sentences written for this project (short prompts from the specs are fine as they are).
SENTENCES = [
    "The way you do anything is the way you do everything.",
    "It was a dark and stormy",
    "A plethora of platypuses.",
]


def tiktoken_rs_assets() -> Path:
    meta = json.loads(
        subprocess.check_output(
            ["cargo", "metadata", "--format-version", "1"], cwd=ROOT, text=True
        )
    )
    for pkg in meta["packages"]:
        if pkg["name"] == "tiktoken-rs":
            return Path(pkg["manifest_path"]).parent / "assets"
    sys.exit("tiktoken-rs not found in cargo metadata; run `cargo fetch` first")


def gpt2_tokenizer() -> GPT2TokenizerFast:
    src = tiktoken_rs_assets()
    tok = GPT2TokenizerFast(
        vocab_file=str(src / "encoder.json"), merges_file=str(src / "vocab.bpe")
    )
    assert len(tok) == 50257, len(tok)
    return tok


def perturb_(model: torch.nn.Module, scale: float) -> None:
    """Random init leaves biases at 0 and layer-norm gains at 1; perturb every
    parameter so that a loader that skipped or swapped one would be caught."""
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for _, p in sorted(model.named_parameters()):
            p.add_(scale * torch.randn(p.shape, generator=g))


def make_tiny_gpt2(tok: GPT2TokenizerFast) -> None:
    out = ASSETS / "models" / "tiny-gpt2"
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    cfg = GPT2Config(
        vocab_size=50257,
        n_positions=64,
        n_embd=16,
        n_layer=3,
        n_head=4,
        activation_function="gelu_new",
        initializer_range=0.2,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    model = GPT2LMHeadModel(cfg).eval()
    perturb_(model, 0.1)
    model.save_pretrained(out, safe_serialization=True)
    tok.backend_tokenizer.save(str(out / "tokenizer.json"), pretty=False)
    for extra in ("generation_config.json",):
        (out / extra).unlink(missing_ok=True)

    # Reference run: right-padded batch, eager attention so patterns are returned.
    model = GPT2LMHeadModel.from_pretrained(out, attn_implementation="eager").eval()
    enc = [tok(s)["input_ids"] for s in SENTENCES]
    width = max(len(e) for e in enc)
    ids = torch.full((len(enc), width), tok.eos_token_id, dtype=torch.long)
    mask = torch.zeros((len(enc), width), dtype=torch.long)
    for i, e in enumerate(enc):
        ids[i, : len(e)] = torch.tensor(e)
        mask[i, : len(e)] = 1
    lengths = mask.sum(1)

    resid_post = {}
    hooks = [
        block.register_forward_hook(
            lambda m, inp, out, l=l: resid_post.__setitem__(l, out[0].detach().clone())
        )
        for l, block in enumerate(model.transformer.h)
    ]
    with torch.no_grad():
        res = model(
            input_ids=ids,
            attention_mask=mask,
            output_hidden_states=True,
            output_attentions=True,
        )
    for h in hooks:
        h.remove()

    rows = torch.arange(len(enc))
    tensors = {
        "input_ids": ids,
        "attention_mask": mask,
        "hook_embed_plus_pos": res.hidden_states[0].contiguous(),
        "ln_final.hook_normalized": res.hidden_states[-1].contiguous(),
        "logits_first": res.logits[rows, 0].contiguous(),
        "logits_last": res.logits[rows, lengths - 1].contiguous(),
    }
    for l in range(cfg.n_layer):
        tensors[f"blocks.{l}.hook_resid_post"] = resid_post[l].contiguous()
        tensors[f"blocks.{l}.attn.hook_pattern"] = res.attentions[l].contiguous()
    (ASSETS / "fixtures").mkdir(parents=True, exist_ok=True)
    save_file(
        tensors,
        str(ASSETS / "fixtures" / "tiny-gpt2.safetensors"),
        metadata={
            "sentences": json.dumps(SENTENCES),
            "transformers": transformers.__version__,
            "torch": torch.__version__,
        },
    )
    print(f"tiny-gpt2: {sum(p.numel() for p in model.parameters())} parameters -> {out}")


def main() -> None:
    tok = gpt2_tokenizer()
    make_tiny_gpt2(tok)


if __name__ == "__main__":
    main()

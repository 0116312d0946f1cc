"""transformers' own `labels=` loss on the tiny models, for the Rust loss to be checked against.

Run from the repository root:

    .venv/bin/python chapters/ch04_output_logits/project19_llm_loss_function/scripts/make_loss_fixture.py

(torch 2.13 + transformers 4.57.6, the versions the tiny models were written with). Writes

  assets/fixtures/loss/tiny_models.json
      For tiny-gpt2, tiny-gpt-neo and tiny-gpt-neox (assets/models): three sequences of
      seeded random token ids of lengths 13, 8 and 2, and
        batch_loss   `model(ids, attention_mask, labels).loss` on the right-padded batch,
                     labels = ids with -100 at the padded slots (what common's
                     HookedModel::loss must equal, common/tests/loss_reference.rs);
        seq_loss     each sequence alone, `labels = ids`;
        token_losses each sequence alone, `F.cross_entropy(logits[:-1], ids[1:],
                     reduction="none")` (the per-token terms of its seq_loss).
  chapters/ch04_output_logits/project19_llm_loss_function/fixtures/tiny_gpt2_text.json
      The project's passage (src/text.rs, read from there) tokenized by tiny-gpt2's
      tokenizer (GPT-2's real BPE), and tiny-gpt2's labelled loss and per-token losses
      on it: what the project's --quick run must print (tests/quick.rs).

Every number is written with Python's repr (17 significant digits), so it parses back
to the same float64. Deterministic: re-running gives the same files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

CRATE = Path(__file__).resolve().parent.parent
ROOT = CRATE.parent.parent.parent
MODELS = ROOT / "assets" / "models"
LENGTHS = [13, 8, 2]


def load(name: str):
    model = AutoModelForCausalLM.from_pretrained(
        MODELS / name, attn_implementation="eager", dtype=torch.float32
    )
    return model.eval()


def pad_id(model) -> int:
    """An id inside the vocabulary for the padded slots (never attended to, never a
    target: its value cannot change the loss)."""
    cfg = model.config
    for cand in (cfg.pad_token_id, cfg.eos_token_id, 0):
        if cand is not None and 0 <= cand < cfg.vocab_size:
            return int(cand)
    return 0


@torch.no_grad()
def labelled_loss(model, ids: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    labels = ids.clone()
    if mask is not None:
        labels[mask == 0] = -100
    out = model(input_ids=ids, attention_mask=mask, labels=labels)
    return float(out.loss)


@torch.no_grad()
def per_token(model, seq: list[int]) -> list[float]:
    ids = torch.tensor([seq])
    logits = model(input_ids=ids).logits[0].float()
    return F.cross_entropy(logits[:-1], ids[0, 1:], reduction="none").tolist()


def tiny_models() -> dict:
    out = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "lengths": LENGTHS,
        "models": {},
    }
    g = torch.Generator().manual_seed(19)
    for name in ["tiny-gpt2", "tiny-gpt-neo", "tiny-gpt-neox"]:
        model = load(name)
        v = model.config.vocab_size
        seqs = [torch.randint(0, v, (n,), generator=g).tolist() for n in LENGTHS]
        if name == "tiny-gpt2":
            seqs[0][5] = v - 1  # <|endoftext|> (50256) inside a sequence, as a target
        width = max(LENGTHS)
        pad = pad_id(model)
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
        out["models"][name] = {
            "vocab_size": v,
            "pad_id": pad,
            "ids": seqs,
            "batch_loss": labelled_loss(model, ids, mask),
            "seq_loss": [labelled_loss(model, torch.tensor([s])) for s in seqs],
            "token_losses": [per_token(model, s) for s in seqs],
        }
    return out


def project_text() -> str:
    """The passage as src/text.rs spells it (one Rust string constant)."""
    src = (CRATE / "src" / "text.rs").read_text()
    m = re.search(r'pub const TEXT: &str =\s*"([^"]*)";', src)
    assert m, "TEXT not found in src/text.rs"
    return m.group(1)


def text_fixture() -> dict:
    text = project_text()
    tok = Tokenizer.from_file(str(MODELS / "tiny-gpt2" / "tokenizer.json"))
    ids = tok.encode(text, add_special_tokens=False).ids
    model = load("tiny-gpt2")
    t = torch.tensor([ids])
    return {
        "text": text,
        "ids": ids,
        "n_tokens": len(ids),
        "n_unique": len(set(ids)),
        "labelled_loss": labelled_loss(model, t),
        "token_losses": per_token(model, ids),
        "targets": [tok.decode([i]) for i in ids[1:]],
    }


def write(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1) + "\n")
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    torch.manual_seed(0)
    write(ROOT / "assets" / "fixtures" / "loss" / "tiny_models.json", tiny_models())
    write(CRATE / "fixtures" / "tiny_gpt2_text.json", text_fixture())

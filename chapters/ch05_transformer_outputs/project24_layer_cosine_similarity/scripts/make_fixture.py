"""Reference values for project 24's tests, from Hugging Face transformers.

Run from the workspace root:
    .venv/bin/python chapters/ch05_transformer_outputs/project24_layer_cosine_similarity/scripts/make_fixture.py

It loads the tiny random GPT-2 in assets/models/tiny-gpt2 (GPT-2's real tokenizer) with
GPT2LMHeadModel / GPT2TokenizerFast, as the book does with gpt2-medium, and writes
tests/fixtures/reference.json:
- the sentence's token ids and its decode;
- all hidden states of the sentence (`output_hidden_states=True`: embeddings, each
  block's output, the last one after ln_f), [n_hidden][tokens][d];
- the quick passage (src/quick_text.txt) tokenised: its length and number of unique ids;
- Part 5 on the quick passage: two sequences of n_positions tokens at the quick starts,
  and per hidden state the mean, the mean of absolute values and the unbiased std over
  the d dimensions of every vector at positions 1.. (sequence 0 first), in float64.
The numbers come from random weights: they check the code, they are not findings.
"""

import json
import pathlib

import torch
import transformers
from transformers import GPT2LMHeadModel, GPT2TokenizerFast

CRATE = pathlib.Path(__file__).resolve().parents[1]
ROOT = CRATE.parents[2]
TINY = ROOT / "assets" / "models" / "tiny-gpt2"
SENTENCE = "A wise man once said: Penguins are cute."
# src/quick_text.rs: STARTS
QUICK_STARTS = [100, 200]


def rounded(x, digits=9):
    if isinstance(x, list):
        return [rounded(v, digits) for v in x]
    return float(f"{x:.{digits}g}")


def main():
    tok = GPT2TokenizerFast.from_pretrained(TINY)
    model = GPT2LMHeadModel.from_pretrained(TINY, torch_dtype=torch.float32).eval()
    n_ctx = model.config.n_positions

    enc = tok(SENTENCE)
    ids = enc["input_ids"]
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_hidden_states=True)
    hidden = [h[0].double().tolist() for h in out.hidden_states]

    text = (CRATE / "src" / "quick_text.txt").read_text(encoding="utf-8")
    book = tok(text)["input_ids"]
    seqs = [book[s : s + n_ctx] for s in QUICK_STARTS]
    with torch.no_grad():
        out5 = model(torch.tensor(seqs), output_hidden_states=True)
    part5 = []
    for h in out5.hidden_states:
        x = h[:, 1:, :].double().reshape(-1, h.shape[-1])  # seq 0 positions 1.., then seq 1
        part5.append(
            {
                "mean": rounded(x.mean(-1).tolist(), 12),
                "l1_mean": rounded(x.abs().mean(-1).tolist(), 12),
                "std": rounded(x.std(-1, unbiased=True).tolist(), 12),
            }
        )

    ref = {
        "about": "tiny-gpt2 through transformers "
        + transformers.__version__
        + ", torch "
        + torch.__version__
        + "; written by scripts/make_fixture.py",
        "sentence_ids": ids,
        "sentence_mask": enc["attention_mask"],
        "sentence_decoded": tok.decode(ids),
        "n_layer": model.config.n_layer,
        "n_hidden": len(out.hidden_states),
        "logits_shape": list(out.logits.shape),
        "hidden": rounded(hidden, 12),
        "book_tokens": len(book),
        "book_unique": len(set(book)),
        "part5_starts": QUICK_STARTS,
        "part5_seq_len": n_ctx,
        "part5": part5,
    }
    path = CRATE / "tests" / "fixtures" / "reference.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(ref, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

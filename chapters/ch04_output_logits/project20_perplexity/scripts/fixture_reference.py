"""Reference values for tests/quick.rs, from transformers' own causal-LM loss.

Usage (from anywhere; writes fixtures/quick_reference.json beside this folder):
    /work/main/.venv/bin/python chapters/ch04_output_logits/project20_perplexity/scripts/fixture_reference.py

The --quick texts are rebuilt here from the files in src/quick/ by the rules of
src/quick_text.rs (book = front + passages joined by "\n" + back; Part 4/5 keep the first
200 tokens of a passage; WikiText rows = lines, non-empty ones keeping their "\n", joined
with "\n"), tokenised with the tiny GPT-2's tokenizer.json (GPT-2's BPE), and scored by
GPT2LMHeadModel(input_ids=seg, labels=seg).loss: one forward pass per segment, so every
segment is scored on its own. calc_perplex = exp(mean of those losses) over the
floor(N / L) segments, the tail dropped. Random weights: the values only pin the method.
"""

import json
import math
import pathlib

import torch
from transformers import AutoTokenizer, GPT2LMHeadModel

here = pathlib.Path(__file__).resolve().parent
crate = here.parent
root = crate.parents[2]
quick = crate / "src" / "quick"
tiny = root / "assets" / "models" / "tiny-gpt2"


def read(name):
    with open(quick / name, encoding="utf-8", newline="") as f:
        return f.read()


passages = [
    ("Lamplighter", read("p1_lamplighter.txt")),
    ("HarbourSong", read("p2_harbour.txt")),
    ("TwoClerks", read("p3_clerks.txt")),
    ("FoxAndMiller", read("p4_fox.txt")),
    ("SaltIslands", read("p5_voyage.txt")),
]
book = read("front.txt") + "\n".join(t for _, t in passages) + read("back.txt")
rows = [l + "\n" if l else "" for l in read("wiki_rows.txt").split("\n")]
if rows and rows[-1] == "":
    rows = rows[:-1]  # the file's final newline ends the last line, as str::lines() does
wiki = "\n".join(rows)
KEEP = 200
CTX = 64

tok = AutoTokenizer.from_pretrained(tiny)
model = GPT2LMHeadModel.from_pretrained(tiny, dtype=torch.float32).eval()


def ids_of(text):
    return tok(text, add_special_tokens=False)["input_ids"]


@torch.no_grad()
def builtin_loss(seg):
    t = torch.tensor([seg])
    return model(input_ids=t, labels=t).loss.item()


def segment_losses(ids, L):
    n = len(ids) // L
    return [builtin_loss(ids[s * L:(s + 1) * L]) for s in range(n)]


def calc_perplex(ids, L):
    losses = segment_losses(ids, L)
    return math.exp(sum(losses) / len(losses))


book_ids = ids_of(book)
out = {
    "note": "transformers labels= loss of the tiny GPT-2, one forward pass per segment",
    "vocab_size": model.config.vocab_size,
    "book_tokens": len(book_ids),
    "book_first_1000_chars": book[:1000],
    "part1_seq_len": CTX,
    "part1_segment_losses": segment_losses(book_ids, CTX),
    "part3": {str(L): calc_perplex(book_ids, L) for L in [2, 4, 8, 16, 32, 64]},
    "part4": {l: calc_perplex(ids_of(t)[:KEEP], CTX) for l, t in passages},
    "part5": calc_perplex(ids_of(passages[-1][1])[:KEEP], CTX),
    "wikitext_rows": len(rows),
    "wikitext_tokens": len(ids_of(wiki)),
    "part6": calc_perplex(ids_of(wiki), CTX),
}

# Texts for the segmentation checks: one of exactly CTX tokens (L = N, one segment: the
# result is exp of the single built-in loss) and one of CTX + 20 (the tail is ignored).
def text_with(n_tokens):
    for k in range(n_tokens, n_tokens + 10):
        text = tok.decode(book_ids[:k])
        ids = ids_of(text)
        if len(ids) == n_tokens:
            return text, ids
    raise SystemExit(f"no prefix of the book encodes to {n_tokens} tokens")


exact_text, exact_ids = text_with(CTX)
# The same tokens as the book's first segment: the test compares that segment, scored in a
# batch with the others, with this text scored alone.
assert exact_ids == book_ids[:CTX]
tail_text, tail_ids = text_with(CTX + 20)
out["exact_text"] = exact_text
out["exact_ppl"] = math.exp(builtin_loss(exact_ids))
out["tail_text"] = tail_text
out["tail_ppl"] = math.exp(builtin_loss(tail_ids[:CTX]))
# What counting the 20-token tail as a short extra segment would give (a wrong rule the
# check must be able to tell apart).
out["tail_as_segment_ppl"] = math.exp((builtin_loss(tail_ids[:CTX]) + builtin_loss(tail_ids[CTX:])) / 2)

path = crate / "fixtures" / "quick_reference.json"
path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
print(f"wrote {path}: {len(book_ids)} book tokens, {len(out['part1_segment_losses'])} segments")

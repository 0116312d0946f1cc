"""Derive the golden counts of chapter 2's project tests (p02-p07) with Python.

The Rust projects count characters, words and GPT-2 tokens of the texts in
assets/data/ch02/ (and of p06's eight sentences). Their tests compare what a --quick run
wrote against the numbers this script records, computed independently of the Rust code:

- characters: Python's len(str) (Unicode scalar values); bytes: len(s.encode("utf-8"));
- words: len(s.split()) (Python's whitespace rules);
- tokens: Hugging Face `tokenizers` on GPT-2's tokenizer.json (assets/models/tiny-gpt2/
  ships GPT-2's real tokenizer), encode(s, add_special_tokens=False);
- token length in characters: len(decode([id])) (lossy: a lone partial UTF-8 byte is one
  U+FFFD);
- p04's per-token lengths: len(decode([id])) characters and the UTF-8 bytes of that
  (lossy) string;
- p07's BERT counts: `tokenizers` on all-MiniLM-L6-v2's tokenizer.json (.minilm, BERT's
  uncased vocabulary), without special tokens; a token's length is the UTF-8 bytes of
  decode([id]) ("##" kept);
- bzip2 / xz sizes: Python's bz2 (level 9) and lzma (xz container, preset 6). gzip and zlib
  are not recorded: miniz_oxide (the Rust side) and zlib (Python) emit different but valid
  deflate streams of different lengths.

Usage (from the repository root, after ./scripts/setup.sh):

    .venv/bin/python scripts/derive_golden_counts.py

It writes assets/fixtures/ch02_golden_counts.json (with the `tokenizers` version used). It
needs `tokenizers` and `numpy` in .venv, which ./scripts/make_fixtures.sh installs
(transformers 4.57.6 brings tokenizers 0.22.2; numpy<3), and the .minilm link that
./scripts/setup.sh makes. No new Python dependency.
"""

import bz2
import hashlib
import json
import lzma
import re
from collections import Counter
from pathlib import Path

import numpy as np
import tokenizers

ROOT = Path(__file__).resolve().parent.parent
CH02 = ROOT / "assets" / "data" / "ch02"
OUT = ROOT / "assets" / "fixtures" / "ch02_golden_counts.json"
P06_MAIN = (
    ROOT / "chapters" / "ch02_tokenization" / "project06_multilingual_tokenization" / "src" / "main.rs"
)

tok = tokenizers.Tokenizer.from_file(str(ROOT / "assets" / "models" / "tiny-gpt2" / "tokenizer.json"))
tok.no_truncation()
tok.no_padding()
assert tok.get_vocab_size() == 50257, tok.get_vocab_size()


def ids_of(text):
    return tok.encode(text, add_special_tokens=False).ids


def read_text(path):
    # newline="" keeps CRLF as served (the files are stored with -text in .gitattributes)
    with open(path, encoding="utf-8", newline="") as f:
        return f.read()


def index(path):
    rows = []
    for line in read_text(path).splitlines():
        if line.strip():
            a, b = line.split("\t", 1)
            rows.append((a.strip(), b.strip()))
    return rows


books = [(label, read_text(CH02 / "books" / file)) for label, file in index(CH02 / "books" / "index.txt")]
pages = [(url, read_text(CH02 / "web" / file)) for url, file in index(CH02 / "web" / "index.txt")]
paragraph = read_text(CH02 / "paragraph.txt")

# id -> length in characters of the id decoded on its own
id_len = [len(tok.decode([i], skip_special_tokens=False)) for i in range(tok.get_vocab_size())]


def length_counts(ids):
    c = Counter(id_len[i] for i in ids)
    return [[length, c[length]] for length in sorted(c)]


# ---- p02: totals and uniques per book, r(unique, total) per unit
p02_books = []
for label, text in books:
    ids = ids_of(text)
    words = text.split()
    p02_books.append(
        {
            "label": label,
            "chars": len(text),
            "words": len(words),
            "tokens": len(ids),
            "unique_chars": len(set(text)),
            "unique_words": len(set(words)),
            "unique_tokens": len(set(ids)),
            "bytes": len(text.encode("utf-8")),
            "first_word": words[0],
        }
    )
p02_r = {}
for unit, key in [("Characters", "chars"), ("Words", "words"), ("Tokens", "tokens")]:
    total = np.array([b[key] for b in p02_books], dtype=float)
    unique = np.array([b["unique_" + key] for b in p02_books], dtype=float)
    p02_r[unit] = float(np.corrcoef(unique, total)[0, 1])
most = max(p02_books, key=lambda b: b["unique_chars"])

# ---- p03: one paragraph's token lengths, the id -> length table, each book's lengths
pids = ids_of(paragraph)
p03 = {
    "paragraph": {
        "words": len(paragraph.split()),
        "tokens": len(pids),
        "unique_tokens": len(set(pids)),
        "roundtrip": tok.decode(pids, skip_special_tokens=False) == paragraph,
        "ids": pids,
        "lengths": [id_len[i] for i in pids],
        "length_table": length_counts(pids),
    },
    "vocab": {"entries": len(id_len), "zeros": id_len.count(0), "longest": max(id_len)},
    "books": {label: length_counts(ids_of(text)) for label, text in books},
}

# ---- p05: books, pages and compressors
p05 = {
    "books": [
        {"label": label, "chars": len(text), "words": len(text.split()), "tokens": len(ids_of(text))}
        for label, text in books
    ],
    "pages": [
        {
            "url": url,
            "chars": len(text),
            "bytes": len(text.encode("utf-8")),
            "tokens": len(ids_of(text)),
        }
        for url, text in pages
    ],
    "compressors": [
        {
            "text": name,
            "bytes": len(text.encode("utf-8")),
            "tokens": len(ids_of(text)),
            "bzip2_bytes": len(bz2.compress(text.encode("utf-8"), 9)),
            "xz_bytes": len(lzma.compress(text.encode("utf-8"), format=lzma.FORMAT_XZ, preset=6)),
        }
        for name, text in [(label, t) for label, t in books]
        + [(url[8:].split(".")[0], t) for url, t in pages]
    ],
}

# ---- p06: the eight sentences, read from the project's source (the one place they live)
src = P06_MAIN.read_text(encoding="utf-8")
block = src[src.index("const SENTENCES") : src.index("];", src.index("const SENTENCES"))]
pairs = re.findall(r'\("([A-Za-z]+)", "((?:[^"\\]|\\.)*)"\)', block)
assert len(pairs) == 8, pairs


def unescape(s):
    s = re.sub(r"\\u\{([0-9a-fA-F]+)\}", lambda m: chr(int(m.group(1), 16)), s)
    assert "\\" not in s, s
    return s


p06 = []
for language, sentence in pairs:
    sentence = unescape(sentence)
    ids = ids_of(sentence)
    b = sentence.encode("utf-8")
    p06.append(
        {
            "language": language,
            "chars": len(sentence),
            "bytes": len(b),
            "tokens": len(ids),
            "sha256_16": hashlib.sha256(b).hexdigest()[:16],
            "roundtrip": tok.decode(ids, skip_special_tokens=False) == sentence,
        }
    )

# ---- p04: characters and (lossy) bytes of every token decoded on its own
decoded = [tok.decode([i], skip_special_tokens=False) for i in range(tok.get_vocab_size())]
cells = Counter((len(d), len(d.encode("utf-8"))) for d in decoded)
p04 = {
    "matrix": [[c, b, cells[(c, b)]] for (c, b) in sorted(cells)],
    "mismatches": sum(len(d) != len(d.encode("utf-8")) for d in decoded),
    "with_fffd": sum("\ufffd" in d for d in decoded),
}

# ---- p07: BERT (uncased WordPiece) and GPT-2 counts and mean token lengths per book
bert = tokenizers.Tokenizer.from_file(str(ROOT / ".minilm" / "tokenizer.json"))
assert bert.get_vocab_size() == 30522, bert.get_vocab_size()
bert.no_truncation()  # the file truncates at 128 tokens (sentence-transformers' setting)
bert.no_padding()
bert_len = [len(bert.decode([i], skip_special_tokens=False).encode("utf-8")) for i in range(30522)]
gpt2_len = [len(d.encode("utf-8")) for d in decoded]
p07 = []
for label, text in books:
    b = bert.encode(text, add_special_tokens=False).ids
    g = ids_of(text)
    p07.append(
        {
            "label": label,
            "tokens_BERT": len(b),
            "tokens_GPT2": len(g),
            "mean_len_BERT": sum(bert_len[i] for i in b) / len(b),
            "mean_len_GPT2": sum(gpt2_len[i] for i in g) / len(g),
        }
    )

fixture = {
    "generator": "scripts/derive_golden_counts.py",
    "tokenizers": tokenizers.__version__,
    "p02": {
        "books": p02_books,
        "r_unique_total": p02_r,
        "most_distinct_chars": {"label": most["label"], "count": most["unique_chars"]},
    },
    "p03": p03,
    "p05": p05,
    "p04": p04,
    "p06": p06,
    "p07": p07,
}
OUT.write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
print(f"wrote {OUT.relative_to(ROOT)}")

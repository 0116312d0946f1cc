"""transformers' masked-LM reference for project 23's --quick run (tiny-bert).

Usage: fixture_mlm.py ROOT OUT.json (see make_fixture.sh). Reads the sentences from the
crate's own Rust sources, so the fixture follows the text the program runs on.

Token ids are built here without relying on the tokenizer recognising "[MASK]" (so that the
reference is independent of how the program finds the mask): [CLS] + ids(prefix) + [MASK] +
ids(suffix) + [SEP], each part encoded without special tokens. The numbers come from random weights:
they check the code, they are not findings.
"""

import json
import pathlib
import re
import sys

import torch
import transformers
from tokenizers import Tokenizer
from transformers import BertForMaskedLM

ROOT = pathlib.Path(sys.argv[1])
OUT = pathlib.Path(sys.argv[2])
CRATE = ROOT / "chapters" / "ch04_output_logits" / "project23_language_bias"
TINY = ROOT / "assets" / "models" / "tiny-bert"
SLOT = "{MASK}"


def rust_array(path, name):
    """The string literals of `pub const NAME: [&str; N] = [...];` in a Rust file."""
    src = path.read_text()
    m = re.search(r"pub const " + name + r": \[&str; \d+\] = \[(.*?)\];", src, re.S)
    return re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))


def rust_str(path, name):
    src = path.read_text()
    return re.search(r"pub const " + name + r': &str = "((?:[^"\\]|\\.)*)";', src).group(1)


quick = CRATE / "src" / "quick_text.rs"
TARGETS = rust_array(quick, "QUICK_TARGETS")
FEMALE = rust_array(quick, "QUICK_FEMALE")
MALE = rust_array(quick, "QUICK_MALE")
DOCTOR = rust_str(CRATE / "src" / "sentences.rs", "DOCTOR")

tok = Tokenizer.from_file(str(TINY / "tokenizer.json"))
vocab = tok.get_vocab()
CLS, SEP, MASK, PAD = vocab["[CLS]"], vocab["[SEP]"], vocab["[MASK]"], vocab["[PAD]"]
target_ids = [vocab[w] for w in TARGETS]


def enc(text):
    return tok.encode(text, add_special_tokens=False).ids


def ids_with_mask(template):
    prefix, suffix = template.split(SLOT)
    return [CLS] + enc(prefix) + [MASK] + enc(suffix) + [SEP]


model = BertForMaskedLM.from_pretrained(str(TINY)).eval()


def padded_logits(seqs):
    width = max(len(s) for s in seqs)
    ids = torch.tensor([s + [PAD] * (width - len(s)) for s in seqs])
    att = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in seqs])
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=att, token_type_ids=torch.zeros_like(ids))
    return out.logits  # [n, width, V]


def score(row):
    """Target logits, logsumexp, target log-softmax and the bias of one logit row."""
    row = row.double()
    lse = torch.logsumexp(row, -1)
    logsm = row - lse
    return {
        "logits": [row[i].item() for i in target_ids],
        "logsumexp": lse.item(),
        "log_softmax": [logsm[i].item() for i in target_ids],
        "bias": (logsm[target_ids[0]] - logsm[target_ids[1]]).item(),
    }


def group(templates):
    seqs = [ids_with_mask(t) for t in templates]
    logits = padded_logits(seqs)
    rows = []
    for b, s in enumerate(seqs):
        at = s.index(MASK)
        alone = padded_logits([s])[0, at]
        r = score(logits[b, at])
        r.update(
            sentence=templates[b].replace(SLOT, "[MASK]"),
            ids=s,
            mask_index=at,
            max_abs_diff_batched_vs_alone=(logits[b, at] - alone).abs().max().item(),
        )
        rows.append(r)
    return rows


# Parts 2-3: the three target words and the mask in the doctor sentence, one batch.
doctor = []
for w in TARGETS:
    prefix, suffix = DOCTOR.split(SLOT)
    doctor.append([CLS] + enc(prefix) + enc(w) + enc(suffix) + [SEP])
doctor.append(ids_with_mask(DOCTOR))
at = doctor[3].index(MASK)
logits = padded_logits(doctor)
doctor_rows = []
for s in range(4):
    r = score(logits[s, at])
    r["ids"] = doctor[s]
    doctor_rows.append(r)
probs1 = logits[0, at].double().softmax(-1)

ref = {
    "transformers": transformers.__version__,
    "torch": torch.__version__,
    "targets": TARGETS,
    "target_ids": target_ids,
    "mask_id": MASK,
    "doctor": {
        "mask_index": at,
        "sentences": doctor_rows,
        "argmax_sentence1": int(probs1.argmax()),
        "argmax_prob_sentence1": probs1.max().item(),
    },
    "female": group(FEMALE),
    "male": group(MALE),
}
OUT.parent.mkdir(parents=True, exist_ok=True)
OUT.write_text(json.dumps(ref, indent=1) + "\n")
print(f"wrote {OUT}")

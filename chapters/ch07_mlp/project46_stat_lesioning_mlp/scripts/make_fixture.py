"""Reference values for project 46's tests, from Hugging Face transformers, torch, numpy
and scipy.

Run from the workspace root (writes fixtures/reference.json beside this folder) with a
Python that has torch 2.13.0, transformers 4.57.6, tokenizers, numpy and scipy:
    .venv/bin/python chapters/ch07_mlp/project46_stat_lesioning_mlp/scripts/make_fixture.py

It does what the --quick run does, the book's way, on tiny-bert (assets/models/tiny-bert,
BertForMaskedLM, eval, float32, no gradients; 2 layers, so layer 1 stands in for the
book's layers 9 and 23):
- the tokenizer: tokenizers' tokenizer.json with [PAD] [UNK] [CLS] [SEP] [MASK] declared as
  special tokens (the file declares none); the 108 sentences of assets/data/him_sentences.txt
  (54, then the same with "her") and the 3 test sentences, with the whole words "him" ->
  "platypus" and "her" -> "plethora" (the tiny vocabulary's stand-ins); the 108 padded to the
  longest with attention mask (padding=True), target_index = the one position holding a
  target id;
- a forward hook on every layer's intermediate.dense (the pre-GELU expansion) that takes the
  rows at target_index, runs scipy.stats.ttest_ind (Student, two-sided) of rows 0-53
  against 54-107 per neuron and scipy.stats.false_discovery_control (BH), and stores the
  "him" (p_bh < .05, t > 0) and "her" (t < 0) masks;
- clean MLM logits of the 3 test sentences (one full forward pass, no hooks);
- lesions: a forward hook on intermediate.dense of layer L that sets the output to 0 at
  batch 1, mask_idx_her for the "her" neurons and at batch 2, mask_idx_him for the "him"
  neurons: one FULL forward pass per layer (no cached prefix), for the real sets and for the
  least-tuned control sets (np.argsort(|t|), first n_pos / first n_neg);
- offline check 2 (empty sets; batch item 0), check 3 (the same zeroing in a forward hook
  on `intermediate`, i.e. after the GELU) and check 4's BH vector.
The numbers come from random weights: they check the code, they are not findings.
"""

import json
import pathlib
import re

import numpy as np
import scipy.stats as st
import torch
from tokenizers import Tokenizer
from transformers import BertForMaskedLM

CRATE = pathlib.Path(__file__).resolve().parents[1]
ROOT = CRATE.parents[2]
TINY = ROOT / "assets" / "models" / "tiny-bert"
HIM, HER = "platypus", "plethora"
TESTS = [
    "Robert helped Lucy with her project, and she thanked him for his hard work.",
    "Robert helped Lucy with [MASK] project, and she thanked him for his hard work.",
    "Robert helped Lucy with her project, and she thanked [MASK] for his hard work.",
]
BH_P = [0.001, 0.008, 0.039, 0.041, 0.042, 0.060, 0.074, 0.205, 0.212, 0.216]


def stand_in(s):
    s = re.sub(r"\bhim\b", HIM, s)
    return re.sub(r"\bher\b", HER, s)


def main():
    lines = (ROOT / "assets" / "data" / "him_sentences.txt").read_text().splitlines()
    him = [l for l in lines if l.strip() and not l.startswith("#")]
    her = [re.sub(r"\bhim\b", "her", s) for s in him]
    sentences = [stand_in(s) for s in him + her]
    tests = [stand_in(s) for s in TESTS]

    tok = Tokenizer.from_file(str(TINY / "tokenizer.json"))
    tok.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    him_id, her_id = tok.token_to_id(HIM), tok.token_to_id(HER)
    mask_id = tok.token_to_id("[MASK]")
    enc = [tok.encode(s).ids for s in sentences]
    w = max(len(e) for e in enc)
    ids = torch.tensor([e + [0] * (w - len(e)) for e in enc])
    att = torch.tensor([[1] * len(e) + [0] * (w - len(e)) for e in enc])
    target_index = []
    for e in enc:
        hits = [p for p, t in enumerate(e) if t in (him_id, her_id)]
        assert len(hits) == 1, e
        target_index.append(hits[0])
    tenc = [tok.encode(s).ids for s in tests]
    assert len({len(e) for e in tenc}) == 1
    tids = torch.tensor(tenc)
    m_her, m_him = tenc[1].index(mask_id), tenc[2].index(mask_id)

    model = BertForMaskedLM.from_pretrained(TINY).eval()
    layers = model.bert.encoder.layer
    n = len(layers)
    ti = torch.tensor(target_index)

    masks = {}

    def ttest_hook(L):
        def f(mod, inp, out):
            acts = out[torch.arange(out.shape[0]), ti].double().numpy()
            t, p = st.ttest_ind(acts[:54], acts[54:])
            p_bh = st.false_discovery_control(p)
            sig = p_bh < 0.05
            masks[L] = {
                "t": t.tolist(),
                "p": p.tolist(),
                "p_bh": p_bh.tolist(),
                "him": np.where(sig & (t > 0))[0].tolist(),
                "her": np.where(sig & (t < 0))[0].tolist(),
            }

        return f

    hs = [layers[L].intermediate.dense.register_forward_hook(ttest_hook(L)) for L in range(n)]
    with torch.no_grad():
        model(input_ids=ids, attention_mask=att)
    for h in hs:
        h.remove()

    def logits_of(hook_module=None, hook=None):
        h = hook_module.register_forward_hook(hook) if hook_module is not None else None
        with torch.no_grad():
            lg = model(input_ids=tids).logits
        if h is not None:
            h.remove()
        return lg

    def tl(lg):
        return [
            [[float(lg[s, pos, t]) for t in (her_id, him_id)] for pos in (m_her, m_him)]
            for s in range(3)
        ]

    def zero_hook(him_set, her_set):
        def f(mod, inp, out):
            out = out.clone()
            out[1, m_her, her_set] = 0
            out[2, m_him, him_set] = 0
            return out

        return f

    clean = logits_of()
    clean_tl = tl(clean)

    def lesion(L, him_set, her_set, after_gelu=False):
        mod = layers[L].intermediate if after_gelu else layers[L].intermediate.dense
        return logits_of(mod, zero_hook(him_set, her_set))

    def laminar(sets):
        res, deltas = [], []
        for L in range(n):
            z = tl(lesion(L, *sets[L]))
            d = np.array(clean_tl) - np.array(z)
            res.append([float(np.abs(d[1:]).mean()), float(d[1, 0, 0]), float(d[2, 1, 1])])
            deltas.append(d.tolist())
        return res, deltas

    real_sets = [(masks[L]["him"], masks[L]["her"]) for L in range(n)]
    ctrl_sets = []
    for L in range(n):
        order = np.argsort(np.abs(np.array(masks[L]["t"])), kind="stable")
        ctrl_sets.append(
            (order[: len(masks[L]["him"])].tolist(), order[: len(masks[L]["her"])].tolist())
        )
    real_res, real_d = laminar(real_sets)
    ctrl_res, ctrl_d = laminar(ctrl_sets)

    last = n - 1
    full = lesion(last, *real_sets[last])
    pos = [m_her, m_him]
    empty = lesion(last, [], [])
    post = lesion(last, *real_sets[last], after_gelu=True)
    check2_empty = float((empty[:, pos] - clean[:, pos]).abs().max())
    check2_item0 = float((full[0] - clean[0]).abs().max())
    check3 = float((post[:, pos] - full[:, pos]).abs().max())

    ref = {
        "ids": {"him": him_id, "her": her_id, "mask": mask_id},
        "batch_shape": list(ids.shape),
        "lengths": [len(e) for e in enc],
        "target_index": target_index,
        "test_len": len(tenc[0]),
        "mask_idx_her": m_her,
        "mask_idx_him": m_him,
        "d_mlp": model.config.intermediate_size,
        "n_layers": n,
        "layers": [masks[L] for L in range(n)],
        "clean_tl": clean_tl,
        "part5_tl": tl(full),
        "part5_delta": (np.array(clean_tl) - np.array(tl(full))).tolist(),
        "part6": real_res,
        "part6_delta": real_d,
        "control_sets": ctrl_sets,
        "part7": ctrl_res,
        "part7_delta": ctrl_d,
        "check2_empty": check2_empty,
        "check2_item0": check2_item0,
        "check3": check3,
        "bh_p": BH_P,
        "bh_adjusted": st.false_discovery_control(BH_P).tolist(),
    }
    out = CRATE / "fixtures" / "reference.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(ref, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

"""Reference values for project 44's tests, from Hugging Face transformers, torch, numpy
and scipy.

Run from anywhere (writes fixtures/reference.json beside this folder) with a Python that
has torch 2.13.0, transformers 4.57.6, numpy and scipy (/work/main/.venv has them):
    .venv/bin/python chapters/ch07_mlp/project44_grammar_tuning_mlp/scripts/make_fixture.py

It does what the --quick run does, the way the book's notebook does it, on the tiny random
GPT-2 in assets/models/tiny-gpt2 (GPT2LMHeadModel, eval, float32, no gradients):
- the project's quick lists data/quick_{nouns,verbs}.txt split on "\n", kept when
  " " + word is one token (GPT2TokenizerFast), the first 40 kept, even/odd splits;
- scipy.stats.ttest_ind on the word lengths, Cohen's d with the pooled SD;
- each word set as a [n, 1] batch, a forward hook on transformer.h[L].mlp.c_fc;
- per-neuron scipy.stats.ttest_ind (axis=0), Cohen's d, scipy false_discovery_control,
  Bonferroni p < .05/k, np.corrcoef; the laminar statistics of every layer;
- Part 8: the sentence [1, 34], its tokens as [34, 1] and the sentence scrambled by the
  permutation that --seed 0 draws (PERM below, read off the program's summary once: an
  input, like the word lists), un-scrambled with np.argsort; np.corrcoef per layer.
And on the tiny random GPT-Neo (assets/models/tiny-gpt-neo, GPTNeoForCausalLM, its own
320-token BPE): the c_fc output of every layer for an 8-token sequence (longer than the
local window of 4) and for its tokens one by one (offline checks 4 and 6).
The numbers come from random weights: they check the code, they are not findings.
"""

import json
import pathlib

import numpy as np
import scipy
import scipy.stats as st
import torch
import transformers
from transformers import GPT2LMHeadModel, GPT2TokenizerFast, GPTNeoForCausalLM

CRATE = pathlib.Path(__file__).resolve().parents[1]
ROOT = CRATE.parents[2]
TINY = ROOT / "assets" / "models" / "tiny-gpt2"
TINY_NEO = ROOT / "assets" / "models" / "tiny-gpt-neo"
N_WORDS = 40
BOOK_LAYER = 8
SENTENCE = (
    "The coconut (Cocos nucifera) is a member of the palm family (Arecaceae) and the only "
    "living species of the genus Cocos."
)
# The permutation of the 34 positions that the program draws with --seed 0 (StdRng).
PERM = [28, 14, 7, 3, 6, 13, 20, 19, 26, 11, 33, 22, 5, 18, 25, 27, 17, 1, 4, 9, 10, 0, 23, 15,
        12, 31, 29, 30, 16, 32, 2, 21, 8, 24]
NEO_IDS = [5, 100, 37, 200, 12, 250, 3, 77]


def fl(x):
    return [float(v) for v in np.asarray(x, dtype=np.float64).ravel()]


def c_fc_acts(model, blocks, batch):
    outs = {}
    hooks = [
        blk.mlp.c_fc.register_forward_hook(
            lambda mod, inp, out, L=L: outs.__setitem__(L, out.detach().clone())
        )
        for L, blk in enumerate(blocks)
    ]
    with torch.no_grad():
        model(torch.tensor(batch))
    for h in hooks:
        h.remove()
    return [outs[L].double().numpy() for L in range(len(blocks))]


def cohen(x, y):
    n1, n2 = len(x), len(y)
    sp = np.sqrt(((n1 - 1) * x.var(axis=0, ddof=1) + (n2 - 1) * y.var(axis=0, ddof=1))
                 / (n1 + n2 - 2))
    return (x.mean(axis=0) - y.mean(axis=0)) / sp


def tests(x, y):
    r = st.ttest_ind(x, y, axis=0)
    return r.statistic, r.pvalue, cohen(x, y)


def main():
    tok = GPT2TokenizerFast.from_pretrained(TINY)
    kept = {}
    for cat in ["nouns", "verbs"]:
        entries = (CRATE / "data" / f"quick_{cat}.txt").read_text().split("\n")
        words = [w for w in entries if len(tok(" " + w)["input_ids"]) == 1]
        kept[cat] = {
            "total": len(entries),
            "kept": len(words),
            "words": words,
            "ids": [tok(" " + w)["input_ids"][0] for w in words],
        }
    sets = {}
    for cat in ["nouns", "verbs"]:
        ids = kept[cat]["ids"][:N_WORDS]
        sets[f"{cat}_split1"], sets[f"{cat}_split2"] = ids[0::2], ids[1::2]
    first5 = {k: [tok.decode([i]) for i in v[:5]] for k, v in sets.items()}
    ln = np.array([len(w) for w in kept["nouns"]["words"][:N_WORDS]], float)
    lv = np.array([len(w) for w in kept["verbs"]["words"][:N_WORDS]], float)
    lt = st.ttest_ind(ln, lv)
    length = {
        "mean_nouns": ln.mean(),
        "mean_verbs": lv.mean(),
        "t": lt.statistic,
        "p": lt.pvalue,
        "df": len(ln) + len(lv) - 2,
        "d": float(cohen(ln[:, None], lv[:, None])[0]),
    }

    model = GPT2LMHeadModel.from_pretrained(TINY, dtype=torch.float32).eval()
    blocks = model.transformer.h
    n_layer = len(blocks)
    layer = min(BOOK_LAYER, n_layer - 1)
    acts = {k: c_fc_acts(model, blocks, [[i] for i in v]) for k, v in sets.items()}
    acts = {k: [a[:, 0, :] for a in v] for k, v in acts.items()}
    a = {k: v[layer] for k, v in acts.items()}
    n1, n2, v1, v2 = a["nouns_split1"], a["nouns_split2"], a["verbs_split1"], a["verbs_split2"]
    k = n1.shape[1]
    t1, p1, d1 = tests(n1, v1)
    t2, p2, _ = tests(n2, v2)
    t12, p12, _ = tests(n1, v2)
    fdr1 = st.false_discovery_control(p1, method="bh")
    bonf = lambda p: p < 0.05 / k
    agree = lambda pa, pb: [int(((bonf(pa).astype(int) + bonf(pb).astype(int)) == c).sum())
                            for c in (2, 1, 0)]
    tn, _, dn = tests(n1, n2)
    tv, _, _ = tests(v1, v2)

    laminar = []
    for L in range(n_layer):
        s1 = tests(acts["nouns_split1"][L], acts["verbs_split1"][L])
        s2 = tests(acts["nouns_split2"][L], acts["verbs_split2"][L])
        row = [L]
        for t, p, _ in (s1, s2):
            sig = st.false_discovery_control(p, method="bh") < 0.05
            row += [sig.mean(), np.abs(t[sig]).mean() if sig.any() else None]
        row.append(np.corrcoef(s1[0], s2[0])[0, 1])
        laminar.append([None if v is None else float(v) for v in row])

    ids = tok(SENTENCE)["input_ids"]
    perm = np.array(PERM)
    inv = np.argsort(perm)
    scr_ids = [ids[i] for i in perm]
    assert [scr_ids[i] for i in inv] == ids
    sent = [x[0] for x in c_fc_acts(model, blocks, [ids])]
    words = [x[:, 0, :] for x in c_fc_acts(model, blocks, [[i] for i in ids])]
    scr = [x[0][inv] for x in c_fc_acts(model, blocks, [scr_ids])]
    r8 = [[float(np.corrcoef(x.ravel(), y.ravel())[0, 1]) for x, y in
           ((sent[L], words[L]), (sent[L], scr[L]), (scr[L], words[L]))] for L in range(n_layer)]
    L8a = min(3, n_layer - 1)
    r8a = [float(np.corrcoef(x.ravel()[::10], y.ravel()[::10])[0, 1]) for x, y in
           ((sent[L8a], words[L8a]), (sent[L8a], scr[L8a]), (scr[L8a], words[L8a]))]
    pos0 = max(float(np.abs(sent[L][0] - words[L][0]).max()) for L in range(n_layer))

    neo = GPTNeoForCausalLM.from_pretrained(TINY_NEO, dtype=torch.float32).eval()
    nb = neo.transformer.h
    neo_seq = [x[0] for x in c_fc_acts(neo, nb, [NEO_IDS])]
    neo_words = [x[:, 0, :] for x in c_fc_acts(neo, nb, [[i] for i in NEO_IDS])]

    ref = {
        "about": "tiny-gpt2 and tiny-gpt-neo through transformers " + transformers.__version__
        + ", torch " + torch.__version__ + ", numpy " + np.__version__ + ", scipy "
        + scipy.__version__ + "; written by scripts/make_fixture.py",
        "n_layer": n_layer,
        "layer": layer,
        "n_neurons": k,
        "kept": kept,
        "sets": sets,
        "first5": first5,
        "length": {key: float(v) for key, v in length.items()},
        "t1": fl(t1),
        "p1": fl(p1),
        "d1": fl(d1),
        "fdr1": fl(fdr1),
        "n_sig_fdr": int((fdr1 < 0.05).sum()),
        "n_large": int((np.abs(d1) > 0.8).sum()),
        "t2": fl(t2),
        "t12": fl(t12),
        "r_2": float(np.corrcoef(t1, t2)[0, 1]),
        "r_12": float(np.corrcoef(t1, t12)[0, 1]),
        "agree_2": agree(p1, p2),
        "agree_12": agree(p1, p12),
        "t_within_noun": fl(tn),
        "t_within_verb": fl(tv),
        "frac_small_within": float((np.abs(dn) < 0.2).mean()),
        "frac_small_across": float((np.abs(d1) < 0.2).mean()),
        "max_t": [int(np.argmax(t1)), float(t1.max())],
        "min_t": [int(np.argmin(t1)), float(t1.min())],
        "laminar": laminar,
        "sentence_ids": ids,
        "perm": PERM,
        "inverse": [int(i) for i in inv],
        "r8": r8,
        "r8a": r8a,
        "layer_8a": L8a,
        "pos0_max_diff": pos0,
        "neo_ids": NEO_IDS,
        "neo_seq_c_fc": [fl(x) for x in neo_seq],
        "neo_words_c_fc": [fl(x) for x in neo_words],
        "neo_d_mlp": int(neo_seq[0].shape[1]),
    }
    path = CRATE / "fixtures" / "reference.json"
    path.write_text(json.dumps(ref, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

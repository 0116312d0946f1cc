"""Reference values for project 39's tests, from Hugging Face transformers, torch and numpy.

Run with a Python that has torch 2.13 and transformers 4.57.6 (/work/main/.venv has them):
    .venv/bin/python chapters/ch06_attention/project39_token_frequency_attention/scripts/make_fixture.py
It writes fixtures/reference.json beside this folder.

It does what the --quick run does, the way the book's notebook does it, on the tiny random
BERT in assets/models/tiny-bert (BertModel, eval, float32, no gradients, eager attention) and
the passages of src/quick_rows.txt (paragraphs separated by blank lines, whitespace collapsed):
- tokenizer: the slow BertTokenizer built from a vocab.txt written out of tiny-bert's
  tokenizer.json vocabulary (lowercase, strip accents), add_special_tokens=False; the fast
  tokenizer is asserted to agree; reference ids of a few fixed strings (offline check 6);
- counts: rows 0, 1, ... until the cumulative count reaches 800; top-20 tokens (stable order);
- batch: rows with >= 64 tokens, truncated to 64, the first 8;
- one forward pass of input_ids only; a forward pre-hook on every encoder.layer[L].attention.self
  recomputes Q and K from its input hidden states with the module's own query/key layers,
  S = Q K^T / sqrt(d_head) per head, keeps the mean over heads; a forward hook on
  attention.output.dense keeps log ||output||. Offline check 1: softmax(S) equals the model's
  own attentions (output_attentions=True) to 1e-5 (asserted here); the per-head scores and
  attentions of the first 16 tokens of sequence 0 are stored for the Rust test;
- fixtures/quick_rows.parquet: the same passages with wikimedia/wikipedia's columns
  (id, url, title, text; pyarrow), for the test of --wiki-parquet;
- Part 4's Pearson r per layer (positions 1..63), Part 5b's subsampled points (every 500th, the
  last layer standing in for layer 5), Part 5c's per-sequence correlations (last layer for 7,
  11 percentile edges, numpy linear interpolation, scipy binned_statistic semantics by hand),
  Part 6's averaged binned curves [L, 10, 3] and their correlations.
The numbers come from random weights: they check the code, they are not findings.
"""

import json
import math
import pathlib
import tempfile

import numpy as np
import torch
import transformers
from transformers import BertModel, BertTokenizer, BertTokenizerFast

CRATE = pathlib.Path(__file__).resolve().parents[1]
ROOT = CRATE.parents[2]
TINY = ROOT / "assets" / "models" / "tiny-bert"
N_SEQS, SEQ_LEN, TARGET, N_EDGES, STRIDE = 8, 64, 800, 11, 500
FIXED = [
    "the cat stood by the river.",
    "Every platypus, 42 times; nothing at all!",
    "Héllo   Wörld: the MLP reads tokens",
    "a storm at night, and the tower was dark",
]


def f(x):
    return [float(v) for v in np.asarray(x, dtype=np.float64).ravel()]


def rows():
    text = (CRATE / "src" / "quick_rows.txt").read_text()
    out = [" ".join(p.split()) for p in text.split("\n\n")]
    return [p for p in out if p]


def binned(x, v, edges):
    """scipy.stats.binned_statistic(x, v, 'mean'/'std', bins=edges) for data inside the edges."""
    nb = len(edges) - 1
    idx = np.searchsorted(edges, x, side="right") - 1
    idx[x == edges[-1]] = nb - 1  # last bin closed
    means, stds = np.full(nb, np.nan), np.full(nb, np.nan)
    for k in range(nb):
        m = v[idx == k]
        if len(m):
            means[k] = m.mean()
            stds[k] = m.std()
    return (edges[1:] + edges[:-1]) / 2, means, stds


def main():
    vocab = json.loads((TINY / "tokenizer.json").read_text())["model"]["vocab"]
    with tempfile.TemporaryDirectory() as tmp:
        vpath = pathlib.Path(tmp) / "vocab.txt"
        vpath.write_text("".join(t + "\n" for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])))
        slow = BertTokenizer(str(vpath), do_lower_case=True)
    fast = BertTokenizerFast(tokenizer_file=str(TINY / "tokenizer.json"))

    def enc(t):
        a = slow(t, add_special_tokens=False)["input_ids"]
        b = fast(t, add_special_tokens=False)["input_ids"]
        assert a == b, (t, a, b)
        return a

    texts = rows()
    counts = np.zeros(len(vocab), dtype=np.int64)
    total, n_rows = 0, 0
    for t in texts:
        ids = enc(t)
        np.add.at(counts, ids, 1)
        total += len(ids)
        n_rows += 1
        if total >= TARGET:
            break
    assert total >= TARGET
    batch_rows, seqs = [], []
    for i, t in enumerate(texts):
        ids = enc(t)
        if len(ids) >= SEQ_LEN:
            batch_rows.append(i)
            seqs.append(ids[:SEQ_LEN])
            if len(seqs) == N_SEQS:
                break
    ids = torch.tensor(seqs)
    assert (counts[ids.numpy()] > 0).all()
    props = counts / total
    logp = np.log(props[ids.numpy()])  # [n, p]
    order = np.argsort(-counts, kind="stable")[:20]

    model = BertModel.from_pretrained(TINY, attn_implementation="eager").eval()
    cfg = model.config
    h, dh = cfg.num_attention_heads, cfg.hidden_size // cfg.num_attention_heads
    L = cfg.num_hidden_layers
    per_head, qkt, adj = {}, {}, {}

    def pre_hook(mod, args, kwargs, layer):
        x = args[0] if args else kwargs["hidden_states"]
        b, p, _ = x.shape
        q = mod.query(x).view(b, p, h, dh).transpose(1, 2)
        k = mod.key(x).view(b, p, h, dh).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / math.sqrt(dh)
        per_head[layer] = s.detach().clone()
        qkt[layer] = s.mean(dim=1).detach().clone()

    def dense_hook(mod, inp, out, layer):
        adj[layer] = torch.log(out.double().norm(dim=-1)).detach().clone()

    hooks = []
    for l, blk in enumerate(model.encoder.layer):
        hooks.append(
            blk.attention.self.register_forward_pre_hook(
                lambda m, a, kw, l=l: pre_hook(m, a, kw, l), with_kwargs=True
            )
        )
        hooks.append(
            blk.attention.output.dense.register_forward_hook(
                lambda m, i, o, l=l: dense_hook(m, i, o, l)
            )
        )

    def forward(x):
        per_head.clear(), qkt.clear(), adj.clear()
        with torch.no_grad():
            return model(input_ids=x, output_attentions=True)

    out = forward(ids)
    for l in range(L):
        diff = (torch.softmax(per_head[l], dim=-1) - out.attentions[l]).abs().max().item()
        assert diff < 1e-5, (l, diff)
        assert (qkt[l] - per_head[l].mean(dim=1)).abs().max().item() < 1e-6
    qkt_all = {l: qkt[l].double().numpy() for l in range(L)}
    adj_all = {l: adj[l].numpy() for l in range(L)}

    # Part 4
    x = logp[:, 1:].ravel()
    r4 = [float(np.corrcoef(x, adj_all[l][:, 1:].ravel())[0, 1]) for l in range(L)]
    # Part 5b/5c and 6
    last = L - 1
    pm = [(lp[:, None] + lp[None, :]).ravel() for lp in logp]
    b5x = [f(p[::STRIDE]) for p in pm]
    b5y = [f(qkt_all[last][i].ravel()[::STRIDE]) for i in range(N_SEQS)]
    qs = np.linspace(0, 100, N_EDGES)
    corr5c, avg = [], np.zeros((L, N_EDGES - 1, 3))
    for i in range(N_SEQS):
        e = np.percentile(pm[i], qs)
        assert (np.diff(e) > 0).all()
        for l in range(L):
            c, m, s = binned(pm[i], qkt_all[l][i].ravel(), e)
            avg[l, :, 0] += c
            avg[l, :, 1] += m
            avg[l, :, 2] += s
            if l == last:
                corr5c.append([np.corrcoef(c, m)[0, 1], np.corrcoef(c, s)[0, 1]])
    avg /= N_SEQS
    r6 = [
        [float(np.corrcoef(avg[l, :, 0], avg[l, :, 1])[0, 1]),
         float(np.corrcoef(avg[l, :, 0], avg[l, :, 2])[0, 1])]
        for l in range(L)
    ]

    # check 1 on a short input: per-head scores and attentions, first 16 tokens of seq 0
    short = ids[:1, :16]
    o16 = forward(short)
    check1 = {
        "ids": short[0].tolist(),
        "scores": [f(per_head[l][0]) for l in range(L)],
        "attentions": [f(o16.attentions[l][0]) for l in range(L)],
        "head_mean": [f(qkt[l][0]) for l in range(L)],
    }

    ref = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "n_layers": L,
        "n_heads": h,
        "fixed_strings": [{"text": t, "ids": enc(t)} for t in FIXED],
        "row_ids": [enc(t) for t in texts],
        "total": int(total),
        "n_rows": n_rows,
        "counts": [int(c) for c in counts],
        "top20": [[int(i), int(counts[i])] for i in order],
        "batch_rows": batch_rows,
        "batch": seqs,
        "log_props_seq0": f(logp[0]),
        "adj_seq0": [f(adj_all[l][0]) for l in range(L)],
        "r4": r4,
        "part5b_x": b5x,
        "part5b_y": b5y,
        "corr5c": [f(c) for c in corr5c],
        "avg6": [[f(avg[l, j]) for j in range(N_EDGES - 1)] for l in range(L)],
        "r6": r6,
        "check1": check1,
    }
    # the passages as a wikimedia/wikipedia-shaped parquet file, for the --wiki-parquet path
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({
        "id": [str(i) for i in range(len(texts))],
        "url": [f"https://example.invalid/{i}" for i in range(len(texts))],
        "title": [f"Passage {i}" for i in range(len(texts))],
        "text": texts,
    })
    pq.write_table(table, CRATE / "fixtures" / "quick_rows.parquet")

    path = CRATE / "fixtures" / "reference.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(ref) + "\n")
    print(f"wrote {path}: total {total} after {n_rows} rows, batch rows {batch_rows}")


if __name__ == "__main__":
    main()

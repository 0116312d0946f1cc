"""Print the benchmark table from the JSON files scripts/bench wrote, check that the two
sides agree (W4's head patches to 1e-5, W7's layer patches to 1e-4, W6's argmax token),
and print the goals of the performance issue with where each stands."""

import json
import os
import platform
import statistics
import sys
from pathlib import Path

res = Path(sys.argv[1])
ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "target/bench/gpt2-small-random"
names = {
    "w1": "W1 forward 8x128, logits",
    "w2": "W2 200 sentences (8-24 tok), all hidden states",
    "w3": "W3 run_with_cache, every hook, 8x128",
    "w4": "W4 head patching sweep, 12x12 heads",
    "w5": "W5 logit lens, all layers, 8x128",
    "w6": "W6 gpt2-xl shape: load + first logits, from process start",
    "w7": "W7 gpt2-xl shape: layer-patching sweep, 48 layers",
}


def load(w, side):
    return json.loads((res / f"{w}.{side}.json").read_text())


def gpt2_flop(cfg, batch, pos, unembeds):
    """Matrix-multiply FLOP of a GPT-2 forward over batch x pos tokens: per block 24 d^2
    per token (QKV 6d^2, output 2d^2, MLP 16d^2) and 4 pos d per token for the attention
    scores and their weighted sum (the full square, as the kernels compute it), plus
    `unembeds` unembeddings of 2 d V per token."""
    d, L, V = cfg["n_embd"], cfg["n_layer"], cfg["vocab_size"]
    tokens = batch * pos
    return L * (24 * tokens * d * d + 4 * tokens * pos * d) + unembeds * 2 * tokens * d * V


matmul = json.loads((res / "matmul.json").read_text())
roof = matmul["gflop_per_s"]
cfg = json.loads((SMALL / "config.json").read_text())
w1_in = json.loads((SMALL / "inputs.json").read_text())["w1"]
B, T = len(w1_in), len(w1_in[0])
flop = {
    "w1": gpt2_flop(cfg, B, T, 1),
    "w3": gpt2_flop(cfg, B, T, 1),
    "w5": gpt2_flop(cfg, B, T, cfg["n_layer"]),  # the forward + one unembedding per block
}

print(
    f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
    f"device {os.environ.get('BENCH_DEVICE', 'cpu')}; fp32 matmul {matmul['n']}x{matmul['n']}: "
    f"{roof:.1f} GFLOP/s (the roofline)"
)
print()
print(
    "| workload | reference | ref. median s | ml4llm median s | speed ratio (ref/ours) | ref. peak MiB "
    "| ours peak MiB | memory ratio (ours/ref) | GFLOP/s ref / ours (ours / roofline) |"
)
print("|---|---|---|---|---|---|---|---|---|")
ratio = {}
for w in ["w1", "w2", "w3", "w4", "w5", "w6", "w7"]:
    r, p = load(w, "rust"), load(w, "ref")
    ours = r["variants"]["ml4llm"]
    for ref_name, ref in p["variants"].items():
        speed = ref["median_s"] / ours["median_s"]
        mem = ours["peak_rss_mb"] / ref["peak_rss_mb"]
        ratio[(w, ref_name)] = (speed, mem)
        gf = ""
        if w in flop:
            g_ours = flop[w] / ours["median_s"] / 1e9
            g_ref = flop[w] / ref["median_s"] / 1e9
            ratio[(w, "roofline")] = g_ours / roof
            gf = f"{g_ref:.1f} / {g_ours:.1f} ({g_ours / roof:.2f})"
        print(
            f"| {names[w]} | {ref_name} | {ref['median_s']:.4f} | {ours['median_s']:.4f} | "
            f"{speed:.2f} | {ref['peak_rss_mb']:.0f} | {ours['peak_rss_mb']:.0f} | {mem:.2f} | {gf} |"
        )

ok = True
notes = []
a, b = load("w4", "rust")["values"], load("w4", "ref")["values"]
d4 = max(abs(x - y) for x, y in zip(a, b)) if a and b and len(a) == len(b) else float("inf")
notes.append(f"W4: max |ours - transformers| over the {len(a)} head patches = {d4:.2e}")
ok = ok and d4 <= 1e-5
a, b = load("w7", "rust")["values"], load("w7", "ref")["values"]
d7 = max(abs(x - y) for x, y in zip(a, b)) if a and b and len(a) == len(b) else float("inf")
notes.append(f"W7: max |ours - transformers| over the {len(a)} layer patches = {d7:.2e}")
ok = ok and d7 <= 1e-4
r6, p6 = load("w6", "rust"), load("w6", "ref")
same = r6["values"]["argmax"] == p6["values"]["argmax"]
weights = int((res / "w6.weights_bytes").read_text()) / 2**20
peak6 = r6["variants"]["ml4llm"]["peak_rss_mb"]
notes.append(
    f"W6: weights {weights:.0f} MiB; ours peaks at {peak6 / weights:.3f} x the weights; "
    f"argmax token ours {r6['values']['argmax']}, transformers {p6['values']['argmax']}"
)
ok = ok and same
for w in ["w5"]:
    for side in ["rust", "ref"]:
        for name, v in load(w, side)["variants"].items():
            if "phases_s" in v:
                parts = ", ".join(f"{k} {t:.2f} s" for k, t in v["phases_s"].items())
                notes.append(f"{w.upper()} {name}: {parts}")
for w in ["w1", "w2", "w3", "w4", "w5", "w7"]:
    for side in ["rust", "ref"]:
        for name, v in load(w, side)["variants"].items():
            if "peak_gpu_mb" in v:
                notes.append(f"{w.upper()} {name}: peak GPU memory {v['peak_gpu_mb']:.0f} MiB")
print()
for n in notes:
    print(n)

# W8: the whole book, quick, from release binaries (the runner's records).
runs = json.loads((res / "w8.json").read_text())
walls = {k: v["wall_s"] for k, v in runs.items()}
total = sum(walls.values())
status = [v["status"] for v in runs.values()]
slowest = sorted(walls.items(), key=lambda kv: -kv[1])[:5]
print()
print(
    f"W8 the whole book, --quick, release binaries: {len(runs)} projects "
    f"({status.count('ok')} ok, {status.count('failed')} failed, {status.count('skipped')} skipped), "
    f"{total:.1f} s in all (median {statistics.median(walls.values()):.2f} s)"
)
print("five slowest: " + ", ".join(f"{k} {v:.1f} s" for k, v in slowest))
over10 = [k for k, v in walls.items() if v > 10]
if over10:
    print("over 10 s: " + ", ".join(over10))
failed = [k for k, v in runs.items() if v["status"] == "failed"]
if failed:
    print("failed: " + ", ".join(failed))

# The goals (ratios ours vs reference; higher is better for speed, lower for memory).
print()
print("| goal | measured | |")
print("|---|---|---|")


def goal(text, value, met):
    print(f"| {text} | {value} | {'met' if met else 'missed'} |")


s1, _ = ratio[("w1", "transformers")]
goal("W1 speed >= 1.0", f"{s1:.2f}", s1 >= 1.0)
s2l, _ = ratio[("w2", "transformers_loop")]
s2b, _ = ratio[("w2", "transformers_batched")]
goal("W2 speed >= 3 vs the loop, >= 1.0 vs batched", f"{s2l:.2f}, {s2b:.2f}", s2l >= 3 and s2b >= 1)
s3, m3 = ratio[("w3", "transformer_lens")]
goal("W3 speed >= 1.5, memory <= 1.0", f"{s3:.2f}, {m3:.2f}", s3 >= 1.5 and m3 <= 1.0)
s4, _ = ratio[("w4", "transformers_loop")]
goal("W4 speed >= 5", f"{s4:.2f}", s4 >= 5)
s5, _ = ratio[("w5", "transformers")]
goal("W5 speed >= 1.2", f"{s5:.2f}", s5 >= 1.2)
s6, m6 = ratio[("w6", "transformers")]
goal(
    "W6 time >= 1.5 x faster; peak <= 1.1 x weights and <= transformers'",
    f"{s6:.2f}; {peak6 / weights:.2f}, {m6:.2f}",
    s6 >= 1.5 and peak6 / weights <= 1.1 and m6 <= 1.0,
)
s7, _ = ratio[("w7", "transformers_hooks")]
goal("W7 speed >= 2, outputs agree to 1e-4", f"{s7:.2f}, {d7:.1e}", s7 >= 2 and d7 <= 1e-4)
goal("W8 all projects --quick <= 2 min in total", f"{total:.0f} s", total <= 120 and not failed)
for w in ["w1", "w3", "w5"]:
    f = ratio[(w, "roofline")]
    goal(f"{w.upper()} >= 0.85 of the matmul roofline", f"{f:.2f}", f >= 0.85)
if not ok:
    sys.exit("the two sides disagree (W4 > 1e-5, W7 > 1e-4 or W6's argmax differs)")

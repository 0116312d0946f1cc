"""Print the benchmark table from the JSON files scripts/bench wrote, and check that the
two sides' W4 head-patching results agree to 1e-5."""

import json
import os
import platform
import sys
from pathlib import Path

res = Path(sys.argv[1])
rows = []
names = {
    "w1": "W1 forward 8x128, logits",
    "w2": "W2 200 sentences (8-24 tok), all hidden states",
    "w3": "W3 run_with_cache, every hook, 8x128",
    "w4": "W4 head patching sweep, 12x12 heads",
    "w5": "W5 logit lens, all layers, 8x128",
}
ok = True
print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, device {os.environ.get('BENCH_DEVICE', 'cpu')}")
print(f"| workload | reference | ref. median s | ml4llm median s | speed ratio (ref/ours) | ref. peak MiB | ours peak MiB | memory ratio (ours/ref) |")
print("|---|---|---|---|---|---|---|---|")
for w in ["w1", "w2", "w3", "w4", "w5"]:
    r = json.loads((res / f"{w}.rust.json").read_text())
    p = json.loads((res / f"{w}.ref.json").read_text())
    ours = r["variants"]["ml4llm"]
    for ref_name, ref in p["variants"].items():
        print(
            f"| {names[w]} | {ref_name} | {ref['median_s']:.4f} | {ours['median_s']:.4f} | "
            f"{ref['median_s'] / ours['median_s']:.2f} | {ref['peak_rss_mb']:.0f} | {ours['peak_rss_mb']:.0f} | "
            f"{ours['peak_rss_mb'] / ref['peak_rss_mb']:.2f} |"
        )
    if w == "w4":
        a, b = r["values"], p["values"]
        diff = max(abs(x - y) for x, y in zip(a, b)) if a and b and len(a) == len(b) else float("inf")
        print(f"\nW4: max |ours - transformers| over the {len(a)} head patches = {diff:.2e}", file=sys.stderr)
        ok = ok and diff <= 1e-5
# Where the time goes, for the workloads that time their phases apart (W5).
for w in ["w1", "w2", "w3", "w4", "w5"]:
    for side in ["rust", "ref"]:
        f = res / f"{w}.{side}.json"
        for name, v in json.loads(f.read_text())["variants"].items():
            if "phases_s" in v:
                parts = ", ".join(f"{k} {t:.2f} s" for k, t in v["phases_s"].items())
                print(f"{w.upper()} {name}: {parts}", file=sys.stderr)
            if "peak_gpu_mb" in v:
                print(f"{w.upper()} {name}: peak GPU memory {v['peak_gpu_mb']:.0f} MiB", file=sys.stderr)
if not ok:
    sys.exit("W4 results disagree with the transformers loop by more than 1e-5")

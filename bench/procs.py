"""Time whole processes: scripts/bench's W6 (load a model and compute its first logits,
from process start) for both sides, each run in its own process.

  python bench/procs.py OUT.json WORKLOAD VARIANT REPS -- COMMAND...

Runs COMMAND once as a warm-up (page cache, libtorch's first start), then REPS times;
records each run's wall time (process start to exit) and peak resident memory (the
child's own ru_maxrss, from wait4), and writes the same JSON shape as bench/reference.py:
{"workload", "variants": {VARIANT: {"median_s", "times_s", "peak_rss_mb"}}, "values"}, where
"values" is the JSON object COMMAND printed last (its argmax token and logit).
"""
import json
import os
import statistics
import subprocess
import sys
import time


def run_once(cmd):
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if status != 0:
        sys.exit(f"{cmd[0]} failed with status {status}")
    last = out.decode().strip().splitlines()[-1]
    return wall, usage.ru_maxrss / 1024.0, json.loads(last)


def main():
    out, workload, variant, reps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    assert sys.argv[5] == "--", "usage: procs.py OUT.json WORKLOAD VARIANT REPS -- COMMAND..."
    cmd = sys.argv[6:]
    run_once(cmd)  # warm-up
    walls, rss, values = [], [], None
    for _ in range(reps):
        w, r, values = run_once(cmd)
        walls.append(w)
        rss.append(r)
    result = {"median_s": statistics.median(walls), "times_s": walls, "peak_rss_mb": max(rss)}
    with open(out, "w") as f:
        json.dump({"workload": workload, "variants": {variant: result}, "values": values}, f)


if __name__ == "__main__":
    main()

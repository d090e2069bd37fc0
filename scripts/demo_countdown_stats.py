#!/usr/bin/env python3
"""Held-out figures of a countdown demo run from its saved greedy evaluations (eval.save_samples):
per evaluation step, pass@1, mean response tokens, mean attempts ("try " segments) per response, and the share of
responses with 2+ and 3+ attempts. Usage: demo_countdown_stats.py RUN_DIR [RUN_DIR ...]"""
import glob
import json
import os
import re
import sys


def stats(path):
    with open(path) as f:
        header = json.loads(f.readline())
        if header.get("format") != "reasonrl.eval_samples" or header.get("version") != 1:
            sys.exit(f"{path}:1: not a reasonrl.eval_samples version 1 file")
        rows = [json.loads(line) for line in f if line.strip()]
    n = len(rows)
    if n == 0:
        sys.exit(f"{path}: no samples")
    att = [len(re.findall(r"\btry ", r["response"])) for r in rows]
    return {
        "step": header["step"], "n": n,
        "pass@1": sum(r["correct"] for r in rows) / n,
        "mean_tokens": sum(r["n_tokens"] for r in rows) / n,
        "mean_attempts": sum(att) / n,
        "attempts>=2": sum(a >= 2 for a in att) / n,
        "attempts>=3": sum(a >= 3 for a in att) / n,
        "truncated": sum(r["finish_reason"] == "length" for r in rows) / n,
    }


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for run in sys.argv[1:]:
        files = glob.glob(os.path.join(run, "eval_samples", "step_*.jsonl"))
        if not files:
            sys.exit(f"{run}: no eval_samples/step_*.jsonl (set eval.save_samples)")
        print(f"{run}")
        print("  step  pass@1  tokens  attempts  >=2    >=3    truncated")
        for s in sorted((stats(p) for p in files), key=lambda s: s["step"]):
            print(f"  {s['step']:4d}  {s['pass@1']:.3f}  {s['mean_tokens']:6.1f}  {s['mean_attempts']:8.2f}  "
                  f"{s['attempts>=2']:.3f}  {s['attempts>=3']:.3f}  {s['truncated']:.3f}")


if __name__ == "__main__":
    main()

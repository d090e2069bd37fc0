#!/usr/bin/env python3
"""Held-out figures of a countdown demo run from its saved greedy evaluations (eval.save_samples):
per evaluation step, pass@1, mean response tokens, mean attempts ("try " segments) per response, the share of
responses with 2+ and 3+ attempts, the mean number of distinct attempts (greedy decoding can repeat one), the
share of correct answers that follow a trace with no attempt verdict `= T` (answers guessed rather than found), the
share of written `a op b=r` steps whose result is wrong (re-computed here),
and pass@k (Chen et al.'s unbiased estimator from each prompt's sampled_correct, when the evaluation measured it).
Usage: demo_countdown_stats.py [--k K] [--n N] RUN_DIR [RUN_DIR ...] (K = 8 and N = 8: the configs' pass_k and
pass_k_samples)"""
import glob
import json
import math
import os
import re
import sys


STEP = re.compile(r"(\d+)\s*([-+*/])\s*(\d+)\s*=\s*(\d+)")


def wrong_steps(response):
    """(steps, wrong) over the `a op b=r` steps of the response's attempts."""
    think = response.split("</think>")[0]
    n = bad = 0
    for a, op, b, r in STEP.findall(think):
        a, b, r = int(a), int(b), int(r)
        v = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else None}[op]
        n += 1
        bad += v != r
    return n, bad


def attempts(response):
    """The attempts of the response's trace: `try ...` segments, each without its leading `try `."""
    think = response.split("</think>")[0]
    return [a.strip().rstrip(";").strip() for a in re.split(r"\btry ", think)[1:]]


def found(atts):
    """Whether some attempt (of attempts()) ends with the verdict `= T` (a hit, not `!= T`)."""
    return any(re.search(r"(?<![!<>])=\s*\d+$", a) for a in atts)


def pass_at_k(n, c, k):
    return 1.0 if n - c < k else 1.0 - math.comb(n - c, k) / math.comb(n, k)


def stats(path, k, n_samples):
    with open(path) as f:
        header = json.loads(f.readline())
        if header.get("format") != "reasonrl.eval_samples" or header.get("version") != 1:
            sys.exit(f"{path}:1: not a reasonrl.eval_samples version 1 file")
        rows = [json.loads(line) for line in f if line.strip()]
    n = len(rows)
    if n == 0:
        sys.exit(f"{path}: no samples")
    atts = [attempts(r["response"]) for r in rows]
    att = [len(a) for a in atts]
    guessed = [not found(a) for r, a in zip(rows, atts) if r["correct"]]
    steps = [wrong_steps(r["response"]) for r in rows]
    sampled = [r["sampled_correct"] for r in rows if "sampled_correct" in r]
    return {
        "wrong_steps": sum(b for _, b in steps) / max(1, sum(a for a, _ in steps)),
        "pass@k": sum(pass_at_k(n_samples, c, k) for c in sampled) / n if len(sampled) == n else None,
        "step": header["step"], "n": n,
        "pass@1": sum(r["correct"] for r in rows) / n,
        "mean_tokens": sum(r["n_tokens"] for r in rows) / n,
        "mean_attempts": sum(att) / n,
        "distinct": sum(len(set(a)) for a in atts) / n,
        "guessed": sum(guessed) / max(1, len(guessed)),
        "attempts>=2": sum(a >= 2 for a in att) / n,
        "attempts>=3": sum(a >= 3 for a in att) / n,
        "truncated": sum(r["finish_reason"] == "length" for r in rows) / n,
    }


def main():
    args = sys.argv[1:]
    k = n_samples = 8
    while args and args[0] in ("--k", "--n"):
        if len(args) < 2:
            sys.exit(__doc__)
        if args[0] == "--k":
            k = int(args[1])
        else:
            n_samples = int(args[1])
        args = args[2:]
    if not args:
        sys.exit(__doc__)
    for run in args:
        files = glob.glob(os.path.join(run, "eval_samples", "step_*.jsonl"))
        if not files:
            sys.exit(f"{run}: no eval_samples/step_*.jsonl (set eval.save_samples)")
        print(f"{run}")
        print(f"  step  pass@1  pass@{k}  tokens  attempts  distinct  >=2    >=3    truncated  wrong steps  guessed")
        for s in sorted((stats(p, k, n_samples) for p in files), key=lambda s: s["step"]):
            pk = f"{s['pass@k']:.3f}" if s["pass@k"] is not None else "  -  "
            print(f"  {s['step']:4d}  {s['pass@1']:.3f}  {pk}   {s['mean_tokens']:6.1f}  {s['mean_attempts']:8.2f}  "
                  f"{s['distinct']:8.2f}  {s['attempts>=2']:.3f}  {s['attempts>=3']:.3f}  {s['truncated']:.3f}      "
                  f"{s['wrong_steps']:.3f}        {s['guessed']:.3f}")


if __name__ == "__main__":
    main()

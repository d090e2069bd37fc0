#!/usr/bin/env python3
"""Summarise the stability study (scripts/stability_study.sh; rl/core/NOTES.md "Stability study"): for every run
directory ARM-sSEED under STUDY_DIR, its per-step metrics.jsonl, its evals.jsonl (held-out greedy pass@1 at the
start and the end) and its .time file (/usr/bin/time: wall, user, sys seconds; CPU = user + sys, also per 1,000
generated tokens, since collapsed runs change their response lengths). Prints one row per run and one per
arm.

Collapse: the rolling mean (WINDOW steps) of the training reward (`reward/mean`, the weighted sum) falls below half
of its starting value (the mean of the first WINDOW steps) and is still below it at the end (the last WINDOW steps).
A run that fell below half and came back is counted as "dipped". The same rule on the sampled accuracy (`accuracy`, the
task's own success; reward/mean also holds the format and trace terms, which keep paying after the answers stop being
right) is reported as "acc collapse".

Usage: stability_study.py STUDY_DIR [--window N] [--per-step ARM-sSEED]"""
import argparse
import glob
import json
import math
import os
import re
import sys

ARMS = ["token", "gspo", "replay", "determ"]


def read_jsonl(path):
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{n}: not JSON ({e})")
    return rows


def series(rows, key, path):
    out = []
    for r in rows:
        if key not in r:
            sys.exit(f"{path}: step {r.get('step')} has no key '{key}'")
        v = r[key]
        out.append(float("nan") if v is None else float(v))
    return out


def rolling(xs, w):
    return [sum(xs[i - w + 1:i + 1]) / w for i in range(w - 1, len(xs))]


def mean(xs):
    xs = [x for x in xs if not math.isnan(x)]
    return sum(xs) / len(xs) if xs else float("nan")


def summarise(run_dir, window):
    mpath = os.path.join(run_dir, "metrics.jsonl")
    rows = read_jsonl(mpath)
    if len(rows) < 2 * window:
        print(f"{mpath}: {len(rows)} steps, fewer than two windows of {window}: left out", file=sys.stderr)
        return None
    reward = series(rows, "reward/mean", mpath)
    roll = rolling(reward, window)
    start, end = roll[0], roll[-1]
    fell = min(roll) < start / 2
    acc_roll = rolling(series(rows, "accuracy", mpath), window)
    s = {"windows": [mean(reward[i:i + window]) for i in range(0, len(reward), window)],
         "acc_windows": [mean(series(rows[i:i + window], "accuracy", mpath)) for i in range(0, len(rows), window)],
         "steps": len(rows), "reward_start": start, "reward_end": end, "reward_min": min(roll),
         "collapse": fell and end < start / 2, "dipped": fell and end >= start / 2,
         "acc_collapse": acc_roll[-1] < acc_roll[0] / 2,
         "acc_start": mean(series(rows[:window], "accuracy", mpath)),
         "acc_end": mean(series(rows[-window:], "accuracy", mpath)),
         "clip_frac": mean(series(rows, "clip_frac", mpath)),
         "entropy_start": mean(series(rows[:window], "entropy", mpath)),
         "entropy_end": mean(series(rows[-window:], "entropy", mpath)),
         "len_start": mean(series(rows[:window], "len/mean", mpath)),
         "len_end": mean(series(rows[-window:], "len/mean", mpath))}
    rm = series(rows, "moe/route_mismatch", mpath)
    s["route_mismatch_mean"], s["route_mismatch_max"] = mean(rm), max(rm)
    own = series(rows, "moe/route_mismatch_own", mpath)
    s["route_mismatch_own_mean"] = mean(own)
    # steps where the trainer's own router picked another top-k than the rollout for some (token, layer)
    s["flip_steps"] = sum(x > 0 for x in own)
    s["expert_change"] = mean(series(rows, "moe/expert_change_rate", mpath))
    ld = series(rows, "rollout/logp_max_abs_diff", mpath)
    s["logp_diff_mean"], s["logp_diff_max"] = mean(ld), max(ld)
    s["logp_diff_max_noflip"] = max((d for d, x in zip(ld, own) if x == 0), default=float("nan"))
    epath = os.path.join(run_dir, "evals.jsonl")
    evals = read_jsonl(epath) if os.path.exists(epath) else []
    s["pass_start"] = next((e["eval/pass@1"] for e in evals if e["step"] == 0), float("nan"))
    s["pass_end"] = next((e["eval/pass@1"] for e in evals if e["step"] == len(rows)), float("nan"))
    s["tokens"] = sum(series(rows, "rollout/tokens", mpath))
    s["wall"] = s["cpu"] = float("nan")
    tpath = run_dir + ".time"
    s["finished"] = os.path.exists(tpath)  # stability_study.sh writes it when the run has ended
    if s["finished"]:
        with open(tpath) as f:
            parts = f.read().split()
        if len(parts) != 3:
            sys.exit(f"{tpath}:1: expected 'wall user sys' seconds, got {' '.join(parts)!r}")
        s["wall"], s["cpu"] = float(parts[0]), float(parts[1]) + float(parts[2])
    return s


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("study_dir")
    ap.add_argument("--window", type=int, default=10, help="rolling-mean window in steps (default 10)")
    ap.add_argument("--per-step", metavar="RUN", help="print one run's per-step reward, accuracy and metrics instead")
    a = ap.parse_args()
    if a.per_step:
        path = os.path.join(a.study_dir, a.per_step, "metrics.jsonl")
        keys = ["reward/mean", "accuracy", "clip_frac", "entropy", "len/mean", "moe/route_mismatch",
                "moe/expert_change_rate", "rollout/logp_max_abs_diff"]
        print("step\t" + "\t".join(keys))
        for r in read_jsonl(path):
            print(f"{r['step']}\t" + "\t".join(f"{r.get(k, float('nan')):.4g}" for k in keys))
        return
    runs = {}
    for d in sorted(glob.glob(os.path.join(a.study_dir, "*-s*"))):
        m = re.fullmatch(r"([a-z]+)-s(\d+)", os.path.basename(d))
        if m and os.path.isdir(d) and os.path.exists(os.path.join(d, "metrics.jsonl")):
            s = summarise(d, a.window)
            if s is not None:
                runs[(m.group(1), int(m.group(2)))] = s
    if not runs:
        sys.exit(f"{a.study_dir}: no ARM-sSEED run directory with a metrics.jsonl")
    order = sorted(runs, key=lambda k: (ARMS.index(k[0]) if k[0] in ARMS else len(ARMS), k[0], k[1]))
    print(f"reward = rolling mean over {a.window} steps of reward/mean (start -> min -> end); "
          "acc = sampled accuracy, first/last window")
    print("| run | steps | reward start → min → end | collapse | acc start → end | pass@1 start → end | "
          "acc collapse | route_mismatch mean (max) | own: mean, steps > 0 | expert_change | "
          "logp_max_abs_diff mean (max; max on steps without own flip) | clip_frac | "
          "entropy start → end | len start → end | wall / CPU s | CPU ms per 1k tokens |")
    print("|" + "---|" * 16)
    for k in order:
        s = runs[k]
        flag = "**yes**" if s["collapse"] else ("dipped" if s["dipped"] else "no")
        print(f"| {k[0]} s{k[1]} | {s['steps']}{'' if s['finished'] else ' (running)'} | {s['reward_start']:.3f} → {s['reward_min']:.3f} → "
              f"{s['reward_end']:.3f} | {flag} | {s['acc_start']:.3f} → {s['acc_end']:.3f} | "
              f"{s['pass_start']:.3f} → {s['pass_end']:.3f} | {'**yes**' if s['acc_collapse'] else 'no'} | "
              f"{s['route_mismatch_mean']:.2e} ({s['route_mismatch_max']:.2e}) | "
              f"{s['route_mismatch_own_mean']:.2e}, {s['flip_steps']} | {s['expert_change']:.4f} | "
              f"{s['logp_diff_mean']:.2e} ({s['logp_diff_max']:.2e}; {s['logp_diff_max_noflip']:.2e}) | {s['clip_frac']:.4f} | {s['entropy_start']:.3f} → "
              f"{s['entropy_end']:.3f} | {s['len_start']:.1f} → {s['len_end']:.1f} | {s['wall']:.0f} / {s['cpu']:.0f} | "
              f"{1e6 * s['cpu'] / s['tokens']:.0f} |")
    print()
    print(f"training reward (reward/mean) / sampled accuracy, mean of each {a.window} steps:")
    for k in order:
        s = runs[k]
        print(f"  {k[0]:>6} s{k[1]}: " + " ".join(f"{r:.2f}" for r in s["windows"]) + "  /  " +
              " ".join(f"{x:.2f}" for x in s["acc_windows"]))
    print()
    print("per arm, finished runs only:")
    print("| arm | runs | collapsed (reward) | dipped | acc collapsed | reward end / start | pass@1 end − start | "
          "route_mismatch | expert_change | logp_max_abs_diff max | clip_frac | wall / CPU s | CPU ms per 1k tokens |")
    print("|" + "---|" * 13)
    for arm in dict.fromkeys(k[0] for k in order):
        ss = [runs[k] for k in order if k[0] == arm and runs[k]["finished"]]
        if not ss:
            continue
        print(f"| {arm} | {len(ss)} | {sum(s['collapse'] for s in ss)} | {sum(s['dipped'] for s in ss)} | "
              f"{sum(s['acc_collapse'] for s in ss)} | "
              f"{mean([s['reward_end'] / s['reward_start'] for s in ss]):.2f} | "
              f"{mean([s['pass_end'] - s['pass_start'] for s in ss]):+.3f} | "
              f"{mean([s['route_mismatch_mean'] for s in ss]):.2e} | {mean([s['expert_change'] for s in ss]):.4f} | "
              f"{max(s['logp_diff_max'] for s in ss):.2e} | {mean([s['clip_frac'] for s in ss]):.4f} | "
              f"{mean([s['wall'] for s in ss]):.0f} / {mean([s['cpu'] for s in ss]):.0f} | "
              f"{mean([1e6 * s['cpu'] / s['tokens'] for s in ss]):.0f} |")


if __name__ == "__main__":
    main()

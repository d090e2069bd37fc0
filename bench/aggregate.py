#!/usr/bin/python3
"""aggregate.py: the benchmark suite's one table (issue 10). Reads the logs scripts/bench.sh collected in LOG_DIR (one
file per benchmark, each printing "<bench> <what> key=value ..." lines), prints a Markdown table of
what | ours | reference | ratio | target | met, and writes it with the machine, the load and every parsed line as JSON.
Python standard library only.
Usage: aggregate.py LOG_DIR OUT.json
"""
import json
import os
import platform
import re
import subprocess
import sys


def parse(path):
    """Lines '<bench> [what] k=v k=v ...' -> list of (what, {k: v}); numbers converted, 'what' is '' when absent."""
    out = []
    if not os.path.exists(path):
        return out
    for line in open(path, errors="replace"):
        parts = line.split()
        if len(parts) < 2 or not parts[0].startswith(("bench_", "torch_peer")):
            continue
        what = "" if "=" in parts[1] else parts[1]
        kv = {}
        for p in parts[1 if what == "" else 2:]:
            if "=" in p:
                k, v = p.split("=", 1)
                try:
                    kv[k] = int(v) if v.lstrip("-").isdigit() else float(v)
                except ValueError:
                    kv[k] = v
        out.append((what, kv))
    return out


def find(lines, what_, **match):
    for w, kv in lines:
        if w == what_ and all(kv.get(k) == v for k, v in match.items()):
            return kv
    return None


def lscpu():
    info = {}
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                info[k.strip()] = v.strip()
    except OSError:
        pass
    return info


def main():
    log_dir, out_json = sys.argv[1], sys.argv[2]
    L = {name: parse(os.path.join(log_dir, name + ".log"))
         for name in ("suite", "suite2", "peer", "rollout", "rollout2", "rewards", "tokenizer", "store")}
    meta = json.load(open(os.path.join(log_dir, "meta.json")))
    rows = []

    def row(section, what, ours, ref=None, ratio=None, target=None, met=None, unit="", ref_what="", note=""):
        rows.append({"section": section, "what": what, "ours": ours, "unit": unit, "reference": ref, "reference_what": ref_what,
                     "ratio": ratio, "target": target, "met": met, "note": note})

    def ge(x, t):
        return None if x is None else bool(x >= t)

    S = L["suite"]
    p1, p2 = find(S, "fma_peak", threads=1), find(S, "fma_peak", threads=2)
    peak1 = p1["gflops"] if p1 else None
    peak2 = p2["gflops"] if p2 else None
    # ---- machine limits
    if p1 and p2:
        row("machine", "FP32 FMA peak, 1 thread", peak1, unit="GFLOP/s")
        row("machine", "FP32 FMA peak, 2 threads", peak2, 2 * peak1, peak2 / (2 * peak1), unit="GFLOP/s",
            ref_what="2 x the 1-thread peak")
    mdl = find(S, "model")
    for th in (1, 2):
        bw = find(S, "read_bw", threads=th)
        if bw:
            row("machine", "read bandwidth, model working set (%.2f MB), %d thread%s" % (bw["working_set_mb"], th, "s" * (th > 1)),
                bw["working_set_gbs"], unit="GB/s")
            row("machine", "read bandwidth, DRAM (512 MB buffer), %d thread%s" % (th, "s" * (th > 1)), bw["dram_gbs"],
                bw["working_set_gbs"], bw["dram_gbs"] / bw["working_set_gbs"], unit="GB/s", ref_what="working-set bandwidth")
    # ---- GEMM on the model's shapes
    for th in (2, 1):
        for mode, name in (("fwd", "forward Y = X W^T"), ("dx", "dX = dY W"), ("dw", "dW = dY^T X")):
            g = find(S, "gemm", mode=mode, threads=th)
            if g:
                row("gemm", "GEMM %s, the model's shapes (N=%d, step-weighted), %d thread%s" % (name, g["N"], th, "s" * (th > 1)),
                    g["gflops"], g["peak_gflops"], g["of_peak"], unit="GFLOP/s", ref_what="%d-thread FMA peak" % th)
    # ---- training
    P = L["peer"]
    S2 = L["suite2"]

    def best_of_runs(what_, **match):  # ours measured before and after the peer: the faster run (MFU from this run's peaks)
        c = [kv for kv in (find(S, what_, **match), find(S2, what_, **match)) if kv]
        if not c:
            return None
        b = dict(max(c, key=lambda kv: kv["tokens_per_s"]))
        if what_ == "train":
            pk = peak1 if b["threads"] == 1 else peak2
            b["peak_gflops"], b["gflops"] = pk, b["train_flops_per_token"] * b["tokens_per_s"] / 1e9
            b["mfu"] = b["gflops"] / pk
        return b

    tr2, tr1 = best_of_runs("train", threads=2), best_of_runs("train", threads=1)
    pt = find(P, "best", what="train")
    train_best = None
    if tr1 and tr2:
        train_best = max(tr1, tr2, key=lambda t: t["tokens_per_s"])
    if train_best and pt:
        r = train_best["tokens_per_s"] / pt["tokens_per_s"]
        row("train", "train step tokens/s vs PyTorch (B=%d, T=%d; ours %d thr, torch %d thr + OpenBLAS %d thr)" % (
            train_best["B"], train_best["T"], train_best["threads"], pt["torch_threads"], pt["openblas_threads"]),
            train_best["tokens_per_s"], pt["tokens_per_s"], r, 1.5, ge(r, 1.5), unit="tokens/s", ref_what="PyTorch peer, best of 4")
    if tr2:
        row("train", "train MFU, 2 threads (%.2f MFLOP/token = 6 x active + attention)" % (tr2["train_flops_per_token"] / 1e6),
            tr2["gflops"], tr2["peak_gflops"], tr2["mfu"], 0.35, ge(tr2["mfu"], 0.35), unit="GFLOP/s", ref_what="2-thread FMA peak")
    if tr1:
        row("train", "train MFU, 1 thread", tr1["gflops"], tr1["peak_gflops"], tr1["mfu"], unit="GFLOP/s", ref_what="1-thread FMA peak")
    tb = max((kv for kv in (find(S, "train", threads=1), find(S, "train", threads=2)) if kv), key=lambda kv: kv["tokens_per_s"], default=None)
    st = find(S, "stages", threads=tb["threads"]) if tb else None  # the split of the faster configuration of the main run
    if st:
        for k, name in (("gemm", "GEMM (fwd + dX + dW, replayed on real shapes)"), ("attention", "attention core (scores, softmax, values)"),
                        ("router", "router + MoE dispatch/combine"), ("norms", "RMSNorms"), ("swiglu", "SwiGLU activations"),
                        ("loss", "softmax cross-entropy (main + MTP)"), ("optimizer", "AdamW + router-bias update"),
                        ("rest", "rest (RoPE, residuals, embedding, copies; step minus the above)")):
            row("train stages", "step time (%d thread%s): %s" % (st["threads"], "s" * (st["threads"] > 1), name), st[k + "_ms"],
                st["step_ms"], st[k + "_ms"] / st["step_ms"], unit="ms", ref_what="step ms")
    # ---- decode
    R = L["rollout"]
    for b in (1, 8, 32, 64):
        d = find(R, "decode", batch=b)
        if d:
            row("decode", "decode tokens/s, batch %d ÷ min(bandwidth, compute) bound (%s-bound)" % (
                b, "memory" if d["mem_bound"] <= d["compute_bound"] else "compute"), d["tokens_per_s"], d["bound"],
                d["fraction_of_bound"], 0.60, ge(d["fraction_of_bound"], 0.60), unit="tokens/s", ref_what="bound")
    over_bound = [(b, find(R, "decode", batch=b)["fraction_of_bound"]) for b in (1, 8, 32, 64)
                  if find(R, "decode", batch=b) and find(R, "decode", batch=b)["fraction_of_bound"] > 1.0]
    for b in (8, 64):  # the same decode against the 1-thread FMA peak of bench_suite
        d = find(R, "decode", batch=b)
        if d and peak1:
            gf = d["tokens_per_s"] * d["mflop_per_token"] / 1e3
            row("decode", "decode GFLOP/s, batch %d, 1 thread ÷ 1-thread FMA peak" % b, gf, peak1, gf / peak1,
                unit="GFLOP/s", ref_what="1-thread FMA peak")
    for b, tgt in ((1, 20.0), (64, 3.0)):
        o = best_of_runs("decode_greedy", batch=b)
        pd = find(P, "best", what="decode_b%d" % b)
        if o and pd:
            r = o["tokens_per_s"] / pd["tokens_per_s"]
            row("decode", "greedy decode tokens/s vs PyTorch, batch %d (KV cache; ours %d thr, torch %d thr + OpenBLAS %d thr)" % (
                b, o["threads"], pd["torch_threads"], pd["openblas_threads"]), o["tokens_per_s"], pd["tokens_per_s"], r, tgt,
                ge(r, tgt), unit="tokens/s", ref_what="PyTorch peer, best of 4")
    # ---- rollout
    u = find(R, "useful_fraction")
    if u:
        row("rollout", "useful-token fraction, continuous batching (long-tailed lengths)", u["continuous"], u["static_padded"],
            None, 0.95, ge(u["continuous"], 0.95), ref_what="padded static batch")
    for log, threads in (("rollout", 1), ("rollout2", 2)):
        parts = [kv for w, kv in L[log] if w == "partial"]
        for kv_mode in ("reuse", "recompute"):  # the best variant of each way to continue a cut trajectory
            ps = [kv for kv in parts if kv.get("kv", "recompute") == kv_mode]
            if not ps:
                continue
            bp = max(ps, key=lambda kv: kv["speedup"])
            row("rollout", "partial ÷ synchronous rollout speed, long tail, %d thread%s, kv=%s (best variant: %s %s)" % (
                threads, "s" * (threads > 1), kv_mode, bp["mode"], bp["segment"] if bp["mode"] == "segment" else bp["budget"]),
                bp["wall_s"], bp["sync_wall_s"], bp["speedup"], 1.15, ge(bp["speedup"], 1.15), unit="s",
                ref_what="synchronous wall s")
    # ---- rewards
    rw = [kv for w, kv in L["rewards"] if "accuracy_responses_per_s" in kv]
    if rw:
        v = rw[-1]["accuracy_responses_per_s"]
        row("rewards", "accuracy grader (math_verify) on MATH-500 solutions, 1 core", v, 20000, v / 20000, 20000, ge(v, 20000),
            unit="responses/s", ref_what="target")
    # ---- tokenizer
    T = L["tokenizer"]
    ours_t = {kv["threads"]: kv for w, kv in T if kv.get("variant") == "ours"}
    hf = [kv for w, kv in T if kv.get("variant") == "hf_tokenizers_encodeBatch"]
    if ours_t and hf:
        for th in sorted(ours_t):
            r = ours_t[th]["mb_per_s"] / hf[-1]["mb_per_s"]
            row("tokenizer", "BPE encode MB/s, DeepSeek-V3 tokenizer, %d thread%s vs HF tokenizers (Node) encodeBatch" % (
                th, "s" * (th > 1)), ours_t[th]["mb_per_s"], hf[-1]["mb_per_s"], r, 2.0 if th == 1 else None,
                ge(r, 2.0) if th == 1 else None, unit="MB/s", ref_what="JS peer, its default threads")
    else:
        row("tokenizer", "BPE encode MB/s vs HF tokenizers", None, note="skipped: see tokenizer.log")
    # ---- store
    ST = L["store"]
    ours_s = next((kv for w, kv in ST if kv.get("variant") == "per_step_txn_normal"), None)
    naive = next((kv for w, kv in ST if kv.get("variant") == "naive_autocommit_normal"), None)
    if ours_s:
        row("store", "SQLite store writer rows/s (one transaction per step)", ours_s["rows_per_s"],
            naive["rows_per_s"] if naive else None, ours_s["rows_per_s"] / naive["rows_per_s"] if naive else None,
            unit="rows/s", ref_what="autocommit per row")
    sh = None
    if os.path.exists(os.path.join(log_dir, "store.log")):
        for line in open(os.path.join(log_dir, "store.log")):
            m = re.search(r"writing ([0-9.]+) ms vs generating ([0-9.]+) tokens at ([0-9.]+) tokens/s \(([0-9.]+) s\)", line)
            if m:
                sh = [float(x) for x in m.groups()]
    if sh:
        write_ms, step_ms = sh[0], sh[3] * 1e3
        row("store", "SQLite write time ÷ RL step time (512 samples/step; step = their generation at the batch-64 decode "
            "rate measured above, %.0f tokens/s)" % sh[2], write_ms, step_ms, write_ms / step_ms, 0.05, write_ms / step_ms <= 0.05,
            unit="ms", ref_what="step ms")

    # ---- print
    def fmt(x):
        if x is None:
            return ""
        if isinstance(x, bool):
            return "yes" if x else "**no**"
        if abs(x) >= 1000:
            return "{:,.0f}".format(x)
        if abs(x) >= 100:
            return "%.0f" % x
        if abs(x) >= 10:
            return "%.1f" % x
        return "%.3g" % x

    print("| section | what | ours | reference | ratio | target | met |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        ours = fmt(r["ours"]) + (" " + r["unit"] if r["unit"] and r["ours"] is not None else "")
        ref = (fmt(r["reference"]) + (" (" + r["reference_what"] + ")" if r["reference_what"] else "")) if r["reference"] is not None else ""
        tgt = ("≤ " if r["section"] == "store" and r["target"] == 0.05 else "≥ ") + fmt(r["target"]) if r["target"] is not None else ""
        print("| %s | %s | %s | %s | %s | %s | %s |" % (r["section"], r["what"] + (" (" + r["note"] + ")" if r["note"] else ""), ours,
                                                      ref, fmt(r["ratio"]), tgt, fmt(r["met"])))
    cpu = lscpu()
    out = {
        "machine": {"cpu": cpu.get("Model name"), "cpus": cpu.get("CPU(s)"), "threads_per_core": cpu.get("Thread(s) per core"),
                    "caches": {k: v for k, v in cpu.items() if "cache" in k}, "kernel": platform.release()},
        "meta": meta,
        "rows": rows,
        "raw": {name: [{"what": w, **kv} for w, kv in lines] for name, lines in L.items()},
    }
    with open(out_json, "w") as f:
        json.dump(out, f, indent=1)
    print("\nload average (1 min) at start %s, at end %s; written %s" % (meta.get("loadavg_start", "?").split()[0],
                                                                      meta.get("loadavg_end", "?").split()[0], out_json))
    if over_bound:  # decode faster than min(bytes / peak read bandwidth, FLOPs / FMA peak): the bound is not a bound
        sys.exit("aggregate: decode above its bound (batch, fraction): %s" % over_bound)


if __name__ == "__main__":
    main()

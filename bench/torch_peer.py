#!/usr/bin/python3
"""torch_peer.py: the PyTorch peer of the benchmark suite (issue 10), run by /usr/bin/python3 (Debian's python3-torch).

The same tiny DeepSeek-V3-style MoE as ours (MLA, shared + routed experts with sigmoid top-k gating and the
e_score_correction_bias, MTP head, sequence-wise balance loss), in float32, with the weights read from the checkpoint
that bench_suite wrote (model.safetensors, parsed by tests/golden/deepseek_ref.py's reader). Written as a user would
write it for speed in eager PyTorch 1.13: F.linear on the HF weights, one matmul for [nope | rope] scores, sparse MoE
dispatch (tokens sorted by expert, one SwiGLU per expert on its rows, index_add back), torch.optim.AdamW (foreach).

  (1) train step: forward + CE + MTP loss + balance loss, backward, global-norm clip 1.0, AdamW (beta2 0.95,
      weight decay 0.1 on 2-D weights only), router-bias update; B x T from peer_inputs.json; tokens/s.
  (2) greedy decode with a KV cache at batch 1 and 64: prompts of 32 tokens, 64 new tokens, the decode steps timed.
      The cache holds the EXPANDED per-head K ([k_nope | k_rope], 48 floats) and V (32 floats) of every layer,
      preallocated (HF DeepseekV3's layout), not MLA's latent; attention reads it in place.

Before anything is timed, every worker checks that its log-probs agree with ours (max abs diff < 1e-3 over a 4 x 64
batch, both the full forward and the KV-cache decode path) and that the training loss agrees; it fails loudly
otherwise. The parent runs one worker per (torch threads, OpenBLAS threads) in {1, 2} x {1, 2} (OPENBLAS_NUM_THREADS
is set per subprocess) and reports the best of each figure, with the BLAS library torch actually loaded.

Usage: torch_peer.py CHECKPOINT_DIR            (CHECKPOINT_DIR also holds bench_suite's peer_inputs.json)
Prints "torch_peer <what> key=value ..." lines (read by bench/aggregate.py).
"""
import json
import math
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "golden"))
import deepseek_ref  # noqa: E402  (the golden reference: we reuse its safetensors reader)

deepseek_ref.DT = torch.float32
DT = torch.float32


class Peer:
    def __init__(self, cfg, W):
        self.c = cfg
        self.W = {}
        for k, v in W.items():
            t = v.to(DT).contiguous()
            if not k.endswith("e_score_correction_bias"):
                t.requires_grad_(True)
            self.W[k] = t
        c = cfg
        self.H, self.Dn, self.Dr, self.Dv, self.C = (c["num_attention_heads"], c["qk_nope_head_dim"], c["qk_rope_head_dim"],
                                                     c["v_head_dim"], c["kv_lora_rank"])
        self.eps = c["rms_norm_eps"]
        self.scale = 1.0 / math.sqrt(self.Dn + self.Dr)
        maxpos = c["max_position_embeddings"]
        inv = c["rope_theta"] ** (-torch.arange(0, self.Dr, 2, dtype=torch.float64) / self.Dr)
        ang = torch.arange(maxpos, dtype=torch.float64)[:, None] * inv[None, :]
        self.cos, self.sin = torch.cos(ang).to(DT), torch.sin(ang).to(DT)
        self.L = c["num_hidden_layers"]
        self.mtp = c["num_nextn_predict_layers"] > 0 and c["mtp_loss_weight"] > 0
        self.loads = {}

    def params(self):
        return [t for t in self.W.values() if t.requires_grad]

    def norm(self, x, name):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.W[name]

    def rope(self, x, pos):
        """x (..., T, Dr), pos: start position (int); adjacent pairs."""
        T = x.shape[-2]
        cos, sin = self.cos[pos:pos + T], self.sin[pos:pos + T]
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)

    def swiglu(self, x, p):
        W = self.W
        return F.linear(F.silu(F.linear(x, W[p + "gate_proj.weight"])) * F.linear(x, W[p + "up_proj.weight"]), W[p + "down_proj.weight"])

    def qkv(self, x, p, pos):
        """x (B, T, D) -> q (B, H, T, Dn+Dr) rotated, k (B, H, T, Dn+Dr), v (B, H, T, Dv)."""
        c, W = self.c, self.W
        B, T, _ = x.shape
        H, Dn, Dr, Dv, C = self.H, self.Dn, self.Dr, self.Dv, self.C
        if c["q_lora_rank"] > 0:
            q = F.linear(self.norm(F.linear(x, W[p + "q_a_proj.weight"]), p + "q_a_layernorm.weight"), W[p + "q_b_proj.weight"])
        else:
            q = F.linear(x, W[p + "q_proj.weight"])
        q = q.view(B, T, H, Dn + Dr).transpose(1, 2)
        q = torch.cat([q[..., :Dn], self.rope(q[..., Dn:], pos)], dim=-1)
        kva = F.linear(x, W[p + "kv_a_proj_with_mqa.weight"])
        k_pe = self.rope(kva[..., C:], pos)  # (B, T, Dr), shared by the heads
        kv = F.linear(self.norm(kva[..., :C], p + "kv_a_layernorm.weight"), W[p + "kv_b_proj.weight"])
        kv = kv.view(B, T, H, Dn + Dv).transpose(1, 2)
        k = torch.cat([kv[..., :Dn], k_pe[:, None].expand(B, H, T, Dr)], dim=-1)
        return q, k, kv[..., Dn:]

    def attention(self, x, p, cache=None, layer=0, pos=0):
        B, T, _ = x.shape
        q, k, v = self.qkv(x, p, pos)
        if cache is not None:  # write this step's K / V into the preallocated cache, attend over [0, pos + T)
            kc, vc = cache
            kc[layer, :B, :, pos:pos + T] = k
            vc[layer, :B, :, pos:pos + T] = v
            k, v = kc[layer, :B, :, :pos + T], vc[layer, :B, :, :pos + T]
        s = (q @ k.transpose(-1, -2)) * self.scale
        if T > 1:
            S = k.shape[-2]
            mask = torch.ones(T, S, dtype=torch.bool).tril(S - T)
            s = s.masked_fill(~mask, float("-inf"))
        o = torch.softmax(s, dim=-1) @ v
        return F.linear(o.transpose(1, 2).reshape(B, T, self.H * self.Dv), self.W[p + "o_proj.weight"])

    def moe(self, x, p, cnt_rows, training):
        """x (B, T, D). cnt_rows: tokens per row that count for loads / balance loss (the first cnt_rows of each row)."""
        c, W = self.c, self.W
        E, K = c["n_routed_experts"], c["num_experts_per_tok"]
        B, T, D = x.shape
        xf = x.reshape(-1, D)
        s = torch.sigmoid(F.linear(xf, W[p + "gate.weight"]))  # (N, E)
        biased = s.detach() + W[p + "gate.e_score_correction_bias"]
        if c["n_group"] > 1:
            G = c["n_group"]
            g = biased.view(-1, G, E // G)
            gscore = g.topk(2, dim=-1).values.sum(-1)
            keep = gscore.topk(c["topk_group"], dim=-1).indices
            gmask = torch.zeros_like(gscore, dtype=torch.bool).scatter_(-1, keep, True)
            biased = biased.masked_fill(~gmask[..., None].expand(-1, G, E // G).reshape(-1, E), float("-inf"))
        idx = biased.topk(K, dim=-1).indices  # (N, K)
        w = s.gather(-1, idx)
        if c["norm_topk_prob"]:
            w = w / (w.sum(-1, keepdim=True) + 1e-20)
        w = w * c["routed_scaling_factor"]
        y = self.swiglu(xf, p + "shared_experts.") if c["n_shared_experts"] > 0 else torch.zeros_like(xf)
        flat = idx.reshape(-1)
        order = torch.sort(flat, stable=True).indices
        tok = order // K
        counts = torch.bincount(flat, minlength=E).tolist()
        xe = xf[tok]
        outs, r0 = [], 0
        for e in range(E):
            n = counts[e]
            if n:
                outs.append(self.swiglu(xe[r0:r0 + n], p + "experts.%d." % e))
            r0 += n
        ye = torch.cat(outs) * w.reshape(-1)[order][:, None]
        y = y.index_add(0, tok, ye)
        bal = None
        if training:
            cm = idx.view(B, T, K)[:, :cnt_rows]
            self.loads[p] = self.loads.get(p, 0) + torch.bincount(cm.reshape(-1), minlength=E).to(torch.float64)
            alpha = c["seq_aux_alpha"]
            if alpha > 0:
                sv = s.view(B, T, E)[:, :cnt_rows]
                aux = sv.detach().topk(K, dim=-1).indices
                f = F.one_hot(aux, E).sum((1, 2)).to(DT) * E / (K * cnt_rows)  # (B, E)
                P = (sv / sv.sum(-1, keepdim=True)).mean(1)
                bal = alpha * (f * P).sum() / B
        return y.view(B, T, D), bal

    def block(self, x, l, cnt_rows, training, cache=None, pos=0):
        c = self.c
        p = "model.layers.%d." % l
        x = x + self.attention(self.norm(x, p + "input_layernorm.weight"), p + "self_attn.", cache, l, pos)
        h = self.norm(x, p + "post_attention_layernorm.weight")
        if l >= c["first_k_dense_replace"]:
            y, bal = self.moe(h, p + "mlp.", cnt_rows, training)
        else:
            y, bal = self.swiglu(h, p + "mlp."), None
        return x + y, bal

    def forward(self, tokens, training=True):
        """Full causal forward; returns logits and (training) the losses ce, mtp, bal."""
        W = self.W
        B, T = tokens.shape
        x = W["model.embed_tokens.weight"][tokens]
        bals = []
        for l in range(self.L):
            x, b = self.block(x, l, T, training)
            if b is not None:
                bals.append(b)
        hf = self.norm(x, "model.norm.weight")
        logits = F.linear(hf, W["lm_head.weight"])
        if not training:
            return logits
        V = logits.shape[-1]
        ce = F.cross_entropy(logits[:, :-1].reshape(-1, V), tokens[:, 1:].reshape(-1))
        mtp = torch.zeros((), dtype=DT)
        if self.mtp:
            p = "model.layers.%d." % self.L
            e = self.norm(W["model.embed_tokens.weight"][tokens[:, 1:T - 1]], p + "enorm.weight")
            hn = self.norm(hf[:, :T - 2], p + "hnorm.weight")
            h = F.linear(torch.cat([e, hn], dim=-1), W[p + "eh_proj.weight"])
            h, b = self.block(h, self.L, T - 2, True)
            if b is not None:
                bals.append(b)
            ml = F.linear(self.norm(h, p + "shared_head.norm.weight"), W["lm_head.weight"])
            mtp = self.c["mtp_loss_weight"] * F.cross_entropy(ml.reshape(-1, V), tokens[:, 2:].reshape(-1))
        bal = sum(bals) if bals else torch.zeros((), dtype=DT)
        return logits, ce, mtp, bal

    @torch.no_grad()
    def update_router_bias(self):
        u = self.c["bias_update_speed"]
        for p, ld in self.loads.items():
            b = self.W[p + "gate.e_score_correction_bias"]
            b += (u * torch.sign(ld.mean() - ld)).to(DT)
        self.loads = {}

    def new_cache(self, B, T):
        shape = (self.L, B, self.H, T)
        return (torch.zeros(*shape, self.Dn + self.Dr, dtype=DT), torch.zeros(*shape, self.Dv, dtype=DT))

    def step(self, tokens, cache, pos):
        """Append tokens (B, T) at position pos of every row; returns the logits (B, T, V)."""
        W = self.W
        x = W["model.embed_tokens.weight"][tokens]
        for l in range(self.L):
            x, _ = self.block(x, l, 0, False, cache, pos)
        return F.linear(self.norm(x, "model.norm.weight"), W["lm_head.weight"])


def blas_library():
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if "blas" in path.lower():
                libs.add(path)
    return ",".join(sorted(libs)) or "none"


def blas_info():
    show = torch.__config__.show()
    for part in show.replace("\n", ",").split(","):
        if "BLAS_INFO" in part and "LAPACK" not in part:
            return part.strip()
    return "BLAS_INFO=?"


def load(ckpt):
    cfg = json.load(open(os.path.join(ckpt, "config.json")))
    W = deepseek_ref.read_safetensors(os.path.join(ckpt, "model.safetensors"))
    inp = json.load(open(os.path.join(ckpt, "peer_inputs.json")))
    return Peer(cfg, W), inp


def check(peer, inp):
    """Log-probs (full forward and KV-cache decode) and the training loss against ours. Raises on disagreement."""
    tok = torch.tensor(inp["check"]["tokens"], dtype=torch.long)
    ours = torch.tensor(inp["check"]["logprobs"], dtype=torch.float64)
    with torch.no_grad():
        lp = torch.log_softmax(peer.forward(tok, training=False).double(), -1)
        mine = lp[:, :-1].gather(-1, tok[:, 1:, None])[..., 0]
        d_full = (mine - ours).abs().max().item()
        # the KV-cache path: prefill 16 tokens, then teacher-force the rest one step at a time, all rows at once
        B, T = tok.shape
        cache = peer.new_cache(B, T)
        pre = 16
        steps = [peer.step(tok[:, :pre], cache, 0)]
        for t in range(pre, T - 1):
            steps.append(peer.step(tok[:, t:t + 1], cache, t))
        lpd = torch.log_softmax(torch.cat(steps, dim=1).double(), -1)
        mined = lpd.gather(-1, tok[:, 1:, None])[..., 0]
        d_dec = (mined - ours).abs().max().item()
        tt = torch.tensor(inp["train"]["tokens"], dtype=torch.long)
        _, ce, mtp, bal = peer.forward(tt, training=True)
        peer.loads = {}
    tr = inp["train"]
    d_loss = max(abs(ce.item() - tr["ce"]), abs(mtp.item() - tr["mtp"]), abs(bal.item() - tr["bal"]))
    res = {"logprob_max_abs_diff": d_full, "decode_logprob_max_abs_diff": d_dec, "loss_max_abs_diff": d_loss,
           "ce_ours": tr["ce"], "ce_peer": ce.item()}
    if not (d_full < 1e-3 and d_dec < 1e-3 and d_loss < 1e-3):
        raise SystemExit("torch_peer: FAIL: the peer disagrees with reasonrl on the same checkpoint: %s" % json.dumps(res))
    return res


def time_train(peer, inp):
    tr = inp["train"]
    tok = torch.tensor(tr["tokens"], dtype=torch.long)
    a = tr["adamw"]
    decay = [t for k, t in peer.W.items() if t.requires_grad and t.dim() == 2]
    nodecay = [t for k, t in peer.W.items() if t.requires_grad and t.dim() != 2]
    groups = [{"params": decay, "weight_decay": a["weight_decay"]}, {"params": nodecay, "weight_decay": 0.0}]
    try:
        opt = torch.optim.AdamW(groups, lr=tr["lr"], betas=(a["beta1"], a["beta2"]), eps=a["eps"], foreach=True)
    except TypeError:
        opt = torch.optim.AdamW(groups, lr=tr["lr"], betas=(a["beta1"], a["beta2"]), eps=a["eps"])
    params = peer.params()

    def step():
        opt.zero_grad(set_to_none=True)
        _, ce, mtp, bal = peer.forward(tok, training=True)
        (ce + mtp + bal).backward()
        torch.nn.utils.clip_grad_norm_(params, a["max_grad_norm"])
        opt.step()
        peer.update_router_bias()

    step()
    t0 = time.perf_counter()
    step()
    one = time.perf_counter() - t0
    if one > 1.0:  # a config far slower than the best one (e.g. 2 + 2 threads on a busy 2-core machine): one step
        return tok.numel() / one, one
    # best of 3 rounds of up to `steps` steps, within a time budget (a config that is slow on this machine, e.g. 2 + 2
    # threads on 2 cores, is not given minutes)
    n = max(2, min(tr["steps"], int(2.0 / one)))
    best, deadline = one, time.perf_counter() + 8.0
    for r in range(3):
        if r > 0 and time.perf_counter() > deadline:
            break
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        best = min(best, (time.perf_counter() - t0) / n)
    return tok.numel() / best, best


@torch.inference_mode()
def time_decode(peer, inp, B):
    d = inp["decode"]
    P, new = d["prompt_len"], d["new_tokens"]
    prompts = torch.tensor(d["prompts"][:B], dtype=torch.long)
    best, gen = 1e30, None
    cache = peer.new_cache(B, P + new + 1)
    for _ in range(2):
        logits = peer.step(prompts, cache, 0)
        cur = logits[:, -1].argmax(-1)
        out = [cur]
        t0 = time.perf_counter()
        for k in range(1, new):
            logits = peer.step(cur[:, None], cache, P + k - 1)
            cur = logits[:, -1].argmax(-1)
            out.append(cur)
        dt = time.perf_counter() - t0
        if dt < best:
            best, gen = dt, torch.stack(out, 1)
        if dt > 3.0:
            break
    return B * (new - 1) / best, gen


def worker(ckpt, torch_threads):
    torch.set_num_threads(torch_threads)
    peer, inp = load(ckpt)
    res = check(peer, inp)
    res["torch_threads"] = torch.get_num_threads()
    res["openblas_threads"] = int(os.environ.get("OPENBLAS_NUM_THREADS", "0"))
    res["decode_b1"], gen = time_decode(peer, inp, 1)
    ours = inp["decode"]["greedy_b1"]
    g = gen[0].tolist()
    same = 0
    while same < len(g) and g[same] == ours[same]:
        same += 1
    res["greedy_b1_same_prefix"], res["greedy_len"] = same, len(g)
    res["decode_b64"], _ = time_decode(peer, inp, 64)
    res["train"], res["train_step_s"] = time_train(peer, inp)
    res["blas_library"] = blas_library()
    print("WORKER " + json.dumps(res), flush=True)


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]))
        return
    ckpt = sys.argv[1]
    print("torch_peer env torch=%s %s OPENBLAS_CORETYPE=%s OPENBLAS_L2_SIZE=%s" % (
        torch.__version__, blas_info(), os.environ.get("OPENBLAS_CORETYPE", "unset"), os.environ.get("OPENBLAS_L2_SIZE", "unset")),
        flush=True)
    runs = []
    for tt in (1, 2):
        for ob in (1, 2):
            env = dict(os.environ, OPENBLAS_NUM_THREADS=str(ob), OMP_NUM_THREADS=str(tt))
            p = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", ckpt, str(tt)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            lines = [l for l in p.stdout.splitlines() if l.startswith("WORKER ")]
            if p.returncode != 0 or not lines:
                sys.stderr.write(p.stdout + p.stderr)
                print("torch_peer FAIL torch_threads=%d openblas_threads=%d (see stderr)" % (tt, ob), flush=True)
                sys.exit(1)
            r = json.loads(lines[-1][len("WORKER "):])
            runs.append(r)
            print("torch_peer config torch_threads=%d openblas_threads=%d train_tokens_per_s=%.0f decode_b1_tokens_per_s=%.0f "
                  "decode_b64_tokens_per_s=%.0f logprob_max_abs_diff=%.2e decode_logprob_max_abs_diff=%.2e "
                  "loss_max_abs_diff=%.2e greedy_b1_same_prefix=%d/%d blas_library=%s" % (
                      r["torch_threads"], r["openblas_threads"], r["train"], r["decode_b1"], r["decode_b64"],
                      r["logprob_max_abs_diff"], r["decode_logprob_max_abs_diff"], r["loss_max_abs_diff"],
                      r["greedy_b1_same_prefix"], r["greedy_len"], r["blas_library"]), flush=True)
    for key, what in (("train", "train"), ("decode_b1", "decode_b1"), ("decode_b64", "decode_b64")):
        b = max(runs, key=lambda r: r[key])
        print("torch_peer best what=%s tokens_per_s=%.0f torch_threads=%d openblas_threads=%d" % (
            what, b[key], b["torch_threads"], b["openblas_threads"]), flush=True)
    w = max(r["logprob_max_abs_diff"] for r in runs), max(r["decode_logprob_max_abs_diff"] for r in runs)
    print("torch_peer check logprob_max_abs_diff=%.2e decode_logprob_max_abs_diff=%.2e loss_max_abs_diff=%.2e tolerance=1e-3 "
          "kv_cache=expanded_per_head greedy_b1_same_prefix=%d/%d" % (
              w[0], w[1], max(r["loss_max_abs_diff"] for r in runs), runs[0]["greedy_b1_same_prefix"], runs[0]["greedy_len"]),
          flush=True)


if __name__ == "__main__":
    main()

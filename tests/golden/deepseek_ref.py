#!/usr/bin/python3
"""deepseek_ref.py: an independent PyTorch (float64) implementation of our DeepSeek-V3-style model, the golden reference.

Reads a reasonrl checkpoint (model.safetensors parsed by hand with struct/json, config.json with the HF keys) and an
inputs JSON {"tokens": [[...]], "mask": [[...]]} (optionally "routes": (B*T, n_moe_layers * K) expert ids replayed on the
rows whose first entry is >= 0: router replay), computes the logits, the loss
    L = mean next-token CE over positions t whose target t+1 has mask 1
      + MTP loss (lambda * mean CE of predicting t+2 at t, target masked the same way)
      + sequence-wise balance loss (alpha * sum_i f_i P_i per row, mean over rows, summed over MoE layers)
and every parameter's gradient by autograd, and writes them as F64 tensors to a safetensors file:
    logits, loss, ce, mtp, bal, grad.<tensor name>.
Written from algorithms.md section 4 (MLA with absorbed-free expanded attention, sigmoid routing with
e_score_correction_bias for selection only, group-limited top-k, normalised gates times routed_scaling_factor,
adjacent-pair RoPE, MTP with [enorm(emb); hnorm(h)] -> eh_proj).
Usage: deepseek_ref.py CHECKPOINT_DIR INPUTS.json OUT.safetensors
"""
import json
import math
import struct
import sys

import torch

DT = torch.float64


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        b, e = info["data_offsets"]
        count = (e - b) // 4
        vals = struct.unpack("<%df" % count, data[base + b:base + e])
        out[name] = torch.tensor(vals, dtype=DT).reshape(info["shape"])
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(DT).contiguous().reshape(-1)
        raw = struct.pack("<%dd" % t.numel(), *t.tolist())
        header[name] = {"dtype": "F64", "shape": list(tensors[name].shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def rmsnorm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def yarn_get_mscale(scale=1.0, mscale=1.0):
    # HF DeepseekV3 (modeling_deepseek.py)
    if scale <= 1:
        return 1.0
    return 0.1 * mscale * math.log(scale) + 1.0


def yarn_inv_freq(c, Dr):
    """HF DeepseekV3YarnRotaryEmbedding: interpolate the low frequencies by `factor`, keep the high ones, ramp between."""
    y, base = c["rope_scaling"], c["rope_theta"]
    orig = y["original_max_position_embeddings"]

    def corr_dim(rot):
        return (Dr * math.log(orig / (rot * 2 * math.pi))) / (2 * math.log(base))

    low = max(math.floor(corr_dim(y.get("beta_fast", 32))), 0)
    high = min(math.ceil(corr_dim(y.get("beta_slow", 1))), Dr - 1)
    if low == high:
        high += 0.001
    ramp = torch.clamp((torch.arange(Dr // 2, dtype=DT) - low) / (high - low), 0, 1)
    inv_freq_mask = 1.0 - ramp
    freq_extra = 1.0 / (base ** (torch.arange(0, Dr, 2, dtype=DT) / Dr))
    freq_inter = 1.0 / (y["factor"] * base ** (torch.arange(0, Dr, 2, dtype=DT) / Dr))
    inv = freq_inter * (1 - inv_freq_mask) + freq_extra * inv_freq_mask
    m = yarn_get_mscale(y["factor"], y.get("mscale", 1)) / yarn_get_mscale(y["factor"], y.get("mscale_all_dim", 0))
    return inv, m


def is_yarn(c):
    return c.get("rope_scaling") is not None and c["rope_scaling"].get("type", c["rope_scaling"].get("rope_type")) == "yarn"


def rope(x, c):
    """x (..., T, Dr): rotate adjacent pairs (x[2i], x[2i+1]) by t * theta^(-2i/Dr) (YaRN frequencies and cos/sin
    multiplier when rope_scaling is yarn)."""
    T, Dr = x.shape[-2], x.shape[-1]
    if is_yarn(c):
        inv, m = yarn_inv_freq(c, Dr)
    else:
        inv, m = c["rope_theta"] ** (-torch.arange(0, Dr, 2, dtype=DT) / Dr), 1.0
    ang = torch.arange(T, dtype=DT)[:, None] * inv[None, :]
    cos, sin = torch.cos(ang) * m, torch.sin(ang) * m
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1).flatten(-2)


class Ref:
    def __init__(self, cfg, W):
        self.c, self.W = cfg, W

    def lin(self, x, name):
        return x @ self.W[name].t()

    def swiglu(self, x, pre):
        return self.lin(torch.nn.functional.silu(self.lin(x, pre + "gate_proj.weight")) * self.lin(x, pre + "up_proj.weight"),
                        pre + "down_proj.weight")

    def attention(self, x, p):
        c = self.c
        B, T, _ = x.shape
        H, Dn, Dr, Dv, C = c["num_attention_heads"], c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"], c["kv_lora_rank"]
        eps = c["rms_norm_eps"]
        if c["q_lora_rank"] > 0:
            q = self.lin(rmsnorm(self.lin(x, p + "q_a_proj.weight"), self.W[p + "q_a_layernorm.weight"], eps), p + "q_b_proj.weight")
        else:
            q = self.lin(x, p + "q_proj.weight")
        q = q.view(B, T, H, Dn + Dr).transpose(1, 2)  # (B, H, T, Dn+Dr)
        q_nope, q_pe = q[..., :Dn], rope(q[..., Dn:], c)
        kva = self.lin(x, p + "kv_a_proj_with_mqa.weight")
        ckv, k_pe = kva[..., :C], rope(kva[..., C:], c)  # k_pe (B, T, Dr) shared by heads
        kv = self.lin(rmsnorm(ckv, self.W[p + "kv_a_layernorm.weight"], eps), p + "kv_b_proj.weight")
        kv = kv.view(B, T, H, Dn + Dv).transpose(1, 2)
        k_nope, v = kv[..., :Dn], kv[..., Dn:]
        scale = 1.0 / math.sqrt(Dn + Dr)
        if is_yarn(c) and c["rope_scaling"].get("mscale_all_dim", 0):
            ms = yarn_get_mscale(c["rope_scaling"]["factor"], c["rope_scaling"]["mscale_all_dim"])
            scale = scale * ms * ms
        s = (q_nope @ k_nope.transpose(-1, -2) + q_pe @ k_pe[:, None].transpose(-1, -2)) * scale
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        s = s.masked_fill(~causal, float("-inf"))
        o = torch.softmax(s, dim=-1) @ v  # (B, H, T, Dv)
        return self.lin(o.transpose(1, 2).reshape(B, T, H * Dv), p + "o_proj.weight")

    def moe(self, x, p, cnt, forced=None):
        """x (B, T, D); cnt (B, T) which tokens count for the balance loss; forced (B, T, K) expert ids replayed where
        forced[..., 0] >= 0 (router replay: the gates still come from the router). Returns (y, balance loss)."""
        c = self.c
        E, K = c["n_routed_experts"], c["num_experts_per_tok"]
        s = torch.sigmoid(self.lin(x, p + "gate.weight"))  # (B, T, E)
        biased = s.detach() + self.W[p + "gate.e_score_correction_bias"]
        if c["n_group"] > 1:
            G = c["n_group"]
            g = biased.view(*biased.shape[:-1], G, E // G)
            gscore = g.topk(2, dim=-1).values.sum(-1)  # (B, T, G)
            keep = gscore.topk(c["topk_group"], dim=-1).indices
            gmask = torch.zeros_like(gscore, dtype=torch.bool).scatter_(-1, keep, True)
            emask = gmask[..., None].expand(*gmask.shape, E // G).reshape(biased.shape)
            biased = biased.masked_fill(~emask, float("-inf"))
        idx = biased.topk(K, dim=-1).indices  # (B, T, K)
        if forced is not None:
            idx = torch.where(forced[..., :1] >= 0, forced.clamp(min=0), idx)
        w = s.gather(-1, idx)
        if c["norm_topk_prob"]:
            w = w / (w.sum(-1, keepdim=True) + 1e-20)
        w = w * c["routed_scaling_factor"]
        y = torch.zeros_like(x)
        if c["n_shared_experts"] > 0:
            y = y + self.swiglu(x, p + "shared_experts.")
        for e in range(E):
            ge = (w * (idx == e)).sum(-1)  # (B, T) gate of expert e (0 if not selected)
            if (idx == e).any():
                y = y + ge[..., None] * self.swiglu(x, p + "experts.%d." % e)
        bal = torch.zeros((), dtype=DT)
        alpha = c["seq_aux_alpha"]
        if alpha > 0:
            aux_idx = s.detach().topk(K, dim=-1).indices  # unbiased Top-K (the paper's indicator)
            sp = s / s.sum(-1, keepdim=True)
            rows = int((cnt.sum(-1) > 0).sum())
            for b in range(x.shape[0]):
                m = cnt[b] > 0
                Tb = int(m.sum())
                if Tb == 0:
                    continue
                counts = torch.zeros(E, dtype=DT).scatter_add_(0, aux_idx[b][m].reshape(-1), torch.ones(Tb * K, dtype=DT))
                f = counts * E / (K * Tb)
                P = sp[b][m].sum(0) / Tb
                bal = bal + alpha * (f * P).sum() / rows
        return y, bal

    def block(self, x, l, cnt, routes=None):
        c = self.c
        p = "model.layers.%d." % l
        eps = c["rms_norm_eps"]
        x = x + self.attention(rmsnorm(x, self.W[p + "input_layernorm.weight"], eps), p + "self_attn.")
        h = rmsnorm(x, self.W[p + "post_attention_layernorm.weight"], eps)
        if l >= c["first_k_dense_replace"]:
            K = c["num_experts_per_tok"]
            j = l - c["first_k_dense_replace"]  # MoE layer slot of the main model (the MTP block passes no routes)
            y, bal = self.moe(h, p + "mlp.", cnt, None if routes is None else routes[..., j * K:(j + 1) * K])
        else:
            y, bal = self.swiglu(h, p + "mlp."), torch.zeros((), dtype=DT)
        return x + y, bal

    def forward(self, tokens, mask, routes=None):
        c = self.c
        B, T = tokens.shape
        eps = c["rms_norm_eps"]
        x = self.W["model.embed_tokens.weight"][tokens]
        bal = torch.zeros((), dtype=DT)
        for l in range(c["num_hidden_layers"]):
            x, b = self.block(x, l, mask, routes)
            bal = bal + b
        hf = rmsnorm(x, self.W["model.norm.weight"], eps)
        logits = self.lin(hf, "lm_head.weight")
        # main next-token CE, mean over positions whose target counts
        tgt_w = mask[:, 1:]
        ce_tok = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1),
                                                   reduction="none").view(B, T - 1)
        ce = (ce_tok * tgt_w).sum() / tgt_w.sum()
        mtp = torch.zeros((), dtype=DT)
        if c["num_nextn_predict_layers"] > 0 and c["mtp_loss_weight"] > 0:
            L = c["num_hidden_layers"]
            p = "model.layers.%d." % L
            nxt = torch.cat([tokens[:, 1:], tokens[:, -1:]], dim=1)  # t+1 (last position: unused filler)
            e = rmsnorm(self.W["model.embed_tokens.weight"][nxt], self.W[p + "enorm.weight"], eps)
            hn = rmsnorm(hf, self.W[p + "hnorm.weight"], eps)
            h = self.lin(torch.cat([e, hn], dim=-1), p + "eh_proj.weight")
            mw = torch.zeros(B, T, dtype=DT)
            mw[:, :T - 2] = mask[:, 2:]
            h, b = self.block(h, L, mw)
            bal = bal + b
            ml = self.lin(rmsnorm(h, self.W[p + "shared_head.norm.weight"], eps), "lm_head.weight")
            tgt = torch.cat([tokens[:, 2:], torch.zeros(B, 2, dtype=tokens.dtype)], dim=1)
            mce = torch.nn.functional.cross_entropy(ml.reshape(-1, ml.shape[-1]), tgt.reshape(-1), reduction="none").view(B, T)
            mtp = c["mtp_loss_weight"] * (mce * mw).sum() / mw.sum()
        return logits, ce, mtp, bal


def main():
    ckpt, inputs, out = sys.argv[1], sys.argv[2], sys.argv[3]
    cfg = json.load(open(ckpt + "/config.json"))
    W = read_safetensors(ckpt + "/model.safetensors")
    for t in W.values():
        t.requires_grad_(True)
    inp = json.load(open(inputs))
    tokens = torch.tensor(inp["tokens"], dtype=torch.long)
    mask = torch.tensor(inp["mask"], dtype=DT)
    routes = None
    if "routes" in inp:  # (B*T, n_moe_layers * K), rows of -1 route themselves
        routes = torch.tensor(inp["routes"], dtype=torch.long).view(tokens.shape[0], tokens.shape[1], -1)
    ref = Ref(cfg, W)
    logits, ce, mtp, bal = ref.forward(tokens, mask, routes)
    loss = ce + mtp + bal
    loss.backward()
    res = {"logits": logits, "loss": loss.reshape(1), "ce": ce.reshape(1), "mtp": mtp.reshape(1), "bal": bal.reshape(1)}
    for name, t in W.items():
        res["grad." + name] = t.grad if t.grad is not None else torch.zeros_like(t)
    write_safetensors(out, res)
    print("deepseek_ref: loss %.6f (ce %.6f, mtp %.6f, bal %.6g), %d tensors" % (loss.item(), ce.item(), mtp.item(), bal.item(), len(W)))


if __name__ == "__main__":
    main()

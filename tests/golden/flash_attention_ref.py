#!/usr/bin/python3
"""flash_attention_ref.py: PyTorch (float64, autograd) reference of MLA training attention over packed sequences.

Reads an inputs JSON {"H", "Dn", "Dr", "Dv", "scale", "cu_seqlens", "q", "kv", "kpe", "dout"} (flat row-major lists:
q (N, H, Dn+Dr), kv (N, H, Dn+Dv) = [k_nope | v] per head, kpe (N, Dr) shared by the heads, dout (N, H, Dv)) and writes
F64 tensors o, lse (N, H), dq, dkv, dkpe to a safetensors file, where per sequence s (rows cu[s]..cu[s+1]) and head h:
    scores = scale * (q_nope k_nope^T + q_rope kpe^T), causal mask, o = softmax(scores) v, lse = logsumexp(scores)
and the gradients are those of sum(o * dout). Sequences never see each other.
Usage: flash_attention_ref.py INPUTS.json OUT.safetensors
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deepseek_ref import write_safetensors  # noqa: E402

DT = torch.float64


def main():
    inp = json.load(open(sys.argv[1]))
    H, Dn, Dr, Dv, scale = inp["H"], inp["Dn"], inp["Dr"], inp["Dv"], inp["scale"]
    cu = inp["cu_seqlens"]
    N = cu[-1]
    q = torch.tensor(inp["q"], dtype=DT).reshape(N, H, Dn + Dr).requires_grad_()
    kv = torch.tensor(inp["kv"], dtype=DT).reshape(N, H, Dn + Dv).requires_grad_()
    kpe = torch.tensor(inp["kpe"], dtype=DT).reshape(N, Dr).requires_grad_()
    dout = torch.tensor(inp["dout"], dtype=DT).reshape(N, H, Dv)
    outs, lses = [], []
    for s in range(len(cu) - 1):
        a, b = cu[s], cu[s + 1]
        if b == a:
            continue
        qs, kvs, ks = q[a:b].transpose(0, 1), kv[a:b].transpose(0, 1), kpe[a:b]  # (H, L, .)
        sc = scale * (qs[..., :Dn] @ kvs[..., :Dn].transpose(1, 2) + qs[..., Dn:] @ ks.T)
        mask = torch.ones(b - a, b - a, dtype=torch.bool).triu(1)
        sc = sc.masked_fill(mask, float("-inf"))
        outs.append((torch.softmax(sc, dim=-1) @ kvs[..., Dn:]).transpose(0, 1))
        lses.append(torch.logsumexp(sc, dim=-1).T)
    o = torch.cat(outs)
    (o * dout).sum().backward()
    write_safetensors(sys.argv[2], {"o": o, "lse": torch.cat(lses), "dq": q.grad, "dkv": kv.grad, "dkpe": kpe.grad})


if __name__ == "__main__":
    main()

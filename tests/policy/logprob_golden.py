# logprob_golden.py: reference log-probs, entropies and gradients for tests/policy/logprob_golden_test.cpp, computed
# with PyTorch autograd on Hugging Face's logits-warper semantics (TemperatureLogitsWarper, TopKLogitsWarper,
# TopPLogitsWarper, MinPLogitsWarper, in that order) followed by log_softmax.
# Usage: python3 logprob_golden.py IN.json OUT.json
import json
import sys

import torch

d = json.load(open(sys.argv[1]))
N, V = d["N"], d["V"]
T, top_k, top_p, min_p = d["temperature"], d["top_k"], d["top_p"], d["min_p"]
logits = torch.tensor(d["logits"], dtype=torch.float64).view(N, V).requires_grad_(True)
targets = torch.tensor(d["targets"], dtype=torch.long)
dlogp = torch.tensor(d["dlogp"], dtype=torch.float64)
dent = torch.tensor(d["dentropy"], dtype=torch.float64)
ninf = float("-inf")

s = logits / T
if top_k > 0:  # TopKLogitsWarper
    kth = torch.topk(s, top_k).values[..., -1, None]
    s = s.masked_fill(s < kth, ninf)
if top_p < 1.0:  # TopPLogitsWarper
    sorted_logits, sorted_idx = torch.sort(s, descending=False)
    cum = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove = cum <= (1 - top_p)
    remove[..., -1:] = False
    s = s.masked_fill(remove.scatter(1, sorted_idx, remove), ninf)
if min_p > 0.0:  # MinPLogitsWarper
    probs = torch.softmax(s, dim=-1)
    top = probs.amax(dim=-1, keepdim=True)
    s = s.masked_fill(probs < min_p * top, ninf)

lp_all = torch.log_softmax(s, dim=-1)
logp = lp_all.gather(1, targets[:, None])[:, 0]
p = lp_all.exp()
lp_safe = torch.where(p > 0, lp_all, torch.zeros_like(lp_all))  # no 0 * -inf in the backward
ent = -(p * lp_safe).sum(dim=-1)
((dlogp * logp).sum() + (dent * ent).sum()).backward()
json.dump({"logp": logp.tolist(), "entropy": ent.tolist(), "grad": logits.grad.view(-1).tolist(),
           "kept": (p > 0).sum(dim=-1).tolist()}, open(sys.argv[2], "w"))

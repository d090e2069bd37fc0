"""torch_policy_loss.py: an independent PyTorch implementation of our RL losses, on padded [S, L] tensors,
written from verl's core_algos (compute_policy_loss vanilla, gspo and cispo, kl_penalty, agg_loss) and algorithms.md
§1.2 (Kimi) / §5.6 (GSPO, CISPO).
Gradients come from autograd. Usage: torch_policy_loss.py IN.json OUT.json (used by policy_loss_golden_test)."""
import json
import sys

import torch


def padded(seqs, fill=0.0):
    n = max(len(s) for s in seqs)
    return torch.tensor([s + [fill] * (n - len(s)) for s in seqs], dtype=torch.float64)


def kl_penalty(logp, ref, kind):
    d = torch.clamp(logp - ref, -20.0, 20.0)
    if kind == "k1":
        return d
    if kind == "k2":
        return 0.5 * d * d
    return torch.exp(-d) + d - 1.0  # k3 = verl low_var_kl (value clamp [-10, 10] not reached by the test data)


def agg(loss, mask, mode, max_len):
    if mode == "token_mean":
        return (loss * mask).sum() / mask.sum()
    seq_tokens = mask.sum(-1)
    live = seq_tokens > 0
    n_seq = live.sum()
    if mode == "seq_mean_token_mean":
        per = (loss * mask).sum(-1)[live] / seq_tokens[live]
        return per.sum() / n_seq
    if mode == "seq_mean_token_sum":
        return (loss * mask).sum() / n_seq
    if mode == "dr_grpo":
        return (loss * mask).sum() / (n_seq * max_len)
    raise ValueError(mode)


def grpo(c, x):
    logp = padded(x["logp"]).requires_grad_(True)
    old, ref, roll, mask = padded(x["old_logp"]), padded(x["ref_logp"]), padded(x["rollout_logp"]), padded(x["mask"])
    A = torch.tensor(x["adv"], dtype=torch.float64)[:, None].expand_as(mask)
    log_ratio = logp - old
    if c.get("importance_sampling_level", "token") == "sequence":
        # GSPO (TRL importance_sampling_level="sequence", verl gspo): the mean token log-ratio of the response,
        # broadcast to its tokens; autograd carries 1/|y| of the gradient to every token.
        seq = (log_ratio * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)
        log_ratio = seq[:, None].expand_as(mask)
    ratio = torch.exp(torch.clamp(log_ratio, -20.0, 20.0))
    if c.get("loss_mode", "vanilla") == "cispo":
        # CISPO (MiniMax-M1 / verl compute_policy_loss_cispo): detached clipped IS weight times A * logp.
        w_is = torch.clamp(ratio, 1 - c["epsilon"], 1 + c["epsilon_high"]).detach()
        pg = -A * w_is * logp
    else:
        pg1 = -A * ratio
        pg2 = -A * torch.clamp(ratio, 1 - c["epsilon"], 1 + c["epsilon_high"])
        clip1 = torch.maximum(pg1, pg2)
        if c["delta"] > 0:
            pg3 = -A * c["delta"]
            pg = torch.where(A < 0, torch.minimum(pg3, clip1), clip1)
        else:
            pg = clip1
    if c["tis_cap"] > 0:
        w = torch.clamp(torch.exp(old - roll), max=c["tis_cap"]).detach()
        pg = pg * w
    loss_tok = pg
    if c["beta"] > 0 and c["kl_mode"] == "loss":
        loss_tok = loss_tok + c["beta"] * kl_penalty(logp, ref, c["kl_estimator"])
    loss = agg(loss_tok, mask, c["loss_type"], c["max_completion_length"])
    loss.backward()
    return loss, logp.grad


def kimi(c, x):
    logp = padded(x["logp"]).requires_grad_(True)
    old, mask = padded(x["old_logp"]), padded(x["mask"])
    A = torch.tensor(x["adv"], dtype=torch.float64)
    S = (logp * mask).sum(-1)
    S_ref = (old * mask).sum(-1)
    live = mask.sum(-1) > 0
    per = -A * S + 0.5 * c["kimi_tau"] * (S - S_ref) ** 2
    loss = per[live].sum() / live.sum()
    loss.backward()
    return loss, logp.grad


def main():
    cases = json.load(open(sys.argv[1]))
    out = []
    for case in cases:
        c, x = case["config"], case["batch"]
        loss, grad = (kimi if c["algorithm"] == "kimi" else grpo)(c, x)
        grad = grad * padded(x["mask"])
        out.append({"loss": loss.item(), "grad": [g[: len(s)] for g, s in zip(grad.tolist(), x["logp"])]})
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()

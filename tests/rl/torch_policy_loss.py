"""torch_policy_loss.py: an independent PyTorch implementation of our RL losses, on padded [S, L] tensors,
written from verl's core_algos (compute_policy_loss vanilla, gspo and cispo, kl_penalty, agg_loss, the entropy bonus),
verl's rollout correction (rollout_is token/sequence, rollout_rs token/sequence/geometric), TRL's
mask_truncated_completions, and algorithms.md §1.2 (Kimi) / §5.6 (GSPO, CISPO).
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


def loss_mask(c, x):
    """The mask after overlong filtering (TRL: completion_mask * ~truncated) and verl's rollout_rs rejection (the
    modified response_mask, which also drives the denominators)."""
    mask = padded(x["mask"])
    if c.get("mask_truncated_completions", False):
        trunc = torch.tensor(x["truncated"], dtype=torch.bool)
        mask = mask * (~trunc).to(mask.dtype)[:, None]
    rs = c.get("rollout_rs", "none")
    if rs != "none":
        upper = c["rollout_rs_threshold"]
        lower = c["rollout_rs_threshold_lower"] or 1.0 / upper
        d = torch.clamp(padded(x["old_logp"]) - padded(x["rollout_logp"]), -20.0, 20.0) * mask
        if rs == "token":
            ratio = torch.exp(d)
        else:
            agg = d.sum(-1)
            if rs == "geometric":
                agg = agg / mask.sum(-1).clamp(min=1.0)
            ratio = torch.exp(torch.clamp(agg, -20.0, 20.0))[:, None].expand_as(mask)
        keep = (ratio >= lower) & (ratio <= upper)
        mask = mask * keep.to(mask.dtype)
    return mask


def entropy_term(c, x, mask):
    """verl: pg_loss - entropy_coeff * agg_loss(entropy, mask, loss_agg_mode); the entropies are leaves here (their
    gradient w.r.t. the logits is golden-tested in tests/policy)."""
    ent = padded(x["entropy"]).requires_grad_(True)
    coeff = c.get("entropy_coeff", 0.0)
    return ent, -coeff * agg(ent, mask, c["loss_type"], c["max_completion_length"])


def grpo(c, x):
    logp = padded(x["logp"]).requires_grad_(True)
    old, ref, roll = padded(x["old_logp"]), padded(x["ref_logp"]), padded(x["rollout_logp"])
    mask = loss_mask(c, x)
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
        if c.get("rollout_is", "token") == "sequence":
            # verl rollout_is sequence: the product of the token ratios, broadcast to the response, then truncated
            seq = torch.clamp(((old - roll) * mask).sum(-1), -20.0, 20.0)
            w = torch.clamp(torch.exp(seq), max=c["tis_cap"])[:, None].expand_as(mask).detach()
        else:
            w = torch.clamp(torch.exp(old - roll), max=c["tis_cap"]).detach()
        pg = pg * w
    loss_tok = pg
    if c["beta"] > 0 and c["kl_mode"] == "loss":
        loss_tok = loss_tok + c["beta"] * kl_penalty(logp, ref, c["kl_estimator"])
    ent, ent_loss = entropy_term(c, x, mask)
    loss = agg(loss_tok, mask, c["loss_type"], c["max_completion_length"]) + ent_loss
    loss.backward()
    return loss, logp.grad, ent.grad


def kimi(c, x):
    logp = padded(x["logp"]).requires_grad_(True)
    old = padded(x["old_logp"])
    mask = loss_mask(c, x)
    A = torch.tensor(x["adv"], dtype=torch.float64)
    S = (logp * mask).sum(-1)
    S_ref = (old * mask).sum(-1)
    live = mask.sum(-1) > 0
    per = -A * S + 0.5 * c["kimi_tau"] * (S - S_ref) ** 2
    ent, ent_loss = entropy_term(c, x, mask)
    loss = per[live].sum() / live.sum() + ent_loss
    loss.backward()
    return loss, logp.grad, ent.grad


def main():
    cases = json.load(open(sys.argv[1]))
    out = []
    for case in cases:
        c, x = case["config"], case["batch"]
        loss, grad, gent = (kimi if c["algorithm"] == "kimi" else grpo)(c, x)
        grad = grad * padded(x["mask"])
        gent = gent * padded(x["mask"])
        out.append({"loss": loss.item(), "grad": [g[: len(s)] for g, s in zip(grad.tolist(), x["logp"])],
                    "grad_entropy": [g[: len(s)] for g, s in zip(gent.tolist(), x["logp"])]})
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()

// policy_loss.h: the per-token GRPO-family loss (PPO clip with epsilon_low/epsilon_high, dual clip, truncated
// importance correction, KL to the reference in the loss) and its exact gradient w.r.t. the current log-probs.
//
// Per unmasked token (minimised; A = advantage, rho = exp(logp - old_logp)):
//   pg   = -min(rho * A, clip(rho, 1 - epsilon, 1 + epsilon_high) * A)
//   if delta > 0 and A < 0:  pg = min(pg, -delta * A)                         (dual clip, verl clip_ratio_c)
//   w    = min(exp(old_logp - rollout_logp), tis_cap)  if tis_cap > 0, else 1    (constant, no gradient)
//          rollout_is sequence: w = min(exp(sum_{t' in s, mask} (old_logp - rollout_logp)), tis_cap) for every t of s
//   l    = w * pg + beta * kl(kl_estimator, logp, ref_logp)   (KL term only when kl_mode == loss)
// loss = sum_t weight_t * l_t with weight_t from the LossNormalizer (loss_aggregation.h).
// Gradient (d rho / d logp = rho):
//   d pg / d logp = -A * rho  when the unclipped branch is the active one, 0 when a clip is active
//   d l  / d logp = w * d pg / d logp + beta * kl_grad(kl_estimator, logp, ref_logp)
// At rho == 1 (policy == old) every clip is inactive, so d loss / d logp_t = -A_t * weight_t.
//
// importance_sampling_level sequence (GSPO): rho is replaced, for every token of sequence s, by
//   s_seq = exp(clamp(mean_{t in s, mask} (logp_t - old_logp_t), -20, 20)),   d s_seq / d logp_t = s_seq / n_s,
// so d loss / d logp_t = (s_seq / n_s) * sum_{t' in s} weight_t' * w_t' * d pg_t' / d s_seq   (same for every token of s).
// loss_mode cispo (MiniMax-M1): pg = -sg(clip(rho, 1 - epsilon, 1 + epsilon_high)) * A * logp, d pg / d logp =
// -clip(rho) * A: no token's gradient is cut (clip_low / clip_high then count tokens whose weight was clipped).
// Both combine with TIS and the KL term as above; cispo with sequence uses clip(s_seq) as the weight.
#pragma once

#include <span>

#include "rl/core/loss_aggregation.h"
#include "rl/core/rl_config.h"

namespace reasonrl::rl {

// GRPO-family loss of one micro-batch. Writes d loss / d logp_t into dlogp [T] (overwritten; 0 at masked tokens),
// adds metric sums into *stats (may be null). Returns this micro-batch's contribution to the step's loss.
// Throws FormatError on inconsistent shapes, NumericError naming the token when a NaN/Inf appears.
double policy_loss(const RlConfig& cfg, const TokenInputs& in, const LossNormalizer& norm, std::span<float> dlogp,
                   LossStats* stats = nullptr);

// The loss the config selects: policy_loss for algorithm grpo, kimi_loss (kimi_loss.h) for algorithm kimi.
double compute_loss(const RlConfig& cfg, const TokenInputs& in, const LossNormalizer& norm, std::span<float> dlogp,
                    LossStats* stats = nullptr);

}  // namespace reasonrl::rl

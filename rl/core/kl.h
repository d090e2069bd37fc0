// kl.h: per-token KL estimators k1/k2/k3 with their gradients, and the KL penalty folded into the rewards.
//
// With d = log pi_theta(o_t) - log pi_ref(o_t) (clamped to [-kKlLogRatioClamp, +kKlLogRatioClamp] as in verl;
// the gradient is 0 where the clamp is active, so value and gradient stay consistent):
//   k1 = d                      dk1/dlogp = 1
//   k2 = d^2 / 2                dk2/dlogp = d
//   k3 = exp(-d) + d - 1        dk3/dlogp = 1 - exp(-d) = 1 - pi_ref/pi_theta   (DeepSeekMath App. A.1.6)
// All three are 0 when pi_theta == pi_ref; k2 and k3 are >= 0.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "rl/core/rl_config.h"

namespace reasonrl::rl {

inline constexpr double kKlLogRatioClamp = 20.0;

// Value of the estimator for one token.
double kl_value(KlEstimator e, double logp, double ref_logp);
// d kl_value / d logp for one token.
double kl_grad(KlEstimator e, double logp, double ref_logp);
// Per-token values over arrays of the same length T (0 where mask == 0; mask may be empty = all ones).
std::vector<float> kl_values(KlEstimator e, std::span<const float> logp, std::span<const float> ref_logp,
                             std::span<const float> mask = {});

// KL in the reward (kl_mode = reward), for sequence-level estimators (grpo, rloo, kimi):
//   r_s <- r_s - beta * sum_{t in s, mask} kl(cfg.kl_estimator, logp_old_t, ref_logp_t)
// This is verl's use_kl_in_reward followed by the GRPO score = sum of token-level rewards. Call it before
// compute_advantages. rewards [S]; logp_old, ref_logp, mask [T]; seq_offsets [S+1].
// Returns the rewards unchanged when beta == 0 or kl_mode != reward.
std::vector<double> kl_penalized_rewards(const RlConfig& cfg, std::span<const double> rewards,
                                         std::span<const float> logp_old, std::span<const float> ref_logp,
                                         std::span<const float> mask, std::span<const int64_t> seq_offsets);

}  // namespace reasonrl::rl

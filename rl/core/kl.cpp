// kl.cpp: KL estimators k1/k2/k3, their gradients, and the KL penalty in the reward.
#include "rl/core/kl.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "rl/util/error.h"

namespace reasonrl::rl {

double kl_value(KlEstimator e, double logp, double ref_logp) {
  const double d = std::clamp(logp - ref_logp, -kKlLogRatioClamp, kKlLogRatioClamp);
  switch (e) {
    case KlEstimator::K1: return d;
    case KlEstimator::K2: return 0.5 * d * d;
    case KlEstimator::K3: return std::expm1(-d) + d;  // exp(-d) - 1 + d, accurate near d = 0
  }
  return 0.0;
}

double kl_grad(KlEstimator e, double logp, double ref_logp) {
  const double raw = logp - ref_logp;
  if (raw < -kKlLogRatioClamp || raw > kKlLogRatioClamp) return 0.0;  // the clamp is flat there
  switch (e) {
    case KlEstimator::K1: return 1.0;
    case KlEstimator::K2: return raw;
    case KlEstimator::K3: return -std::expm1(-raw);  // 1 - pi_ref / pi_theta
  }
  return 0.0;
}

std::vector<float> kl_values(KlEstimator e, std::span<const float> logp, std::span<const float> ref, std::span<const float> mask) {
  if (ref.size() != logp.size() || (!mask.empty() && mask.size() != logp.size()))
    throw FormatError("kl_values: logp has " + std::to_string(logp.size()) + " tokens, ref_logp " + std::to_string(ref.size()) +
                      ", mask " + std::to_string(mask.size()));
  std::vector<float> out(logp.size(), 0.0f);
  for (size_t t = 0; t < logp.size(); ++t)
    if (mask.empty() || mask[t] != 0) out[t] = static_cast<float>(kl_value(e, logp[t], ref[t]));
  return out;
}

std::vector<double> kl_penalized_rewards(const RlConfig& cfg, std::span<const double> rewards, std::span<const float> logp_old,
                                         std::span<const float> ref_logp, std::span<const float> mask,
                                         std::span<const int64_t> off) {
  std::vector<double> out(rewards.begin(), rewards.end());
  if (cfg.beta == 0 || cfg.kl_mode != KlMode::Reward) return out;
  if (off.size() != rewards.size() + 1 || off.front() != 0)
    throw FormatError("kl_penalized_rewards: " + std::to_string(rewards.size()) + " rewards but " + std::to_string(off.size()) +
                      " offsets (want S+1, starting at 0)");
  const size_t T = static_cast<size_t>(off.back());
  if (logp_old.size() != T || ref_logp.size() != T || mask.size() != T)
    throw FormatError("kl_penalized_rewards: offsets say " + std::to_string(T) + " tokens, logp_old has " + std::to_string(logp_old.size()) +
                      ", ref_logp " + std::to_string(ref_logp.size()) + ", mask " + std::to_string(mask.size()));
  for (size_t s = 0; s < rewards.size(); ++s) {
    double kl = 0;
    for (int64_t t = off[s]; t < off[s + 1]; ++t)
      if (mask[t] != 0) kl += kl_value(cfg.kl_estimator, logp_old[t], ref_logp[t]);
    out[s] -= cfg.beta * kl;
  }
  return out;
}

}  // namespace reasonrl::rl

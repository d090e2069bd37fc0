// rollout_correction.cpp: overlong filtering and the rollout_rs rejection masks.
#include "rl/core/rollout_correction.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "rl/util/error.h"

namespace reasonrl::rl {

namespace {
constexpr double kLogRatioClamp = 20.0;  // verl's safety bound on IS log-ratios
}

RejectionBand rejection_band(const RlConfig& cfg) {
  RejectionBand b;
  b.upper = cfg.rollout_rs_threshold;
  b.lower = cfg.rollout_rs_threshold_lower > 0 ? cfg.rollout_rs_threshold_lower
                                               : (cfg.rollout_rs_threshold > 0 ? 1.0 / cfg.rollout_rs_threshold : 0.0);
  return b;
}

RejectionStats rollout_rejection(const RlConfig& cfg, std::span<const float> old_logp, std::span<const float> rollout_logp,
                                 std::span<float> mask) {
  if (old_logp.size() != mask.size() || rollout_logp.size() != mask.size())
    throw FormatError("rollout_rejection: old_logp has " + std::to_string(old_logp.size()) + " entries, rollout_logp " +
                      std::to_string(rollout_logp.size()) + ", mask " + std::to_string(mask.size()));
  RejectionStats st;
  const size_t n = mask.size();
  double sum_d = 0, n_live = 0;
  for (size_t t = 0; t < n; ++t) {
    if (mask[t] == 0) continue;
    const double d = static_cast<double>(old_logp[t]) - rollout_logp[t];
    if (!std::isfinite(d))
      throw NumericError("rollout_rejection: log-ratio old_logp - rollout_logp is not finite at token " + std::to_string(t));
    sum_d += d;
    n_live += 1;
  }
  st.tokens = n_live;
  st.sequences = n_live > 0 ? 1 : 0;
  if (cfg.rollout_rs == RolloutRs::None || n_live == 0) return st;
  const RejectionBand band = rejection_band(cfg);
  const double log_lo = std::log(band.lower), log_hi = std::log(band.upper);
  auto outside = [&](double d) {
    const double c = std::clamp(d, -kLogRatioClamp, kLogRatioClamp);
    return c < log_lo || c > log_hi;
  };
  if (cfg.rollout_rs == RolloutRs::Token) {
    for (size_t t = 0; t < n; ++t)
      if (mask[t] != 0 && outside(static_cast<double>(old_logp[t]) - rollout_logp[t])) {
        mask[t] = 0.0f;
        st.tokens_rejected += 1;
      }
    if (st.tokens_rejected == n_live) st.sequences_rejected = 1;
    return st;
  }
  const double agg = cfg.rollout_rs == RolloutRs::Sequence ? sum_d : sum_d / n_live;
  if (outside(agg)) {
    std::fill(mask.begin(), mask.end(), 0.0f);
    st.tokens_rejected = n_live;
    st.sequences_rejected = 1;
  }
  return st;
}

bool mask_truncated_completion(const RlConfig& cfg, bool truncated, std::span<float> mask) {
  if (!cfg.mask_truncated_completions || !truncated) return false;
  std::fill(mask.begin(), mask.end(), 0.0f);
  return true;
}

}  // namespace reasonrl::rl

// policy_loss.cpp: the GRPO-family per-token loss (PPO clip, clip-higher, dual clip, TIS, KL in the loss) and its gradient.
#include "rl/core/policy_loss.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "rl/core/kimi_loss.h"
#include "rl/core/kl.h"
#include "rl/util/error.h"

namespace reasonrl::rl {

namespace {
// Log-ratios are clamped before exp (as verl does); the gradient is 0 where the clamp is active.
constexpr double kLogRatioClamp = 20.0;

[[noreturn]] void non_finite(const char* who, const char* what, int64_t t, double lp, double olp) {
  throw NumericError(std::string(who) + ": " + what + " is not finite at token " + std::to_string(t) +
                     " (logp " + std::to_string(lp) + ", old_logp " + std::to_string(olp) + ")");
}
}  // namespace

double policy_loss(const RlConfig& cfg, const TokenInputs& in, const LossNormalizer& norm, std::span<float> dlogp, LossStats* stats) {
  const int64_t S = check_token_inputs(cfg, in, "policy_loss");
  if (dlogp.size() != in.logp.size())
    throw FormatError("policy_loss: dlogp has " + std::to_string(dlogp.size()) + " entries but logp has " + std::to_string(in.logp.size()));
  const bool kl_in_loss = cfg.beta > 0 && cfg.kl_mode == KlMode::Loss;
  const bool tis = cfg.tis_cap > 0;
  const bool have_ref = !in.ref_logp.empty();
  const double lo = 1.0 - cfg.epsilon, hi = 1.0 + cfg.epsilon_high;
  LossStats st;
  double loss = 0;
  for (int64_t s = 0; s < S; ++s) {
    const int64_t b = in.seq_offsets[s], e = in.seq_offsets[s + 1];
    double n_s = 0;
    for (int64_t t = b; t < e; ++t) n_s += in.mask[t];
    const double wgt = norm.token_weight(n_s);
    if (n_s > 0) st.sequences += 1;
    for (int64_t t = b; t < e; ++t) {
      if (in.mask[t] == 0) {
        dlogp[t] = 0.0f;
        continue;
      }
      const double lp = in.logp[t], olp = in.old_logp[t];
      const double A = in.advantages.empty() ? in.seq_advantages[s] : in.advantages[t];
      const double raw_lr = lp - olp;
      const double lr = std::clamp(raw_lr, -kLogRatioClamp, kLogRatioClamp);
      const double ratio = std::exp(lr);
      const double dratio = (raw_lr == lr) ? ratio : 0.0;  // d ratio / d logp
      // PPO clip (objective is maximised; pg is its negative).
      const double unclipped = ratio * A;
      const double clipped = std::clamp(ratio, lo, hi) * A;
      double pg, dpg;
      if (unclipped <= clipped) {
        pg = -unclipped;
        dpg = -A * dratio;
      } else {  // the clamp is active and chosen: constant in logp
        pg = -clipped;
        dpg = 0.0;
        if (A > 0) st.clip_high += 1;
        else st.clip_low += 1;
      }
      if (cfg.delta > 0 && A < 0 && pg > -cfg.delta * A) {  // dual clip: loss capped at delta * |A|
        pg = -cfg.delta * A;
        dpg = 0.0;
        st.dual_clip += 1;
      }
      // Truncated importance correction between the sampler and the trainer (no gradient).
      double w = 1.0;
      if (tis) {
        const double iw = std::exp(std::clamp(static_cast<double>(olp) - in.rollout_logp[t], -kLogRatioClamp, kLogRatioClamp));
        w = std::min(iw, cfg.tis_cap);
        if (iw >= cfg.tis_cap) st.tis_truncated += 1;
      }
      double l = w * pg, g = w * dpg;
      st.pg_loss_sum += w * pg;
      if (have_ref) {
        const double kl = kl_value(cfg.kl_estimator, lp, in.ref_logp[t]);
        st.kl_ref_sum += kl;
        if (kl_in_loss) {
          l += cfg.beta * kl;
          g += cfg.beta * kl_grad(cfg.kl_estimator, lp, in.ref_logp[t]);
          st.kl_loss_sum += cfg.beta * kl;
        }
      }
      if (!std::isfinite(l)) non_finite("policy_loss", "the loss", t, lp, olp);
      if (!std::isfinite(g)) non_finite("policy_loss", "the gradient", t, lp, olp);
      loss += wgt * l;
      dlogp[t] = static_cast<float>(wgt * g);
      st.tokens += 1;
      st.ratio_sum += ratio;
      st.ratio_max = std::max(st.ratio_max, ratio);
      st.approx_kl_old_sum += kl_value(KlEstimator::K3, lp, olp);
      st.tis_weight_sum += w;
    }
  }
  if (stats) *stats += st;
  return loss;
}

double compute_loss(const RlConfig& cfg, const TokenInputs& in, const LossNormalizer& norm, std::span<float> dlogp, LossStats* stats) {
  switch (cfg.algorithm) {
    case Algorithm::Grpo: return policy_loss(cfg, in, norm, dlogp, stats);
    case Algorithm::Kimi: return kimi_loss(cfg, in, norm, dlogp, stats);
  }
  throw ConfigError("compute_loss: unknown algorithm; valid: " + enum_valid_list<Algorithm>());
}

LossResult compute_loss(const RlConfig& cfg, const TokenInputs& in, const LossNormalizer& norm) {
  LossResult r;
  r.dlogp.assign(in.logp.size(), 0.0f);
  r.loss = compute_loss(cfg, in, norm, r.dlogp, &r.stats);
  return r;
}

}  // namespace reasonrl::rl

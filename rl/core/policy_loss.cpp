// policy_loss.cpp: the GRPO-family per-token loss (PPO clip, clip-higher, dual clip, token- or sequence-level TIS, KL in
// the loss, GSPO's sequence ratio, CISPO) and its gradient.
#include "rl/core/policy_loss.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

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
  const bool seq_is = cfg.rollout_is == RolloutIsLevel::Sequence;
  const bool have_ref = !in.ref_logp.empty();
  const double lo = 1.0 - cfg.epsilon, hi = 1.0 + cfg.epsilon_high;
  const bool seq_level = cfg.importance_sampling_level == ImportanceSamplingLevel::Sequence;
  const bool cispo = cfg.loss_mode == PolicyLossMode::Cispo;
  LossStats st;
  double loss = 0;
  std::vector<double> g_seq;  // d loss / d logp of the current sequence's tokens, before the float store
  for (int64_t s = 0; s < S; ++s) {
    const int64_t b = in.seq_offsets[s], e = in.seq_offsets[s + 1];
    double n_s = 0;
    for (int64_t t = b; t < e; ++t) n_s += in.mask[t];
    const double wgt = norm.token_weight(n_s);
    if (n_s > 0) st.sequences += 1;
    // GSPO: one ratio per sequence, the geometric mean of its token ratios; d s / d logp_t = s / n_s.
    double s_ratio = 1.0, ds_dlogp = 0.0;
    if (seq_level && n_s > 0) {
      double sum_lr = 0;
      for (int64_t t = b; t < e; ++t)
        if (in.mask[t] != 0) sum_lr += static_cast<double>(in.logp[t]) - in.old_logp[t];
      const double raw = sum_lr / n_s, m = std::clamp(raw, -kLogRatioClamp, kLogRatioClamp);
      s_ratio = std::exp(m);
      ds_dlogp = (raw == m) ? s_ratio / n_s : 0.0;
    }
    // rollout_is sequence: one truncated weight for the whole response, the product of its token ratios.
    double w_seq = 1.0, iw_seq = 1.0;
    if (tis && seq_is && n_s > 0) {
      double sum_d = 0;
      for (int64_t t = b; t < e; ++t)
        if (in.mask[t] != 0) sum_d += static_cast<double>(in.old_logp[t]) - in.rollout_logp[t];
      iw_seq = std::exp(std::clamp(sum_d, -kLogRatioClamp, kLogRatioClamp));
      w_seq = std::min(iw_seq, cfg.tis_cap);
    }
    double seq_grad = 0;  // sequence level: sum over the tokens of d (wgt * l_t) / d s
    g_seq.assign(static_cast<size_t>(e - b), 0.0);
    for (int64_t t = b; t < e; ++t) {
      if (in.mask[t] == 0) continue;
      const double lp = in.logp[t], olp = in.old_logp[t];
      const double A = in.advantages.empty() ? in.seq_advantages[s] : in.advantages[t];
      double ratio, dratio;  // the ratio of this token and d ratio / d logp_t (its own token only)
      if (seq_level) {
        ratio = s_ratio;
        dratio = 0.0;  // flows through seq_grad to every token of the sequence
      } else {
        const double raw_lr = lp - olp;
        const double lr = std::clamp(raw_lr, -kLogRatioClamp, kLogRatioClamp);
        ratio = std::exp(lr);
        dratio = (raw_lr == lr) ? ratio : 0.0;
      }
      double pg, dpg_dratio = 0.0, dpg_dlogp = 0.0;
      if (cispo) {
        // CISPO: the clipped ratio is a constant weight on A * logp; no token loses its gradient.
        const double w_is = std::clamp(ratio, lo, hi);
        pg = -w_is * A * lp;
        dpg_dlogp = -w_is * A;
        if (ratio > hi) st.clip_high += 1;
        else if (ratio < lo) st.clip_low += 1;
      } else {
        // PPO clip (objective is maximised; pg is its negative).
        const double unclipped = ratio * A;
        const double clipped = std::clamp(ratio, lo, hi) * A;
        if (unclipped <= clipped) {
          pg = -unclipped;
          dpg_dratio = -A;
        } else {  // the clamp is active and chosen: constant in logp
          pg = -clipped;
          if (A > 0) st.clip_high += 1;
          else st.clip_low += 1;
        }
        if (cfg.delta > 0 && A < 0 && pg > -cfg.delta * A) {  // dual clip: loss capped at delta * |A|
          pg = -cfg.delta * A;
          dpg_dratio = 0.0;
          st.dual_clip += 1;
        }
      }
      // Truncated importance correction between the sampler and the trainer (no gradient).
      double w = 1.0;
      if (tis && seq_is) {
        w = w_seq;
        if (iw_seq >= cfg.tis_cap) st.tis_truncated += 1;
      } else if (tis) {
        const double iw = std::exp(std::clamp(static_cast<double>(olp) - in.rollout_logp[t], -kLogRatioClamp, kLogRatioClamp));
        w = std::min(iw, cfg.tis_cap);
        if (iw >= cfg.tis_cap) st.tis_truncated += 1;
      }
      double l = w * pg, g = w * (dpg_dratio * dratio + dpg_dlogp);
      seq_grad += wgt * w * dpg_dratio;
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
      loss += wgt * l;
      g_seq[t - b] = wgt * g;
      st.tokens += 1;
      st.ratio_sum += ratio;
      st.ratio_max = std::max(st.ratio_max, ratio);
      st.approx_kl_old_sum += kl_value(KlEstimator::K3, lp, olp);
      st.tis_weight_sum += w;
    }
    for (int64_t t = b; t < e; ++t) {
      if (in.mask[t] == 0) {
        dlogp[t] = 0.0f;
        continue;
      }
      const double g = seq_level ? g_seq[t - b] + seq_grad * ds_dlogp : g_seq[t - b];
      if (!std::isfinite(g)) non_finite("policy_loss", "the gradient", t, in.logp[t], in.old_logp[t]);
      dlogp[t] = static_cast<float>(g);
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

}  // namespace reasonrl::rl

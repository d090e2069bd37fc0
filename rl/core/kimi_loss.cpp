// kimi_loss.cpp: the Kimi k1.5 sequence-level mirror-descent loss and its per-token gradient (formula in kimi_loss.h).
#include "rl/core/kimi_loss.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "rl/core/kl.h"
#include "rl/util/error.h"

namespace reasonrl::rl {

double kimi_loss(const RlConfig& cfg, const TokenInputs& in, const LossNormalizer& norm, std::span<float> dlogp, LossStats* stats) {
  const int64_t S = check_token_inputs(cfg, in, "kimi_loss");
  if (in.seq_advantages.empty()) throw FormatError("kimi_loss: needs seq_advantages (r_j - r_bar per sequence)");
  if (dlogp.size() != in.logp.size())
    throw FormatError("kimi_loss: dlogp has " + std::to_string(dlogp.size()) + " entries but logp has " + std::to_string(in.logp.size()));
  const bool kl_in_loss = cfg.beta > 0 && cfg.kl_mode == KlMode::Loss;
  const bool have_ref = !in.ref_logp.empty();
  const double tau = cfg.kimi_tau;
  const double sw = norm.sequence_weight();
  LossStats st;
  double loss = 0;
  for (int64_t s = 0; s < S; ++s) {
    const int64_t b = in.seq_offsets[s], e = in.seq_offsets[s + 1];
    double n_s = 0, S_pol = 0, S_ref = 0;
    for (int64_t t = b; t < e; ++t)
      if (in.mask[t] != 0) {
        n_s += 1;
        S_pol += in.logp[t];
        S_ref += in.old_logp[t];
      }
    if (n_s == 0) {
      for (int64_t t = b; t < e; ++t) dlogp[t] = 0.0f;
      continue;
    }
    const double A = in.seq_advantages[s];
    const double diff = S_pol - S_ref;
    const double l = -A * S_pol + 0.5 * tau * diff * diff;
    const double g = -A + tau * diff;  // d l / d logp_t for every unmasked token of the sequence
    if (!std::isfinite(l) || !std::isfinite(g))
      throw NumericError("kimi_loss: loss or gradient not finite for sequence " + std::to_string(s) + " (sum logp " +
                         std::to_string(S_pol) + ", reference " + std::to_string(S_ref) + ")");
    loss += sw * l;
    st.pg_loss_sum += l;
    st.sequences += 1;
    const double tw = norm.token_weight(n_s);
    for (int64_t t = b; t < e; ++t) {
      if (in.mask[t] == 0) {
        dlogp[t] = 0.0f;
        continue;
      }
      double gt = sw * g;
      if (have_ref) {
        const double kl = kl_value(cfg.kl_estimator, in.logp[t], in.ref_logp[t]);
        st.kl_ref_sum += kl;
        if (kl_in_loss) {
          loss += tw * cfg.beta * kl;
          gt += tw * cfg.beta * kl_grad(cfg.kl_estimator, in.logp[t], in.ref_logp[t]);
          st.kl_loss_sum += cfg.beta * kl;
        }
      }
      dlogp[t] = static_cast<float>(gt);
      const double ratio = std::exp(std::clamp(static_cast<double>(in.logp[t]) - in.old_logp[t], -20.0, 20.0));
      st.tokens += 1;
      st.ratio_sum += ratio;
      st.ratio_max = std::max(st.ratio_max, ratio);
      st.approx_kl_old_sum += kl_value(KlEstimator::K3, in.logp[t], in.old_logp[t]);
      st.tis_weight_sum += 1.0;
    }
  }
  if (stats) *stats += st;
  return loss;
}

}  // namespace reasonrl::rl

// dpo_loss.cpp: DPO sigmoid / sigmoid_norm loss with label smoothing, and its gradient.
#include "rl/long2short/dpo_loss.h"

#include <algorithm>
#include <cmath>

namespace reasonrl::long2short {

double log_sigmoid(double z) { return z >= 0 ? -std::log1p(std::exp(-z)) : z - std::log1p(std::exp(z)); }

PairLoss dpo_pair_loss(const DpoLossParams& p, const PairLogps& x) {
  PairLoss r;
  const bool norm = p.loss_type == DpoLossType::SigmoidNorm;
  const double sc = norm ? 1.0 / std::max(1, x.chosen_len) : 1.0;
  const double sr = norm ? 1.0 / std::max(1, x.rejected_len) : 1.0;
  const double lc = (x.chosen - x.ref_chosen) * sc;
  const double lr = (x.rejected - x.ref_rejected) * sr;
  r.h = lc - lr;
  const double z = p.beta * r.h;
  const double eps = p.label_smoothing;
  r.loss = -(1.0 - eps) * log_sigmoid(z) - eps * log_sigmoid(-z);
  const double sig_pos = std::exp(log_sigmoid(z)), sig_neg = std::exp(log_sigmoid(-z));
  const double dh = p.beta * (-(1.0 - eps) * sig_neg + eps * sig_pos);
  r.d_chosen = dh * sc;
  r.d_rejected = -dh * sr;
  r.margin = z;
  r.chosen_reward = p.beta * lc;
  r.rejected_reward = p.beta * lr;
  return r;
}

}  // namespace reasonrl::long2short

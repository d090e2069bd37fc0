// dpo_loss.h: the DPO loss of one preference pair from sequence log-probs, and its gradient (TRL names and formulas).
//   h = (logp_c - ref_c) - (logp_r - ref_r)                       loss_type sigmoid
//   h = (logp_c - ref_c) / len_c - (logp_r - ref_r) / len_r       loss_type sigmoid_norm (length-normalised, TRL)
//   loss = -(1 - eps) log sigmoid(beta h) - eps log sigmoid(-beta h)   (eps = label_smoothing, conservative DPO)
//   dloss/dh = beta * ( -(1 - eps) sigmoid(-beta h) + eps sigmoid(beta h) )
// logp_* are sums of token log-probs of the response under the policy; ref_* the same under the reference.
#pragma once
#include "rl/util/config.h"

namespace reasonrl::long2short {

enum class DpoLossType { Sigmoid, SigmoidNorm };
REASONRL_ENUM_NAMES(DpoLossType, {DpoLossType::Sigmoid, "sigmoid"}, {DpoLossType::SigmoidNorm, "sigmoid_norm"})

struct DpoLossParams {
  double beta = 0.1;
  double label_smoothing = 0.0;
  DpoLossType loss_type = DpoLossType::Sigmoid;
};

struct PairLogps {
  double chosen = 0, rejected = 0;          // policy: summed token log-probs
  double ref_chosen = 0, ref_rejected = 0;  // reference
  int chosen_len = 1, rejected_len = 1;     // response tokens (sigmoid_norm divides by them)
};

struct PairLoss {
  double loss = 0;
  double h = 0;                // the (normalised) log-ratio difference
  double margin = 0;           // beta * h (TRL rewards/margins)
  double chosen_reward = 0;    // beta * (logp_c - ref_c)  (normalised for sigmoid_norm)
  double rejected_reward = 0;
  double d_chosen = 0;         // dloss / d logp_c  (the gradient w.r.t. every chosen token's log-prob)
  double d_rejected = 0;       // dloss / d logp_r
};

PairLoss dpo_pair_loss(const DpoLossParams& p, const PairLogps& x);

// log(sigmoid(z)) without overflow.
double log_sigmoid(double z);

}  // namespace reasonrl::long2short

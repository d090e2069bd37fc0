// kimi_loss.h: the Kimi k1.5 online-mirror-descent objective (algorithms.md §1.2), sequence level, with its gradient.
//
// Iteration i: the reference is pi_{theta_i}, the policy at the start of the iteration (= the one that sampled the
// batch, so in TokenInputs it is `old_logp`); the optimizer is reset at the start of every iteration
// (reset_optimizer_now in rl_config.h). Per problem x with k responses y_j sampled from pi_{theta_i}:
//
//   Paper, Eq. 2 (surrogate):  L(theta) = E[ ( r_j - tau*log Z - tau*log( pi_theta(y_j|x) / pi_{theta_i}(y_j|x) ) )^2 ]
//   with tau*log Z ~= r_bar = mean_j r_j. Its gradient (Eq. 3, ascent direction, = -1/(2 tau) grad L):
//     (1/k) sum_j [ grad log pi_theta(y_j|x) * (r_j - r_bar) - (tau/2) grad ( log pi_theta(y_j|x) - log pi_{theta_i}(y_j|x) )^2 ]
//
//   What we minimise (same gradient up to sign, algorithms.md "our choice of writing"):
//     l_j  = -(r_j - r_bar) * S_j + (tau/2) * (S_j - S_ref_j)^2,
//     S_j  = sum_{t in j, mask} logp_t          (sequence log-prob = sum of token log-probs)
//     S_ref_j = sum_{t in j, mask} old_logp_t   (the iteration-start policy)
//     loss = sum_j l_j / N_seq                  (N_seq over the whole optimizer step; = mean over problems of
//                                                (1/k) sum_j when every group has k responses)
//   Gradient, for every unmasked token t of sequence j:
//     d loss / d logp_t = ( -(r_j - r_bar) + tau * (S_j - S_ref_j) ) / N_seq
//   (r_j - r_bar) comes in as seq_advantages (compute_advantages with algorithm kimi).
#pragma once

#include <span>

#include "rl/core/loss_aggregation.h"
#include "rl/core/rl_config.h"

namespace reasonrl::rl {

// Uses in.logp, in.old_logp (the reference pi_{theta_i}), in.seq_advantages, in.mask, in.seq_offsets, cfg.kimi_tau,
// and norm.sequence_weight(). When beta > 0 and kl_mode == loss, adds beta * kl(logp, ref_logp) per token weighted
// by the normaliser's token weight, as in policy_loss. Writes dlogp [T]; adds to *stats; returns the loss contribution.
double kimi_loss(const RlConfig& cfg, const TokenInputs& in, const LossNormalizer& norm, std::span<float> dlogp,
                 LossStats* stats = nullptr);

}  // namespace reasonrl::rl

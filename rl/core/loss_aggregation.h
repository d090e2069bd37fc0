// loss_aggregation.h: the token layout of a micro-batch, and how token losses are weighted so that the
// gradient of one optimizer step does not depend on how its batch is split into micro-batches.
//
// Protocol for one optimizer step, i.e. one mini-batch (TRL #3021, verl #5625: the denominator must be global over
// the mini-batch, not per micro-batch):
//   BatchCounts c;                                   // over EVERY micro-batch of the step (and every rank)
//   for (mb : micro_batches) c += count_tokens(mb.mask, mb.seq_offsets);
//   LossNormalizer norm = make_loss_normalizer(cfg, c);
//   for (mb : micro_batches) { loss += compute_loss(cfg, mb.inputs, norm, dlogp, &stats); backward(dlogp); }
//   // no further division: the summed gradients are the gradient of the step's loss.
// The same mask is used to count (denominator) and to weight (numerator) tokens (TRL #6369): a token with
// mask 0 neither counts nor contributes; a sequence with no unmasked token is not counted in N_seq.
#pragma once

#include <cstdint>
#include <span>

#include "rl/core/rl_config.h"

namespace reasonrl::rl {

// One micro-batch, flat over its T tokens (response tokens only, or all tokens with mask 0 on the prompt).
// Sequence s owns tokens [seq_offsets[s], seq_offsets[s+1]); seq_offsets has S+1 entries, seq_offsets[0] = 0,
// seq_offsets[S] = T. A sequence must not be split across micro-batches.
struct TokenInputs {
  std::span<const float> logp;            // [T] log pi_theta(o_t | ...) of the current policy (what the gradient is w.r.t.)
  std::span<const float> old_logp;        // [T] log pi_old: the policy that started this rollout step (Kimi: its reference)
  std::span<const float> ref_logp;        // [T] or empty: reference policy; required when beta > 0 and kl_mode == loss
  std::span<const float> rollout_logp;    // [T] or empty: the sampler's log-probs; required when tis_cap > 0
  std::span<const float> advantages;      // [T] or empty: per-token advantages (REINFORCE++ per-token returns)
  std::span<const float> seq_advantages;  // [S] or empty: per-sequence advantages, broadcast to tokens.
                                          //     Exactly one of advantages / seq_advantages must be given
                                          //     (Kimi requires seq_advantages).
  std::span<const float> mask;            // [T] 1 = token is trained, 0 = ignored (prompt, padding, masked truncation)
  std::span<const int64_t> seq_offsets;   // [S+1]
};

// Token and sequence counts; add over the micro-batches (and ranks) of one optimizer step.
struct BatchCounts {
  double tokens = 0;     // unmasked tokens
  double sequences = 0;  // sequences with at least one unmasked token
  BatchCounts& operator+=(const BatchCounts& o) {
    tokens += o.tokens;
    sequences += o.sequences;
    return *this;
  }
};
BatchCounts count_tokens(std::span<const float> mask, std::span<const int64_t> seq_offsets);

// Weights of token losses for one optimizer step. loss = sum_{s,t} mask_{s,t} * weight(n_s) * l_{s,t}.
struct LossNormalizer {
  LossType type = LossType::TokenMean;
  double tokens = 0;      // N_tok of the whole step
  double sequences = 0;   // N_seq of the whole step
  double max_len = 1;     // L (dr_grpo)
  // Weight of an unmasked token in a sequence with n_s unmasked tokens (see LossType in rl_config.h).
  double token_weight(double n_s) const;
  // Weight of a whole sequence's summed loss (Kimi's sequence-level loss): 1 / N_seq.
  double sequence_weight() const { return sequences > 0 ? 1.0 / sequences : 0.0; }
};
// Throws FormatError when counts are negative. A step with 0 tokens gives weight 0 everywhere.
LossNormalizer make_loss_normalizer(const RlConfig& cfg, const BatchCounts& whole_step);

// Weight of one micro-batch's MoE sequence-wise balance loss (seq_aux_alpha), passed to Model::backward as its
// aux_loss_scale. The model computes that loss as a mean over the micro-batch's sequences; weighting it by
// micro_sequences / step_sequences makes the step's balance loss the mean over ALL the step's sequences (every
// micro-batch, every rank), like the policy loss's global token counts, so the split does not change the gradient.
// (1 / n_micro, the old weight, gives a sequence of a short micro-batch more weight.) step_sequences > 0 and
// 0 <= micro_sequences <= step_sequences, else FormatError.
double balance_loss_scale(double micro_sequences, double step_sequences);

// Sums for metrics; merge over micro-batches with +=, then read the means.
struct LossStats {
  double tokens = 0;            // unmasked tokens seen
  double sequences = 0;         // sequences with >= 1 unmasked token seen
  double clip_low = 0;          // tokens where the lower clip is active (A < 0, ratio < 1 - epsilon): gradient cut
                                //   (loss_mode cispo: tokens whose IS weight was clipped to a bound, any A; gradient kept)
  double clip_high = 0;         // tokens where the upper clip is active (A > 0, ratio > 1 + epsilon_high): gradient cut
  double dual_clip = 0;         // tokens where the dual clip is active (A < 0, ratio > delta): gradient cut
  double ratio_sum = 0;         // sum of pi_theta / pi_old
  double ratio_max = 0;
  double approx_kl_old_sum = 0; // sum of k3(pi_theta vs pi_old): how far the update moved (verl ppo_kl uses k1)
  double kl_ref_sum = 0;        // sum of the configured estimator vs the reference (0 when there is none)
  double tis_weight_sum = 0;    // sum of the truncated importance weights (tokens when TIS is off)
  double tis_truncated = 0;     // tokens whose importance weight hit tis_cap (rollout_is sequence: every token of such a response)
  double pg_loss_sum = 0;       // unnormalised sum of token policy-gradient losses (Kimi: of sequence losses)
  double kl_loss_sum = 0;       // unnormalised sum of beta * kl over tokens
  LossStats& operator+=(const LossStats& o);
  double clip_frac_low() const { return tokens > 0 ? clip_low / tokens : 0; }
  double clip_frac_high() const { return tokens > 0 ? clip_high / tokens : 0; }
  double clip_frac() const { return tokens > 0 ? (clip_low + clip_high + dual_clip) / tokens : 0; }
  double ratio_mean() const { return tokens > 0 ? ratio_sum / tokens : 0; }
  double approx_kl_old() const { return tokens > 0 ? approx_kl_old_sum / tokens : 0; }
  double kl_ref() const { return tokens > 0 ? kl_ref_sum / tokens : 0; }
  double tis_weight_mean() const { return tokens > 0 ? tis_weight_sum / tokens : 0; }
  double tis_truncated_frac() const { return tokens > 0 ? tis_truncated / tokens : 0; }
};

// Checks the shapes of `in` (sizes agree, offsets monotone from 0 to T, the optional arrays present when the
// config needs them). Throws FormatError naming the array and both sizes. Returns S.
int64_t check_token_inputs(const RlConfig& cfg, const TokenInputs& in, const char* who);

}  // namespace reasonrl::rl

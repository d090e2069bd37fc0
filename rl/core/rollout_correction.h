// rollout_correction.h: the loss masks set once per rollout batch, before the normaliser counts tokens: overlong
// filtering (TRL `mask_truncated_completions`, DAPO) and masked importance sampling / rejection sampling of the
// rollout-vs-trainer mismatch (verl rollout_correction `rollout_rs`). The truncated IS weight itself (tis_cap,
// rollout_is) is applied inside policy_loss.
//
// Both only turn mask entries to 0; a masked token leaves the numerator and the denominator of every loss_type, and a
// response with no unmasked token is not counted in N_seq (loss_aggregation.h): a rejected or truncated response is
// exactly an absent one. Call them on the whole response (a sequence is never split) before count_tokens.
#pragma once

#include <cstdint>
#include <span>

#include "rl/core/rl_config.h"

namespace reasonrl::rl {

// Counts of the rejection; add over responses and ranks, then read the fractions.
struct RejectionStats {
  double tokens = 0;              // unmasked tokens before the rejection
  double tokens_rejected = 0;     // of those, set to 0
  double sequences = 0;           // responses with >= 1 unmasked token before
  double sequences_rejected = 0;  // of those, with none left after
  RejectionStats& operator+=(const RejectionStats& o) {
    tokens += o.tokens;
    tokens_rejected += o.tokens_rejected;
    sequences += o.sequences;
    sequences_rejected += o.sequences_rejected;
    return *this;
  }
  double token_frac() const { return tokens > 0 ? tokens_rejected / tokens : 0; }
  double sequence_frac() const { return sequences > 0 ? sequences_rejected / sequences : 0; }
};

// The band of rollout_rs: [lower, upper] with lower = rollout_rs_threshold_lower, or 1 / upper when that is 0.
struct RejectionBand {
  double lower = 0, upper = 0;
};
RejectionBand rejection_band(const RlConfig& cfg);

// Applies cfg.rollout_rs to one response's mask [n] in place, from its trainer (old_logp) and sampler (rollout_logp)
// log-probs [n]: with d_t = old_t - rollout_t over unmasked tokens (clamped to [-20, 20], as verl's safety bound)
//   token:     mask_t = 0 where exp(d_t) is outside the band;
//   sequence:  every mask_t = 0 when exp(sum_t d_t) is outside;  geometric: when exp(mean_t d_t) is outside.
// none leaves the mask as it is. Throws FormatError when the sizes differ, NumericError on a non-finite log-prob of an
// unmasked token.
RejectionStats rollout_rejection(const RlConfig& cfg, std::span<const float> old_logp, std::span<const float> rollout_logp,
                                 std::span<float> mask);

// Overlong filtering: when cfg.mask_truncated_completions and the response was cut at the generation budget
// (`truncated`: finish reason length, no stop token), sets its whole mask to 0 and returns true.
bool mask_truncated_completion(const RlConfig& cfg, bool truncated, std::span<float> mask);

}  // namespace reasonrl::rl

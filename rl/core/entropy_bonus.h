// entropy_bonus.h: the optional entropy bonus of the policy loss (verl `entropy_coeff`), aggregated like the policy
// loss, and its gradient w.r.t. the per-token entropies (policy::sampling_logprob_backward carries it to the logits).
//
// loss_ent = -entropy_coeff * sum_{s,t} mask_{s,t} * weight(n_s) * H_{s,t}    (weight from the step's LossNormalizer,
// so the bonus is agg_loss(entropy, mask, loss_type) as verl's `pg_loss - entropy_coeff * entropy_loss`)
// d loss_ent / d H_{s,t} = -entropy_coeff * weight(n_s) at unmasked tokens, 0 elsewhere.
#pragma once

#include <cstdint>
#include <span>

#include "rl/core/loss_aggregation.h"
#include "rl/core/rl_config.h"

namespace reasonrl::rl {

// Returns the micro-batch's contribution to the bonus term and overwrites dentropy [T] with its gradient. entropy,
// mask and dentropy have T entries, seq_offsets S + 1 (TokenInputs' layout). entropy_coeff 0 gives 0 and a zero
// gradient. Throws FormatError on inconsistent shapes, NumericError naming the token on a non-finite entropy.
double entropy_bonus(const RlConfig& cfg, std::span<const float> entropy, std::span<const float> mask,
                     std::span<const int64_t> seq_offsets, const LossNormalizer& norm, std::span<float> dentropy);

}  // namespace reasonrl::rl

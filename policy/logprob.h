// logprob.h: the trainer's log-prob head: log pi(target), entropy and their gradients w.r.t. the logits, under exactly
// the distribution the rollout sampler draws from (temperature, then top-k / top-p / min-p truncation, kept set
// renormalised; see sampling.h for the order and tie rule).
//
// With s = logits / T and K the kept set (a function of s; held fixed in the backward pass):
//   logp    = s_y - logsumexp_{j in K} s_j                    p_j = softmax_K(s)_j, 0 outside K
//   entropy = -sum_{j in K} p_j log p_j
//   dlogits_j = ( dlogp * (1[j=y] - p_j)  -  dentropy * p_j * (log p_j + entropy) ) / T   for j in K, 0 outside
// A target outside K (trainer logits drifted from the rollout's) is added to K for that row, so logp stays finite;
// such rows are counted in LogprobStats::outside_kept_set. Greedy params (temperature 0): logp = entropy = 0, grad 0.
// Rows whose target is < 0 are skipped (outputs 0, gradient 0), e.g. padding.
// Batched over rows with OpenMP; the result does not depend on the thread count.
#pragma once

#include <cstdint>

#include "policy/sampling.h"

namespace reasonrl::policy {

struct LogprobStats {
  int64_t rows = 0;              // rows with a target >= 0
  int64_t outside_kept_set = 0;  // rows whose target was outside the truncated set (added to it)
};

// logits (N, V) row-major; targets (N); writes logp (N) and, if not null, entropy (N).
LogprobStats sampling_logprob(const float* logits, int64_t n_rows, int vocab, const SamplingParams& sp,
                              const int32_t* targets, float* logp, float* entropy = nullptr);

// Backward of sampling_logprob: overwrites dlogits (N, V) with dlogp * dlogp/dlogits (+ dentropy * dH/dlogits when
// dentropy is not null).
void sampling_logprob_backward(const float* logits, int64_t n_rows, int vocab, const SamplingParams& sp,
                               const int32_t* targets, const float* dlogp, const float* dentropy, float* dlogits);

// One row, in double (for tests and tools). Returns logp; writes the entropy if asked.
double token_logprob(const float* logits, int vocab, const SamplingParams& sp, int32_t target,
                     double* entropy = nullptr);

}  // namespace reasonrl::policy

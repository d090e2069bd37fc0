// fused_sample.h: the decode output head fused with sampling from its full softmax (issue 20: rollouts at a 128k
// vocabulary). The logits x w^T are formed one vocabulary tile at a time and reduced to a (max, sum of exp) per row and
// tile; the draw is then located first among the tiles and then inside the one tile that holds it (that tile's logits
// recomputed for that row), so the (n, V) logits are never written, every logit's exp is taken once (vectorised, in
// float) and no sort or per-token copy of the vocabulary is made. Sampling only: the untruncated softmax; top-k,
// top-p, min-p and greedy stay on policy's sampler chain. Temperature: the caller scales x (or the logits) by 1 / T.
//
// The draw is the one policy's dist sampler makes with the same uniform u in [0, 1): the first token (in id order)
// whose cumulative mass exceeds u * Z. The sums are in a different order and precision (per-tile float sums of a
// vectorised exp merged in double, instead of one double running sum of std::exp), so a token differs from the
// sampler chain's only when u * Z falls within rounding (~1e-7 of Z) of a boundary between two tokens.
// The slow scalar reference (plain dot products, softmax and running sum in double) is fused_head_sample_ref.
#pragma once
#include <cstdint>

namespace reasonrl::model {

// Vocabulary columns per tile (a thread's tile is n x kFusedSampleCols logits).
inline constexpr int kFusedSampleCols = 1024;

// x (n, D) rows (already scaled by 1 / temperature), w (V, D) the head in the PyTorch layout, u (n) in [0, 1).
// Writes tok (n) and logp (n) = log softmax(x_i w^T)[tok_i]. Tiles are split statically over the OpenMP threads and
// merged in tile order, so the result does not depend on the thread count.
template <class S>
void fused_head_sample(int32_t* tok, double* logp, const S* x, const S* w, const double* u, int n, int D, int V);

// The same draw from one given logits row (V), each logit multiplied by `scale` (1 / temperature) first.
template <class S>
int32_t sample_logits_row(const S* logits, int V, S scale, double u, double* logp);

// Scalar reference of fused_head_sample: logits by plain dot products in double, max, exp and the running sum in
// double in id order (as policy's dist sampler).
template <class S>
void fused_head_sample_ref(int32_t* tok, double* logp, const S* x, const S* w, const double* u, int n, int D, int V);

}  // namespace reasonrl::model

// fused_head.h: the output head fused with the log-softmax (the Liger-kernel / Cut-Cross-Entropy idea): token
// log-probs of chosen rows, and their backward, computed in tiles of rows x vocabulary so the (N, V) logits are never
// materialised (memory O(threads * tile) instead of O(N * V)). Cross-entropy is -logp; a loss sum_n c_n * logp[n]
// passes dlogp[n] = c_n. The unfused reference is linear_forward + softmax_xent (layers.h); tests compare the two.
// Letters as in layers.h.
#pragma once
#include <cstdint>

namespace reasonrl::model {

// Tile sizes: rows of x per pass, vocabulary rows of w per tile (one thread's tile is kFusedHeadRows x kFusedHeadCols).
inline constexpr int kFusedHeadRows = 128;
inline constexpr int kFusedHeadCols = 512;

// x (N, D) hidden rows, w (V, D) the head in the PyTorch layout, target (N) in [0, V).
// Writes logp (N) = log softmax(x w^T)[target] and lse (N) = log sum_v exp(x . w_v) (kept for the backward), and, if
// entropy is not null, entropy (N) = -sum_v p_v log p_v of the same softmax (no backward: a metric).
template <class S>
void fused_head_logprob_forward(S* logp, S* lse, const S* x, const S* w, const int32_t* target, int N, int D, int V,
                                S* entropy = nullptr);
// From dlogp (N) = dLoss/dlogp: dlogits[n][v] = dlogp[n] * (1[v == target[n]] - softmax(x_n w^T)[v]), and
// dx (N, D) += dlogits @ w, dw (V, D) += dlogits^T @ x (ACCUMULATE; dx or dw may be null). Rows with dlogp == 0 add
// nothing.
template <class S>
void fused_head_logprob_backward(S* dx, S* dw, const S* dlogp, const S* lse, const S* x, const S* w,
                                 const int32_t* target, int N, int D, int V);

}  // namespace reasonrl::model

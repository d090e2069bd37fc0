// layers.h: the layer kernels of the model as xxx_forward / xxx_backward pairs over raw row-major buffers,
// templated on the scalar (float for training, double for finite-difference tests), plus slow scalar references.
//
// Dimension letters used in the shape comments (declared once here):
//   N = tokens (B*T or the decode rows), B = batch rows, T = sequence length, D = hidden_size, V = vocab_size,
//   H = heads, Dn = qk_nope_head_dim, Dr = qk_rope_head_dim, Dv = v_head_dim, C = kv_lora_rank, Q = q_lora_rank,
//   F = an FFN width (intermediate_size, moe_intermediate_size or n_shared*moe_intermediate_size), E = n_routed_experts,
//   K = num_experts_per_tok, I/O = in/out features of a linear.
// Backward functions ACCUMULATE (+=) into every gradient they write (dx and dw), so residual branches add up.
#pragma once
#include <cstddef>
#include <cstdint>

#include "model/config.h"

namespace reasonrl::model {

// y (N, O) = x (N, I) @ w (O, I)^T     (w in the PyTorch [out, in] layout)
template <class S>
void linear_forward(S* y, const S* x, const S* w, int N, int I, int O);
// The same for decoding: up to 64 rows go to the register-blocked small-GEMM kernel (split over the threads) instead of
// Eigen's GEMM, which packs its operands on every call. Training keeps linear_forward, so its results (and the runs
// pinned to them) do not move; the two agree to float rounding.
template <class S>
void linear_forward_decode(S* y, const S* x, const S* w, int N, int I, int O);
// The same, batch-invariant (the deterministic mode, model.h set_deterministic): every output is summed in one fixed
// order (16 lanes in order, one halving tree, the tail last: dot()'s) whatever N, the row's place in the batch and
// the thread count, so a row's result is bit-identical alone or among any others.
template <class S>
void linear_forward_invariant(S* y, const S* x, const S* w, int N, int I, int O);
// dx (N, I) += dy (N, O) @ w (O, I);  dw (O, I) += dy^T @ x.   dx or dw may be null.
template <class S>
void linear_backward(S* dx, S* dw, const S* dy, const S* x, const S* w, int N, int I, int O);
// Scalar references of the two (tests compare the optimised ones against these).
template <class S>
void linear_forward_ref(S* y, const S* x, const S* w, int N, int I, int O);
template <class S>
void linear_backward_ref(S* dx, S* dw, const S* dy, const S* x, const S* w, int N, int I, int O);

// y (N, D) = x * rstd * w, rstd (N) = 1/sqrt(mean(x^2) + eps) kept for the backward pass.
template <class S>
void rmsnorm_forward(S* y, S* rstd, const S* x, const S* w, int N, int D, double eps);
// dx (N, D) += ..., dw (D) += sum_n dy * x * rstd.   dx or dw may be null.
template <class S>
void rmsnorm_backward(S* dx, S* dw, const S* dy, const S* x, const S* w, const S* rstd, int N, int D);

// RoPE on adjacent pairs (x[2i], x[2i+1]) rotated by pos * theta^(-2i/Dr), in place.
// Vector v of token n starts at x + n*tok_stride + v*vec_stride (nvec vectors per token, e.g. one per head).
// sign = +1 rotates forward; sign = -1 rotates back, which is the backward pass (rotation is orthogonal).
template <class S>
void rope_apply(S* x, int N, int tok_stride, int nvec, int vec_stride, const int32_t* pos, int Dr, double theta,
                int sign);
// The same with the frequencies and cos / sin multiplier of `rope` (YaRN; RopeSpec{theta} is the plain case above).
template <class S>
void rope_apply(S* x, int N, int tok_stride, int nvec, int vec_stride, const int32_t* pos, int Dr, const RopeSpec& rope,
                int sign);

// SwiGLU: gu (N, 2F) holds [gate | up] per row; a (N, F) = silu(gate) * up.
template <class S>
void swiglu_forward(S* a, const S* gu, int N, int F);
// The same for decoding, with a vectorised exp (float: Cephes' expf, within 2 ulp of std::exp).
template <class S>
void swiglu_forward_decode(S* a, const S* gu, int N, int F);
// dgu (N, 2F) = (write, not accumulate) gradient of [gate | up] from da (N, F).
template <class S>
void swiglu_backward(S* dgu, const S* da, const S* gu, int N, int F);

// MLA attention core in the expanded form, causal within each of the B rows of T tokens:
//   q (N, H, Dn+Dr) (rope part already rotated), kv (N, H, Dn+Dv) = [k_nope | v] per head, kpe (N, Dr) rotated,
//   shared by all heads.  o (N, H, Dv); att (B, H, T, T) softmax probabilities kept for the backward pass.
template <class S>
void mla_attention_forward(S* o, S* att, const S* q, const S* kv, const S* kpe, int B, int T, int H, int Dn, int Dr,
                           int Dv, double scale);
// dq (N, H, Dn+Dr), dkv (N, H, Dn+Dv), dkpe (N, Dr) are WRITTEN (overwritten), from dout (N, H, Dv).
template <class S>
void mla_attention_backward(S* dq, S* dkv, S* dkpe, const S* dout, const S* att, const S* q, const S* kv,
                            const S* kpe, int B, int T, int H, int Dn, int Dr, int Dv, double scale);

// Absorbed MLA attention of M decode rows over the latent cache (forward only; nothing trains through decoding).
// The cache is shared by all heads (MLA at decode time is MQA over [c_KV | k_R]), so each row reads its cached
// positions once for every head. Per row m and head h, with kv_j = kv[m] + j*(C+Dr) for j < len[m]:
//   qa = [W^UK_h^T q^nope_h ; q^pe_h] (C+Dr),  s_j = scale * qa . kv_j,  p = softmax(s),
//   o_h = W^UV_h (sum_j p_j kv_j[0:C])  (Dv)
// q (M, H, Dn+Dr) (rope part rotated), kv[m] (len[m], C+Dr) contiguous, wkvb (H*(Dn+Dv), C) = kv_b_proj in the
// PyTorch layout (rows h*(Dn+Dv) + [0, Dn) are W^UK_h, + [Dn, Dn+Dv) are W^UV_h), o (M, H, Dv).
// work: M * mla_decode_work(H, C, Dr, max len) scalars.
size_t mla_decode_work(int H, int C, int Dr, int max_len);
template <class S>
void mla_decode_attention_forward(S* o, const S* q, const S* const* kv, const int* len, const S* wkvb, int M, int H,
                                  int Dn, int Dr, int Dv, int C, double scale, S* work);
// The same over a paged cache (BasicKVCache): row m's position j is kv_blocks[m][j / block_tokens] +
// (j % block_tokens) * (C+Dr); block_tokens a positive multiple of 4. Bit-identical to the contiguous call above.
template <class S>
void mla_decode_attention_forward_paged(S* o, const S* q, const S* const* const* kv_blocks, int block_tokens,
                                        const int* len, const S* wkvb, int M, int H, int Dn, int Dr, int Dv, int C,
                                        double scale, S* work);
template <class S>
void mla_decode_attention_forward_ref(S* o, const S* q, const S* const* kv, const int* len, const S* wkvb, int M,
                                      int H, int Dn, int Dr, int Dv, int C, double scale);

// Softmax cross-entropy over rows: returns sum_n w[n] * (-log softmax(logits[n])[target[n]]) over rows with w != 0.
// If dlogits is not null it is WRITTEN with scale * w[n] * (softmax - onehot) (zeros for rows with w == 0).
// w may be null (all 1). logits (N, V).
template <class S>
double softmax_xent(const S* logits, const int32_t* target, const S* w, S* dlogits, S scale, int N, int V);

}  // namespace reasonrl::model

// layers.cpp: kernels of layers.h (Eigen for the GEMMs, OpenMP across tokens / heads), and their scalar references.
#include "model/layers.h"

#include "model/eigen.h"
#include "model/parallel.h"
#include "model/simd.h"
#include "rl/util/error.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

namespace reasonrl::model {

// ---- linear --------------------------------------------------------------------------------------
namespace {
using namespace simd;
// The four lane sums of c0..c3 together (the halving steps of four reductions share their shuffles).
inline void lane_sum4(Vec64f c0, Vec64f c1, Vec64f c2, Vec64f c3, float* out) {
  const Vec64f x01 = __builtin_shufflevector(c0, c1, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
                     __builtin_shufflevector(c0, c1, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  const Vec64f x23 = __builtin_shufflevector(c2, c3, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
                     __builtin_shufflevector(c2, c3, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  const Vec64f y = __builtin_shufflevector(x01, x23, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
                   __builtin_shufflevector(x01, x23, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  const Vec32f z = __builtin_shufflevector(y, y, 0, 1, 4, 5, 8, 9, 12, 13) +
                   __builtin_shufflevector(y, y, 2, 3, 6, 7, 10, 11, 14, 15);
  const Vec16f w = __builtin_shufflevector(z, z, 0, 2, 4, 6) + __builtin_shufflevector(z, z, 1, 3, 5, 7);
  std::memcpy(out, &w, 16);
}
inline void lane_sum4(Vec64d c0, Vec64d c1, Vec64d c2, Vec64d c3, double* out) {
  out[0] = lane_sum<double>(c0);
  out[1] = lane_sum<double>(c1);
  out[2] = lane_sum<double>(c2);
  out[3] = lane_sum<double>(c3);
}
// Keeps a loaded vector in a register: without it GCC folds the load into every FMA that uses the vector, loading it
// R (or C) times per step. A 64-byte vector fits a register only with AVX-512 (elsewhere this does nothing).
__attribute__((always_inline)) inline void keep_in_register(Vec64f& v) {
#if defined(__x86_64__) && defined(__AVX512F__)
  asm("" : "+v"(v));
#else
  (void)v;
#endif
}

// The sixteen lane sums of c[0..15] together: out[k] = sum of c[k]'s lanes. Each level adds lanes i and i + 2^j of two
// vectors at once, so the tree (and the rounding) is the same as lane_sum's and lane_sum4's.
__attribute__((always_inline)) inline void lane_sum16(const Vec64f* c, float* out) {
  Vec64f t[8], u[4], v[2];
  for (int i = 0; i < 8; ++i)
    t[i] = __builtin_shufflevector(c[2 * i], c[2 * i + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23) +
           __builtin_shufflevector(c[2 * i], c[2 * i + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
  for (int i = 0; i < 4; ++i)
    u[i] = __builtin_shufflevector(t[2 * i], t[2 * i + 1], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27) +
           __builtin_shufflevector(t[2 * i], t[2 * i + 1], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
  for (int i = 0; i < 2; ++i)
    v[i] = __builtin_shufflevector(u[2 * i], u[2 * i + 1], 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29) +
           __builtin_shufflevector(u[2 * i], u[2 * i + 1], 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
  const Vec64f w = __builtin_shufflevector(v[0], v[1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30) +
                   __builtin_shufflevector(v[0], v[1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  std::memcpy(out, &w, 64);
}

// A register block of dot products: s[c * R + r] = w_r . x_c for R rows of w (stride ldw) and C rows of x (stride ldx),
// each of length n, R * C <= 16 accumulators. Each 16-float step loads R + C vectors for R * C FMAs. Returns true
// when n has no tail beyond the 16-lane steps. Per output the sum is the same as dot()'s: lanes accumulated in order,
// the same halving tree, the tail summed on its own and added last.
template <int R, int C>
__attribute__((always_inline)) inline bool block_dot_sums(const float* __restrict w, size_t ldw, const float* __restrict x,
                                                          size_t ldx, int n, float* __restrict s) {
  static_assert(R * C <= 16);
  Vec64f acc[16];
#pragma GCC unroll 16
  for (int k = 0; k < 16; ++k) acc[k] = Vec64f{};
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    Vec64f wv[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      wv[r] = load64(w + size_t(r) * ldw + i);
      keep_in_register(wv[r]);
    }
#pragma GCC unroll 16
    for (int c = 0; c < C; ++c) {
      Vec64f xv = load64(x + size_t(c) * ldx + i);
      keep_in_register(xv);  // w and x each loaded once per step
#pragma GCC unroll 16
      for (int r = 0; r < R; ++r) acc[c * R + r] += wv[r] * xv;
    }
  }
  lane_sum16(acc, s);
  if (i == n) return true;
  for (int c = 0; c < C; ++c)
    for (int r = 0; r < R; ++r) {
      float t = 0;
      for (int j = i; j < n; ++j) t += w[size_t(r) * ldw + j] * x[size_t(c) * ldx + j];
      s[c * R + r] += t;
    }
  return false;
}

// y[c * ldy + r] = w_r . x_c, rows of w and x of length (and stride) I.
template <int R, int C>
__attribute__((always_inline)) inline void block_dot(const float* __restrict w, const float* __restrict x, int I,
                                                     float* __restrict y, size_t ldy) {
  float s[16];
  block_dot_sums<R, C>(w, size_t(I), x, size_t(I), I, s);
#pragma GCC unroll 16
  for (int c = 0; c < C; ++c) std::memcpy(y + size_t(c) * ldy, s + c * R, sizeof(float) * R);
}

// Y (N, O) = X (N, I) W (O, I)^T for 2 <= N <= kSmallGemmMaxN(Decode): blocks of 8 rows of W (kept in L1)
// against 4 rows of x at a time, no packing. The 8-row blocks of W are split over the threads when the product is
// large enough to pay for a parallel region.
constexpr int kSmallGemmMaxN = 16;        // linear_forward (training and decoding)
constexpr int kSmallGemmMaxNDecode = 64;  // linear_forward_decode
constexpr size_t kGemvParallelMacs = size_t(1) << 16;
constexpr size_t kSmallGemmParallelMacs = size_t(1) << 17;
// One 8-row block b of W (the last block: the remaining < 8 rows) against the N rows of x.
inline void small_gemm_block(float* y, const float* x, const float* w, int N, int I, int O, int b) {
  auto rows = [&](auto R_, int o) {
    constexpr int R = decltype(R_)::value;
    const float* wb = w + size_t(o) * I;
    int n = 0;
    for (; n + 4 <= N; n += 4) {
      if constexpr (R == 8) {
        block_dot<4, 4>(wb, x + size_t(n) * I, I, y + size_t(n) * O + o, size_t(O));
        block_dot<4, 4>(wb + size_t(4) * I, x + size_t(n) * I, I, y + size_t(n) * O + o + 4, size_t(O));
      } else {
        block_dot<R, 4>(wb, x + size_t(n) * I, I, y + size_t(n) * O + o, size_t(O));
      }
    }
    const float* xn = x + size_t(n) * I;
    float* yn = y + size_t(n) * O + o;
    switch (N - n) {
      case 3:
        if constexpr (R == 8) {
          block_dot<4, 3>(wb, xn, I, yn, size_t(O));
          block_dot<4, 3>(wb + size_t(4) * I, xn, I, yn + 4, size_t(O));
        } else {
          block_dot<R, 3>(wb, xn, I, yn, size_t(O));
        }
        break;
      case 2: block_dot<R, 2>(wb, xn, I, yn, size_t(O)); break;
      case 1: block_dot<R, 1>(wb, xn, I, yn, size_t(O)); break;
      default: break;
    }
  };
  int o = 8 * b;  // the last block takes the remainder (< 8 rows) as 4 + 1 + 1 + 1
  if (o + 8 <= O) return rows(std::integral_constant<int, 8>{}, o);
  if (o + 4 <= O) rows(std::integral_constant<int, 4>{}, o), o += 4;
  for (; o < O; ++o) rows(std::integral_constant<int, 1>{}, o);
}
inline void small_gemm(float* y, const float* x, const float* w, int N, int I, int O) {
  const int blocks = (O + 7) / 8;
  parallel_for(blocks, size_t(N) * I * O >= kSmallGemmParallelMacs,
               [&](int b) { small_gemm_block(y, x, w, N, I, O, b); });
}

// The batch-invariant GEMM: small_gemm's blocks over chunks of kInvariantChunk rows of x (a chunk stays in cache while
// the blocks of W stream past), the (chunk, block) pairs split over the threads. Every output is one block_dot_sums
// sum, whose order depends on neither N, the chunking, the block shape nor the thread count.
constexpr int kInvariantChunk = 64;
inline void invariant_gemm(float* y, const float* x, const float* w, int N, int I, int O) {
  const int blocks = (O + 7) / 8, chunks = (N + kInvariantChunk - 1) / kInvariantChunk;
  parallel_for(chunks * blocks, size_t(N) * I * O >= kSmallGemmParallelMacs, [&](int i) {
    const int c = i / blocks, b = i % blocks, n0 = c * kInvariantChunk;
    small_gemm_block(y + size_t(n0) * O, x + size_t(n0) * I, w, std::min(kInvariantChunk, N - n0), I, O, b);
  });
}

template <class S>
inline S dot(const S* __restrict a, const S* __restrict b, int n) {
  constexpr int L = kLanes<S>;
  Vec64<S> acc = {};
  int i = 0;
  for (; i + L <= n; i += L) acc += load64(a + i) * load64(b + i);
  S tail = 0;
  for (; i < n; ++i) tail += a[i] * b[i];
  return lane_sum<S>(acc) + tail;
}
template <class S>
inline void dot4(const S* __restrict a0, const S* __restrict a1, const S* __restrict a2, const S* __restrict a3,
                 const S* __restrict b, int n, S* out) {
  constexpr int L = kLanes<S>;
  Vec64<S> c0 = {}, c1 = {}, c2 = {}, c3 = {};
  int i = 0;
  for (; i + L <= n; i += L) {
    const Vec64<S> bv = load64(b + i);
    c0 += load64(a0 + i) * bv;
    c1 += load64(a1 + i) * bv;
    c2 += load64(a2 + i) * bv;
    c3 += load64(a3 + i) * bv;
  }
  S t0 = 0, t1 = 0, t2 = 0, t3 = 0;
  for (; i < n; ++i) {
    t0 += a0[i] * b[i];
    t1 += a1[i] * b[i];
    t2 += a2[i] * b[i];
    t3 += a3[i] * b[i];
  }
  lane_sum4(c0, c1, c2, c3, out);
  out[0] += t0;
  out[1] += t1;
  out[2] += t2;
  out[3] += t3;
}

// Eight rows of a dotted with b: eight independent FMA chains (enough to cover the FMA latency) sharing b's loads.
template <class S>
inline void dot8(const S* __restrict a, size_t lda, const S* __restrict b, int n, S* out) {
  constexpr int L = kLanes<S>;
  Vec64<S> c[8] = {};
  int i = 0;
  for (; i + L <= n; i += L) {
    const Vec64<S> bv = load64(b + i);
    for (int k = 0; k < 8; ++k) c[k] += load64(a + size_t(k) * lda + i) * bv;
  }
  lane_sum4(c[0], c[1], c[2], c[3], out);
  lane_sum4(c[4], c[5], c[6], c[7], out + 4);
  for (int k = 0; k < 8; ++k)
    for (int j = i; j < n; ++j) out[k] += a[size_t(k) * lda + j] * b[j];
}
}  // namespace

template <class S>
void linear_forward(S* y, const S* x, const S* w, int N, int I, int O) {
  if (N == 0 || O == 0) return;
  MapM<S> Y(y, N, O);
  if (I == 0) {
    Y.setZero();
    return;
  }
  MapCM<S> X(x, N, I), W(w, O, I);
  if (N == 1) {  // GEMV: eight rows of W per pass over x; large ones split over the threads (it is bandwidth-bound,
                 // and two cores read the shared cache faster than one)
    const int blocks = O / 8;
    parallel_for(blocks, size_t(I) * O >= kGemvParallelMacs, [&](int b) {
      dot8(w + size_t(8 * b) * I, size_t(I), x, I, y + 8 * b);
    });
    int o = 8 * blocks;
    for (; o + 4 <= O; o += 4)
      dot4(w + size_t(o) * I, w + size_t(o + 1) * I, w + size_t(o + 2) * I, w + size_t(o + 3) * I, x, I, y + o);
    for (; o < O; ++o) y[o] = dot(w + size_t(o) * I, x, I);
  } else if (N <= kSmallGemmMaxN && std::is_same_v<S, float>) {
    // Eigen's GEMM is slow for tiny N on this machine, and N GEMVs read W N times: register blocks of 4 x 4 dot
    // products (each 16-float step: 8 loads, 16 FMAs), each row of W read from memory once.
    if constexpr (std::is_same_v<S, float>) small_gemm(y, x, w, N, I, O);
  } else if (N <= 16) {
    for (int o = 0; o < O; ++o) {
      const S* wr = w + size_t(o) * I;
      int n = 0;
      for (; n + 4 <= N; n += 4) {
        S r[4];
        dot4(x + size_t(n) * I, x + size_t(n + 1) * I, x + size_t(n + 2) * I, x + size_t(n + 3) * I, wr, I, r);
        for (int k = 0; k < 4; ++k) y[size_t(n + k) * O + o] = r[k];
      }
      for (; n < N; ++n) y[size_t(n) * O + o] = dot(x + size_t(n) * I, wr, I);
    }
  } else {
    Y.noalias() = X * W.transpose();
  }
}

template <class S>
void linear_forward_decode(S* y, const S* x, const S* w, int N, int I, int O) {
  if constexpr (std::is_same_v<S, float>) {
    if (N > kSmallGemmMaxN && N <= kSmallGemmMaxNDecode && O > 0 && I > 0) return small_gemm(y, x, w, N, I, O);
  }
  linear_forward(y, x, w, N, I, O);
}

template <class S>
void linear_forward_invariant(S* y, const S* x, const S* w, int N, int I, int O) {
  if (N == 0 || O == 0) return;
  if constexpr (std::is_same_v<S, float>) {
    if (I == 0) return (void)std::fill(y, y + size_t(N) * O, 0.0f);
    invariant_gemm(y, x, w, N, I, O);
  } else {
    for (int n = 0; n < N; ++n)  // double (finite-difference tests): one dot per output, the order of dot()
      for (int o = 0; o < O; ++o) y[size_t(n) * O + o] = dot(x + size_t(n) * I, w + size_t(o) * I, I);
  }
}

template <class S>
void linear_backward(S* dx, S* dw, const S* dy, const S* x, const S* w, int N, int I, int O) {
  if (N == 0 || O == 0 || I == 0) return;
  MapCM<S> dY(dy, N, O);
  if (dx) {
    MapM<S> dX(dx, N, I);
    dX.noalias() += dY * MapCM<S>(w, O, I);
  }
  if (dw) {
    MapM<S> dW(dw, O, I);
    dW.noalias() += dY.transpose() * MapCM<S>(x, N, I);
  }
}

template <class S>
void linear_forward_ref(S* y, const S* x, const S* w, int N, int I, int O) {
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < O; ++o) {
      S acc = 0;
      for (int i = 0; i < I; ++i) acc += x[size_t(n) * I + i] * w[size_t(o) * I + i];
      y[size_t(n) * O + o] = acc;
    }
}

template <class S>
void linear_backward_ref(S* dx, S* dw, const S* dy, const S* x, const S* w, int N, int I, int O) {
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < O; ++o) {
      const S g = dy[size_t(n) * O + o];
      for (int i = 0; i < I; ++i) {
        if (dx) dx[size_t(n) * I + i] += g * w[size_t(o) * I + i];
        if (dw) dw[size_t(o) * I + i] += g * x[size_t(n) * I + i];
      }
    }
}

// ---- RMSNorm ---------------------------------------------------------------------------------------
template <class S>
void rmsnorm_forward(S* y, S* rstd, const S* x, const S* w, int N, int D, double eps) {
  parallel_for(N, size_t(N) * D > 32768, [&](int n) {
    const S* xr = x + size_t(n) * D;
    S* yr = y + size_t(n) * D;
    S ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int i = 0; i < D; ++i) ss += xr[i] * xr[i];
    const S r = S(1) / std::sqrt(ss / S(D) + S(eps));
    rstd[n] = r;
    for (int i = 0; i < D; ++i) yr[i] = xr[i] * r * w[i];
  });
}

template <class S>
void rmsnorm_backward(S* dx, S* dw, const S* dy, const S* x, const S* w, const S* rstd, int N, int D) {
  if (dx) {
#pragma omp parallel for schedule(static) if (size_t(N) * D > 32768)
    for (int n = 0; n < N; ++n) {
      const S* xr = x + size_t(n) * D;
      const S* gr = dy + size_t(n) * D;
      S* dr = dx + size_t(n) * D;
      const S r = rstd[n];
      S dot = 0;  // sum_j w_j dy_j x_j
#pragma omp simd reduction(+ : dot)
      for (int i = 0; i < D; ++i) dot += w[i] * gr[i] * xr[i];
      const S c = r * r * dot / S(D);
      for (int i = 0; i < D; ++i) dr[i] += r * (w[i] * gr[i] - xr[i] * c);
    }
  }
  if (dw) {
    // Serial over n per column block keeps the sum order fixed (same result for any thread count).
#pragma omp parallel for schedule(static) if (size_t(N) * D > 32768)
    for (int i0 = 0; i0 < D; i0 += 16) {
      const int i1 = std::min(D, i0 + 16);
      S acc[16] = {};
      for (int n = 0; n < N; ++n) {
        const S r = rstd[n];
        for (int i = i0; i < i1; ++i) acc[i - i0] += dy[size_t(n) * D + i] * x[size_t(n) * D + i] * r;
      }
      for (int i = i0; i < i1; ++i) dw[i] += acc[i - i0];
    }
  }
}

// ---- RoPE ----------------------------------------------------------------------------------------
namespace {
// cos / sin of pos * inv_freq[i] (times the YaRN multiplier) for every position up to the largest seen, per calling
// thread: computed with the same double formula as on the fly (so identical values), without a pow and a sincos per
// token and layer.
struct RopeTable {
  RopeSpec spec;
  int Dr = 0, n_pos = 0;
  std::vector<double> cs, sn;  // (n_pos, Dr/2)
};
const RopeTable& rope_table(const RopeSpec& spec, int Dr, int max_pos) {
  thread_local RopeTable t;
  if (!(t.spec == spec) || t.Dr != Dr) t = RopeTable{spec, Dr, 0, {}, {}};
  if (max_pos < t.n_pos) return t;
  const int P = Dr / 2, n_pos = std::max(max_pos + 1, 2 * t.n_pos);
  const std::vector<double> inv_freq = spec.inv_freq(Dr);
  const double m = spec.cos_sin_scale;
  t.cs.resize(size_t(n_pos) * P);
  t.sn.resize(size_t(n_pos) * P);
  for (int p = t.n_pos; p < n_pos; ++p)
    for (int i = 0; i < P; ++i) {
      const double a = double(p) * inv_freq[i];
      t.cs[size_t(p) * P + i] = m == 1.0 ? std::cos(a) : m * std::cos(a);
      t.sn[size_t(p) * P + i] = m == 1.0 ? std::sin(a) : m * std::sin(a);
    }
  t.n_pos = n_pos;
  return t;
}
}  // namespace

template <class S>
void rope_apply(S* x, int N, int tok_stride, int nvec, int vec_stride, const int32_t* pos, int Dr, double theta,
                int sign) {
  RopeSpec spec;
  spec.theta = theta;
  rope_apply(x, N, tok_stride, nvec, vec_stride, pos, Dr, spec, sign);
}

template <class S>
void rope_apply(S* x, int N, int tok_stride, int nvec, int vec_stride, const int32_t* pos, int Dr, const RopeSpec& rope,
                int sign) {
  const int P = Dr / 2;
  int max_pos = 0;
  for (int n = 0; n < N; ++n) max_pos = std::max(max_pos, int(pos[n]));
  const RopeTable& tab = rope_table(rope, Dr, max_pos);
  parallel_for(N, size_t(N) * nvec * Dr > 65536, [&](int n) {
    S cs[256], sn[256];  // Dr/2 <= 256 (checked by the model)
    const double* tc = tab.cs.data() + size_t(pos[n]) * P;
    const double* ts = tab.sn.data() + size_t(pos[n]) * P;
    for (int i = 0; i < P; ++i) {
      cs[i] = S(tc[i]);
      sn[i] = S(sign * ts[i]);
    }
    for (int v = 0; v < nvec; ++v) {
      S* p = x + size_t(n) * tok_stride + size_t(v) * vec_stride;
      for (int i = 0; i < P; ++i) {
        const S a = p[2 * i], b = p[2 * i + 1];
        p[2 * i] = a * cs[i] - b * sn[i];
        p[2 * i + 1] = a * sn[i] + b * cs[i];
      }
    }
  });
}

// ---- SwiGLU --------------------------------------------------------------------------------------
template <class S>
void swiglu_forward(S* a, const S* gu, int N, int F) {
  parallel_for(N, size_t(N) * F > 65536, [&](int n) {
    const S* g = gu + size_t(n) * 2 * F;
    const S* u = g + F;
    S* ar = a + size_t(n) * F;
    for (int i = 0; i < F; ++i) ar[i] = g[i] / (S(1) + std::exp(-g[i])) * u[i];
  });
}

template <class S>
void swiglu_backward(S* dgu, const S* da, const S* gu, int N, int F) {
#pragma omp parallel for schedule(static) if (size_t(N) * F > 65536)
  for (int n = 0; n < N; ++n) {
    const S* g = gu + size_t(n) * 2 * F;
    const S* u = g + F;
    const S* d = da + size_t(n) * F;
    S* dg = dgu + size_t(n) * 2 * F;
    S* du = dg + F;
    for (int i = 0; i < F; ++i) {
      const S sg = S(1) / (S(1) + std::exp(-g[i]));
      const S silu = g[i] * sg;
      du[i] = d[i] * silu;
      dg[i] = d[i] * u[i] * sg * (S(1) + g[i] * (S(1) - sg));
    }
  }
}

// ---- MLA attention (expanded) ----------------------------------------------------------------------
// Per (row b, head h) the products are small GEMMs over strided views of q / kv / kpe (Eigen, single-threaded inside
// the OpenMP region over b*h). The full T x T score block is computed and the upper triangle masked.
template <class S>
using StrMap = Eigen::Map<const RowMat<S>, 0, Eigen::OuterStride<>>;
template <class S>
using StrMapW = Eigen::Map<RowMat<S>, 0, Eigen::OuterStride<>>;

template <class S>
void mla_attention_forward(S* o, S* att, const S* q, const S* kv, const S* kpe, int B, int T, int H, int Dn, int Dr,
                           int Dv, double scale) {
  const int Dq = Dn + Dr, Dkv = Dn + Dv;
  const S sc = S(scale);
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h) {
      const size_t r0 = size_t(b) * T * H + h;  // (token b*T, head h)
      StrMap<S> Qn(q + r0 * Dq, T, Dn, Eigen::OuterStride<>(H * Dq));
      StrMap<S> Qp(q + r0 * Dq + Dn, T, Dr, Eigen::OuterStride<>(H * Dq));
      StrMap<S> Kn(kv + r0 * Dkv, T, Dn, Eigen::OuterStride<>(H * Dkv));
      StrMap<S> Vv(kv + r0 * Dkv + Dn, T, Dv, Eigen::OuterStride<>(H * Dkv));
      StrMap<S> Kp(kpe + size_t(b) * T * Dr, T, Dr, Eigen::OuterStride<>(Dr));
      MapM<S> A(att + (size_t(b) * H + h) * T * T, T, T);
      A.noalias() = Qn * Kn.transpose();
      A.noalias() += Qp * Kp.transpose();
      for (int t = 0; t < T; ++t) {
        S* a = &A(t, 0);
        S mx = -INFINITY;
        for (int j = 0; j <= t; ++j) {
          a[j] *= sc;
          mx = std::max(mx, a[j]);
        }
        S sum = 0;
        for (int j = 0; j <= t; ++j) {
          a[j] = std::exp(a[j] - mx);
          sum += a[j];
        }
        const S inv = S(1) / sum;
        for (int j = 0; j <= t; ++j) a[j] *= inv;
        for (int j = t + 1; j < T; ++j) a[j] = 0;
      }
      StrMapW<S> O(o + r0 * Dv, T, Dv, Eigen::OuterStride<>(H * Dv));
      O.noalias() = A * Vv;
    }
}

template <class S>
void mla_attention_backward(S* dq, S* dkv, S* dkpe, const S* dout, const S* att, const S* q, const S* kv,
                            const S* kpe, int B, int T, int H, int Dn, int Dr, int Dv, double scale) {
  const int Dq = Dn + Dr, Dkv = Dn + Dv;
  const S sc = S(scale);
  const size_t N = size_t(B) * T;
  std::vector<S> dkpe_h(N * H * Dr);  // (B, H, T, Dr): per-head share of dk_R, summed below
#pragma omp parallel
  {
    RowMat<S> dP(T, T);
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < B; ++b)
      for (int h = 0; h < H; ++h) {
        const size_t r0 = size_t(b) * T * H + h;
        StrMap<S> Qn(q + r0 * Dq, T, Dn, Eigen::OuterStride<>(H * Dq));
        StrMap<S> Qp(q + r0 * Dq + Dn, T, Dr, Eigen::OuterStride<>(H * Dq));
        StrMap<S> Kn(kv + r0 * Dkv, T, Dn, Eigen::OuterStride<>(H * Dkv));
        StrMap<S> Vv(kv + r0 * Dkv + Dn, T, Dv, Eigen::OuterStride<>(H * Dkv));
        StrMap<S> Kp(kpe + size_t(b) * T * Dr, T, Dr, Eigen::OuterStride<>(Dr));
        StrMap<S> dO(dout + r0 * Dv, T, Dv, Eigen::OuterStride<>(H * Dv));
        MapCM<S> A(att + (size_t(b) * H + h) * T * T, T, T);
        dP.noalias() = dO * Vv.transpose();
        for (int t = 0; t < T; ++t) {  // dS = P * (dP - sum_j P dP) * scale, in place
          const S* a = A.data() + size_t(t) * T;
          S* d = &dP(t, 0);
          S sum = 0;
          for (int j = 0; j <= t; ++j) sum += a[j] * d[j];
          for (int j = 0; j <= t; ++j) d[j] = a[j] * (d[j] - sum) * sc;
          for (int j = t + 1; j < T; ++j) d[j] = 0;
        }
        StrMapW<S> dQn(dq + r0 * Dq, T, Dn, Eigen::OuterStride<>(H * Dq));
        StrMapW<S> dQp(dq + r0 * Dq + Dn, T, Dr, Eigen::OuterStride<>(H * Dq));
        StrMapW<S> dKn(dkv + r0 * Dkv, T, Dn, Eigen::OuterStride<>(H * Dkv));
        StrMapW<S> dV(dkv + r0 * Dkv + Dn, T, Dv, Eigen::OuterStride<>(H * Dkv));
        MapM<S> dKp(dkpe_h.data() + (size_t(b) * H + h) * T * Dr, T, Dr);
        dQn.noalias() = dP * Kn;
        dQp.noalias() = dP * Kp;
        dKn.noalias() = dP.transpose() * Qn;
        dKp.noalias() = dP.transpose() * Qp;
        dV.noalias() = A.transpose() * dO;
      }
  }
#pragma omp parallel for schedule(static) if (N * H * Dr > 65536)
  for (size_t n = 0; n < N; ++n) {
    const size_t b = n / T, t = n % T;
    for (int d = 0; d < Dr; ++d) {
      S s = 0;
      for (int h = 0; h < H; ++h) s += dkpe_h[((b * H + h) * T + t) * Dr + d];
      dkpe[n * Dr + d] = s;
    }
  }
}

// ---- cross-entropy -------------------------------------------------------------------------------
template <class S>
double softmax_xent(const S* logits, const int32_t* target, const S* w, S* dlogits, S scale, int N, int V) {
  double total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total)
  for (int n = 0; n < N; ++n) {
    const S wn = w ? w[n] : S(1);
    const S* l = logits + size_t(n) * V;
    S* d = dlogits ? dlogits + size_t(n) * V : nullptr;
    if (wn == S(0)) {
      if (d) std::fill(d, d + V, S(0));
      continue;
    }
    S mx = l[0];
    for (int v = 1; v < V; ++v) mx = std::max(mx, l[v]);
    S sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int v = 0; v < V; ++v) sum += std::exp(l[v] - mx);
    const S lse = mx + std::log(sum);
    total += double(wn) * double(lse - l[target[n]]);
    if (d) {
      const S c = scale * wn;
      const int32_t tg = target[n];
#pragma omp simd
      for (int v = 0; v < V; ++v) d[v] = c * std::exp(l[v] - lse);
      d[tg] -= c;
    }
  }
  return total;
}

// ---- absorbed MLA decode attention ------------------------------------------------------------------
size_t mla_decode_work(int H, int C, int Dr, int max_len) {
  // qa (H, C+Dr) | olat (H, C) | scores (H, max_len rounded up) | 1/sum (H), each rounded up to 16 scalars
  auto up = [](size_t n) { return (n + 15) / 16 * 16; };
  return up(size_t(H) * size_t(C + Dr)) + up(size_t(H) * size_t(C)) + size_t(H) * up(size_t(max_len)) + up(size_t(H));
}

namespace {

// One row, all heads. Heads go four at a time so each cached position is loaded once per four dot products.
// The cached positions come in blocks of bl (a multiple of 4): position j is kvb[j / bl] + (j % bl) * (C + Dr). Every
// sum runs over j in the same order whatever bl, so a paged cache gives the bits of a contiguous one.
template <class S>
void mla_decode_row(S* __restrict o, const S* __restrict q, const S* const* __restrict kvb, int bl, int len,
                    const S* __restrict wkvb, int H, int Dn, int Dr, int Dv, int C, S scale, S* __restrict work,
                    size_t max_len_pad) {
  const int W = C + Dr, Dq = Dn + Dr;
  auto kvp = [&](int j) { return kvb[j / bl] + size_t(j % bl) * W; };
  auto up = [](size_t n) { return (n + 15) / 16 * 16; };
  S* __restrict qa = work;                                      // (H, W)
  S* __restrict ol = qa + up(size_t(H) * size_t(W));            // (H, C)
  S* __restrict sc = ol + up(size_t(H) * size_t(C));            // (H, max_len_pad)
  S* __restrict inv_sum = sc + size_t(H) * max_len_pad;          // (H)
  // qa_h = scale * [W^UK_h^T q^nope_h ; q^pe_h]   (the softmax scale folded into the query)
  // K heads at a time (two, then one for an odd last head), four registers of lanes each: 4K independent FMA chains
  // over d (one chain was latency-bound). Every lane sums over d in order, whatever K.
  constexpr int L = kLanes<S>, L4 = 4 * L;
  auto absorb = [&](auto K_, int h0) {
    constexpr int K = decltype(K_)::value;
    int c0 = 0;
    for (; c0 + L4 <= C; c0 += L4) {
      Vec64<S> a[4 * K] = {};
      for (int d = 0; d < Dn; ++d) {
#pragma GCC unroll 2
        for (int k = 0; k < K; ++k) {
          const S qd = q[size_t(h0 + k) * Dq + d] * scale;
          const S* __restrict wr = wkvb + size_t(h0 + k) * (Dn + Dv) * C + size_t(d) * C + c0;
#pragma GCC unroll 4
          for (int u = 0; u < 4; ++u) a[4 * k + u] += qd * load64(wr + u * L);
        }
      }
      for (int k = 0; k < K; ++k)
        for (int u = 0; u < 4; ++u) std::memcpy(qa + size_t(h0 + k) * W + c0 + u * L, &a[4 * k + u], 64);
    }
    for (int k = 0; k < K; ++k) {
      const int h = h0 + k;
      S* __restrict qh = qa + size_t(h) * W;
      const S* __restrict qn = q + size_t(h) * Dq;
      const S* __restrict wk = wkvb + size_t(h) * (Dn + Dv) * C;
      int c = c0;
      for (; c + L <= C; c += L) {  // one register of lanes at a time, over all d
        Vec64<S> acc = {};
        for (int d = 0; d < Dn; ++d) acc += (qn[d] * scale) * load64(wk + size_t(d) * C + c);
        std::memcpy(qh + c, &acc, 64);
      }
      for (; c < C; ++c) {
        S t = 0;
        for (int d = 0; d < Dn; ++d) t += qn[d] * scale * wk[size_t(d) * C + c];
        qh[c] = t;
      }
      for (int d = 0; d < Dr; ++d) qh[C + d] = qn[Dn + d] * scale;
    }
  };
  int hq = 0;
  for (; hq + 2 <= H; hq += 2) absorb(std::integral_constant<int, 2>{}, hq);
  if (hq < H) absorb(std::integral_constant<int, 1>{}, hq);
  // scores (H, len)
  int h0 = 0;
  if constexpr (std::is_same_v<S, float>) {  // 4 heads x 4 positions per register block (same sums as dot4)
    for (; h0 + 4 <= H; h0 += 4) {
      const float* __restrict qb = qa + size_t(h0) * W;
      float* __restrict sb = sc + size_t(h0) * max_len_pad;
      float s16[16];
      int j = 0;
      for (; j + 4 <= len; j += 4) {
        block_dot_sums<4, 4>(qb, size_t(W), kvp(j), size_t(W), W, s16);
        for (int c = 0; c < 4; ++c)
          for (int r = 0; r < 4; ++r) sb[size_t(r) * max_len_pad + j + c] = s16[c * 4 + r];
      }
      const int rest = len - j;
      if (rest == 3) block_dot_sums<4, 3>(qb, size_t(W), kvp(j), size_t(W), W, s16);
      if (rest == 2) block_dot_sums<4, 2>(qb, size_t(W), kvp(j), size_t(W), W, s16);
      if (rest == 1) block_dot_sums<4, 1>(qb, size_t(W), kvp(j), size_t(W), W, s16);
      for (int c = 0; c < rest; ++c)
        for (int r = 0; r < 4; ++r) sb[size_t(r) * max_len_pad + j + c] = s16[c * 4 + r];
    }
  }
  for (; h0 + 4 <= H; h0 += 4) {
    const S* __restrict q0 = qa + size_t(h0) * W;
    const S* __restrict q1 = q0 + W;
    const S* __restrict q2 = q1 + W;
    const S* __restrict q3 = q2 + W;
    for (int j = 0; j < len; ++j) {
      S s4[4];
      dot4(q0, q1, q2, q3, kvp(j), W, s4);
      for (int k = 0; k < 4; ++k) sc[size_t(h0 + k) * max_len_pad + j] = s4[k];
    }
  }
  for (; h0 < H; ++h0) {
    const S* __restrict qh = qa + size_t(h0) * W;
    for (int j = 0; j < len; ++j) sc[size_t(h0) * max_len_pad + j] = dot(qh, kvp(j), W);
  }
  // softmax per head (probabilities left unnormalised; 1/sum is applied to the output)
  for (int h = 0; h < H; ++h) {
    S* __restrict s = sc + size_t(h) * max_len_pad;
    S mx = s[0];
    for (int j = 1; j < len; ++j) mx = std::max(mx, s[j]);
    inv_sum[h] = S(1) / exp_shift_sum(s, len, mx);
  }
  // olat_h = sum_j p_j kv_j[0:C]
  // Four heads and one register of lanes at a time, the accumulators stay in registers over j.
  h0 = 0;
  for (; h0 + 4 <= H; h0 += 4) {
    const S* __restrict p0 = sc + size_t(h0) * max_len_pad;
    const S* __restrict p1 = p0 + max_len_pad;
    const S* __restrict p2 = p1 + max_len_pad;
    const S* __restrict p3 = p2 + max_len_pad;
    int c0 = 0;
    for (; c0 + L <= C; c0 += L) {
      Vec64<S> a0 = {}, a1 = {}, a2 = {}, a3 = {};
      for (int b0 = 0; b0 < len; b0 += bl) {
        const S* __restrict kv = kvb[b0 / bl] + c0;
        const int n = std::min(bl, len - b0);
        for (int jj = 0; jj < n; ++jj) {
          const int j = b0 + jj;
          const Vec64<S> e = load64(kv + size_t(jj) * W);
          a0 += p0[j] * e;
          a1 += p1[j] * e;
          a2 += p2[j] * e;
          a3 += p3[j] * e;
        }
      }
      std::memcpy(ol + size_t(h0) * C + c0, &a0, 64);
      std::memcpy(ol + size_t(h0 + 1) * C + c0, &a1, 64);
      std::memcpy(ol + size_t(h0 + 2) * C + c0, &a2, 64);
      std::memcpy(ol + size_t(h0 + 3) * C + c0, &a3, 64);
    }
    for (; c0 < C; ++c0) {
      S a[4] = {};
      for (int j = 0; j < len; ++j) {
        const S e = kvp(j)[c0];
        a[0] += p0[j] * e;
        a[1] += p1[j] * e;
        a[2] += p2[j] * e;
        a[3] += p3[j] * e;
      }
      for (int k = 0; k < 4; ++k) ol[size_t(h0 + k) * C + c0] = a[k];
    }
  }
  for (; h0 < H; ++h0) {
    const S* __restrict ph = sc + size_t(h0) * max_len_pad;
    S* __restrict oh = ol + size_t(h0) * C;
    for (int c = 0; c < C; ++c) oh[c] = 0;
    for (int j = 0; j < len; ++j) {
      const S pj = ph[j];
      const S* __restrict e = kvp(j);
#pragma omp simd
      for (int c = 0; c < C; ++c) oh[c] += pj * e[c];
    }
  }
  // o_h = W^UV_h olat_h / sum_h
  for (int h = 0; h < H; ++h) {
    const S* __restrict wv = wkvb + (size_t(h) * (Dn + Dv) + Dn) * C;
    const S* __restrict oh = ol + size_t(h) * C;
    S* __restrict out = o + size_t(h) * Dv;
    int d = 0;
    for (; d + 4 <= Dv; d += 4) {  // four rows of W^UV_h per pass over olat_h
      S r[4];
      dot4(wv + size_t(d) * C, wv + size_t(d + 1) * C, wv + size_t(d + 2) * C, wv + size_t(d + 3) * C, oh, C, r);
      for (int k = 0; k < 4; ++k) out[d + k] = r[k] * inv_sum[h];
    }
    for (; d < Dv; ++d) out[d] = dot(wv + size_t(d) * C, oh, C) * inv_sum[h];
  }
}
}  // namespace

// SwiGLU for decoding: the same formula with the vectorised exp (decode_tokens, where no gradient is taken).
template <class S>
void swiglu_forward_decode(S* a, const S* gu, int N, int F) {
  if constexpr (!std::is_same_v<S, float>) {
    swiglu_forward(a, gu, N, F);
  } else {
    parallel_for(N, size_t(N) * F > 65536, [&](int n) {
      const float* g = gu + size_t(n) * 2 * F;
      const float* u = g + F;
      float* ar = a + size_t(n) * F;
      int i = 0;
      for (; i + 16 <= F; i += 16) {
        const Vec64f gv = load64(g + i);
        const Vec64f r = gv / (1.0f + vexp(-gv)) * load64(u + i);
        std::memcpy(ar + i, &r, 64);
      }
      for (; i < F; ++i) ar[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
    });
  }
}

template <class S>
void mla_decode_attention_forward(S* o, const S* q, const S* const* kv, const int* len, const S* wkvb, int M, int H,
                                  int Dn, int Dr, int Dv, int C, double scale, S* work) {
  // One block per row, as long as the longest row (rounded up to 4): the contiguous layout.
  int max_len = 4;
  for (int m = 0; m < M; ++m) max_len = std::max(max_len, len[m]);
  std::vector<const S* const*> tables(static_cast<size_t>(M));
  for (int m = 0; m < M; ++m) tables[size_t(m)] = &kv[m];
  mla_decode_attention_forward_paged(o, q, tables.data(), (max_len + 3) / 4 * 4, len, wkvb, M, H, Dn, Dr, Dv, C, scale,
                                     work);
}

template <class S>
void mla_decode_attention_forward_paged(S* o, const S* q, const S* const* const* kv_blocks, int block_tokens,
                                        const int* len, const S* wkvb, int M, int H, int Dn, int Dr, int Dv, int C,
                                        double scale, S* work) {
  if (block_tokens <= 0 || block_tokens % 4 != 0)
    throw Error("mla_decode_attention_forward_paged: block_tokens must be a positive multiple of 4 (got " +
                std::to_string(block_tokens) + ")");
  int max_len = 1;
  for (int m = 0; m < M; ++m) max_len = std::max(max_len, len[m]);
  const size_t per_row = mla_decode_work(H, C, Dr, max_len);
  const size_t max_len_pad = (size_t(max_len) + 15) / 16 * 16;
  int64_t flops = 0;
  for (int m = 0; m < M; ++m) flops += int64_t(len[m]) * H * (2 * C + Dr) + int64_t(H) * (Dn + Dv) * C;
  parallel_for(M, flops > 200000, [&](int m) {
    mla_decode_row(o + size_t(m) * H * Dv, q + size_t(m) * H * (Dn + Dr), kv_blocks[m], block_tokens, len[m], wkvb, H,
                   Dn, Dr, Dv, C, S(scale), work + size_t(m) * per_row, max_len_pad);
  });
}

template <class S>
void mla_decode_attention_forward_ref(S* o, const S* q, const S* const* kv, const int* len, const S* wkvb, int M,
                                      int H, int Dn, int Dr, int Dv, int C, double scale) {
  const int W = C + Dr, Dq = Dn + Dr;
  for (int m = 0; m < M; ++m)
    for (int h = 0; h < H; ++h) {
      const S* qn = q + (size_t(m) * H + h) * Dq;
      const S* wk = wkvb + size_t(h) * (Dn + Dv) * C;
      std::vector<double> qlat(size_t(C), 0.0), s(size_t(len[m])), olat(size_t(C), 0.0);
      for (int c = 0; c < C; ++c)
        for (int d = 0; d < Dn; ++d) qlat[size_t(c)] += double(qn[d]) * double(wk[size_t(d) * C + c]);
      double mx = -1e300;
      for (int j = 0; j < len[m]; ++j) {
        const S* e = kv[m] + size_t(j) * W;
        double a = 0;
        for (int c = 0; c < C; ++c) a += qlat[size_t(c)] * double(e[c]);
        for (int d = 0; d < Dr; ++d) a += double(qn[Dn + d]) * double(e[C + d]);
        s[size_t(j)] = a * scale;
        mx = std::max(mx, s[size_t(j)]);
      }
      double sum = 0;
      for (auto& v : s) sum += (v = std::exp(v - mx));
      for (int j = 0; j < len[m]; ++j)
        for (int c = 0; c < C; ++c) olat[size_t(c)] += s[size_t(j)] / sum * double(kv[m][size_t(j) * W + c]);
      for (int d = 0; d < Dv; ++d) {
        double a = 0;
        for (int c = 0; c < C; ++c) a += double(wk[(size_t(Dn) + d) * C + c]) * olat[size_t(c)];
        o[(size_t(m) * H + h) * Dv + d] = S(a);
      }
    }
}

#define REASONRL_INSTANTIATE(S)                                                                               \
  template void linear_forward<S>(S*, const S*, const S*, int, int, int);                                     \
  template void linear_forward_decode<S>(S*, const S*, const S*, int, int, int);                              \
  template void linear_forward_invariant<S>(S*, const S*, const S*, int, int, int);                           \
  template void swiglu_forward_decode<S>(S*, const S*, int, int);                                             \
  template void linear_backward<S>(S*, S*, const S*, const S*, const S*, int, int, int);                      \
  template void linear_forward_ref<S>(S*, const S*, const S*, int, int, int);                                 \
  template void linear_backward_ref<S>(S*, S*, const S*, const S*, const S*, int, int, int);                  \
  template void rmsnorm_forward<S>(S*, S*, const S*, const S*, int, int, double);                             \
  template void rmsnorm_backward<S>(S*, S*, const S*, const S*, const S*, const S*, int, int);                \
  template void rope_apply<S>(S*, int, int, int, int, const int32_t*, int, double, int);                      \
  template void rope_apply<S>(S*, int, int, int, int, const int32_t*, int, const RopeSpec&, int);             \
  template void swiglu_forward<S>(S*, const S*, int, int);                                                    \
  template void swiglu_backward<S>(S*, const S*, const S*, int, int);                                         \
  template void mla_attention_forward<S>(S*, S*, const S*, const S*, const S*, int, int, int, int, int, int,  \
                                         double);                                                             \
  template void mla_attention_backward<S>(S*, S*, S*, const S*, const S*, const S*, const S*, const S*, int,  \
                                          int, int, int, int, int, double);                                   \
  template void mla_decode_attention_forward<S>(S*, const S*, const S* const*, const int*, const S*, int, int, int, \
                                                int, int, int, double, S*);                                   \
  template void mla_decode_attention_forward_paged<S>(S*, const S*, const S* const* const*, int, const int*, const S*, \
                                                      int, int, int, int, int, int, double, S*);              \
  template void mla_decode_attention_forward_ref<S>(S*, const S*, const S* const*, const int*, const S*, int, int, \
                                                    int, int, int, int, double);                              \
  template double softmax_xent<S>(const S*, const int32_t*, const S*, S*, S, int, int);
REASONRL_INSTANTIATE(float)
REASONRL_INSTANTIATE(double)

}  // namespace reasonrl::model

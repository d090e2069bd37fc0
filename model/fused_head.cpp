// fused_head.cpp: the tiled head + log-softmax of fused_head.h. Rows go in passes of kFusedHeadRows; inside a pass the
// vocabulary tiles are split statically over the threads. Each thread keeps a running (max, sum of exp) per row for the
// forward, merged in thread order afterwards; in the backward each thread owns the dw rows of its tiles and a private
// dx block, summed in thread order, so results do not depend on timing.
#include "model/fused_head.h"

#include "model/eigen.h"
#include "model/simd.h"
#include "rl/util/error.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace reasonrl::model {

namespace {
void check_targets(const int32_t* target, int N, int V) {
  for (int n = 0; n < N; ++n)
    if (target[n] < 0 || target[n] >= V)
      throw Error("fused head: target " + std::to_string(target[n]) + " of row " + std::to_string(n) +
                  " is outside the vocabulary [0, " + std::to_string(V) + ")");
}
}  // namespace

template <class S>
void fused_head_logprob_forward(S* logp, S* lse, const S* x, const S* w, const int32_t* target, int N, int D, int V,
                                S* entropy) {
  check_targets(target, N, V);
  constexpr int R = kFusedHeadRows, C = kFusedHeadCols;
  const int n_tiles = (V + C - 1) / C;
  const int nt = omp_get_max_threads();
  // per thread and row: running max m, sum of exp(s - m), and (entropy only) a = sum exp(s - m) (s - m)
  std::vector<S> mt(size_t(nt) * R), st(size_t(nt) * R), at(entropy ? size_t(nt) * R : 0), tl(R);
  for (int r0 = 0; r0 < N; r0 += R) {
    const int br = std::min(R, N - r0);
    MapCM<S> X(x + size_t(r0) * D, br, D);
#pragma omp parallel
    {
      const int tid = omp_get_thread_num();
      S* m = mt.data() + size_t(tid) * R;
      S* s = st.data() + size_t(tid) * R;
      S* a = entropy ? at.data() + size_t(tid) * R : nullptr;
      std::fill(m, m + br, -std::numeric_limits<S>::infinity());
      std::fill(s, s + br, S(0));
      if (a) std::fill(a, a + br, S(0));
      RowMat<S> L(br, C);
#pragma omp for schedule(static)
      for (int c = 0; c < n_tiles; ++c) {
        const int c0 = c * C, bc = std::min(C, V - c0);
        L.leftCols(bc).noalias() = X * MapCM<S>(w + size_t(c0) * D, bc, D).transpose();
        for (int r = 0; r < br; ++r) {
          S* row = &L(r, 0);
          const int t = target[r0 + r];
          if (t >= c0 && t < c0 + bc) tl[r] = row[t - c0];  // exactly one tile holds the target
          const S mnew = std::max(m[r], simd::max_of(row, bc));
          const S s_old = s[r], scale = std::exp(m[r] - mnew);
          S tile = 0;  // this tile's sum of exp(s - mnew) (s - mnew), for the entropy
          s[r] = s_old * scale + simd::exp_sum(row, bc, mnew, a ? &tile : nullptr);
          if (a)  // rebase a to mnew, add the tile's
            a[r] = (s_old > S(0) ? scale * (a[r] + (m[r] - mnew) * s_old) : S(0)) + tile;
          m[r] = mnew;
        }
      }
    }
    for (int r = 0; r < br; ++r) {  // merge the threads' running sums in thread order
      S mx = -std::numeric_limits<S>::infinity();
      for (int k = 0; k < nt; ++k) mx = std::max(mx, mt[size_t(k) * R + r]);
      S sum = 0, asum = 0;
      for (int k = 0; k < nt; ++k) {
        const S sk = st[size_t(k) * R + r], mk = mt[size_t(k) * R + r];
        if (sk > S(0)) {
          sum += sk * std::exp(mk - mx);
          if (entropy) asum += std::exp(mk - mx) * (at[size_t(k) * R + r] + (mk - mx) * sk);
        }
      }
      lse[r0 + r] = mx + std::log(sum);
      logp[r0 + r] = tl[r] - lse[r0 + r];
      if (entropy) entropy[r0 + r] = std::log(sum) - asum / sum;  // lse - E_p[s], both relative to mx
    }
  }
}

template <class S>
void fused_head_logprob_backward(S* dx, S* dw, const S* dlogp, const S* lse, const S* x, const S* w,
                                 const int32_t* target, int N, int D, int V) {
  check_targets(target, N, V);
  constexpr int R = kFusedHeadRows, C = kFusedHeadCols;
  const int n_tiles = (V + C - 1) / C;
  const int nt = omp_get_max_threads();
  std::vector<S> dxt(dx ? size_t(nt) * R * D : 0);
  for (int r0 = 0; r0 < N; r0 += R) {
    const int br = std::min(R, N - r0);
    bool any = false;
    for (int r = 0; r < br; ++r) any = any || dlogp[r0 + r] != S(0);
    if (!any) continue;
    MapCM<S> X(x + size_t(r0) * D, br, D);
#pragma omp parallel
    {
      const int tid = omp_get_thread_num();
      RowMat<S> G(br, C);
      S* dxl = dx ? dxt.data() + size_t(tid) * R * D : nullptr;
      if (dxl) std::fill(dxl, dxl + size_t(br) * D, S(0));
#pragma omp for schedule(static)
      for (int c = 0; c < n_tiles; ++c) {
        const int c0 = c * C, bc = std::min(C, V - c0);
        MapCM<S> Wc(w + size_t(c0) * D, bc, D);
        G.leftCols(bc).noalias() = X * Wc.transpose();
        for (int r = 0; r < br; ++r) {  // G = dlogp * (onehot - softmax)
          S* row = &G(r, 0);
          const S g = dlogp[r0 + r];
          simd::exp_shift_sum(row, bc, lse[r0 + r]);
          for (int j = 0; j < bc; ++j) row[j] *= -g;
          const int t = target[r0 + r];
          if (t >= c0 && t < c0 + bc) row[t - c0] += g;
        }
        if (dxl) MapM<S>(dxl, br, D).noalias() += G.leftCols(bc) * Wc;
        if (dw) MapM<S>(dw + size_t(c0) * D, bc, D).noalias() += G.leftCols(bc).transpose() * X;
      }
    }
    if (dx)
      for (int k = 0; k < nt; ++k) MapM<S>(dx + size_t(r0) * D, br, D) += MapM<S>(dxt.data() + size_t(k) * R * D, br, D);
  }
}

#define REASONRL_FUSED_HEAD_INST(S)                                                                               \
  template void fused_head_logprob_forward<S>(S*, S*, const S*, const S*, const int32_t*, int, int, int, S*);    \
  template void fused_head_logprob_backward<S>(S*, S*, const S*, const S*, const S*, const S*, const int32_t*, \
                                               int, int, int);
REASONRL_FUSED_HEAD_INST(float)
REASONRL_FUSED_HEAD_INST(double)
#undef REASONRL_FUSED_HEAD_INST

}  // namespace reasonrl::model

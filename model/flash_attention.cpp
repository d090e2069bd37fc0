// flash_attention.cpp: the tiled MLA attention of flash_attention.h. Per call the heads are packed into contiguous
// (H, N, .) copies of q, [k_nope | k_R] and v (O(N) memory), so every tile is a plain row-major block for Eigen's GEMM.
// Forward work items are (sequence, head, query block); backward items are (sequence, head), each owning its rows of
// dq, so no two threads write the same gradient.
#include "model/flash_attention.h"

#include "model/eigen.h"
#include "model/simd.h"
#include "rl/util/error.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

namespace reasonrl::model {

namespace {
// s[j] = exp(s[j] * scale - sub) for j < n (float: the vectorised Cephes expf of simd.h; double: std::exp).
inline void exp_scaled(float* __restrict s, int n, float scale, float sub) {
  using simd::Vec64f;
  int j = 0;
  for (; j + 16 <= n; j += 16) {
    const Vec64f e = simd::vexp(simd::load64(s + j) * scale - sub);
    std::memcpy(s + j, &e, 64);
  }
  for (; j < n; ++j) s[j] = std::exp(s[j] * scale - sub);
}
inline void exp_scaled(double* s, int n, double scale, double sub) {
  for (int j = 0; j < n; ++j) s[j] = std::exp(s[j] * scale - sub);
}

// Number of keys of tile row r (query q0 + r) that are causal-visible among keys [k0, k0 + bk) (may be <= 0).
inline int visible(int q0, int r, int k0, int bk) { return std::min(bk, q0 + r - k0 + 1); }

void check_cu(const int* cu, int nseq) {
  if (nseq < 0 || cu[0] != 0) throw Error("flash attention: cu_seqlens must start at 0 (nseq " + std::to_string(nseq) + ")");
  for (int s = 0; s < nseq; ++s)
    if (cu[s + 1] < cu[s])
      throw Error("flash attention: cu_seqlens decreases at sequence " + std::to_string(s) + " (" +
                  std::to_string(cu[s]) + " -> " + std::to_string(cu[s + 1]) + ")");
}

// Packs per-head copies of the heads [h0, h0 + nh): Qh (nh, N, Dq) = q, Kh (nh, N, Dq) = [k_nope | kpe],
// Vh (nh, N, Dv) = v.
template <class S>
void pack_heads(S* Qh, S* Kh, S* Vh, const S* q, const S* kv, const S* kpe, int N, int H, int Dn, int Dr, int Dv,
                int h0, int nh) {
  const int Dq = Dn + Dr, Dkv = Dn + Dv;
#pragma omp parallel for schedule(static) if (size_t(N) * nh > 4096)
  for (int n = 0; n < N; ++n)
    for (int j = 0; j < nh; ++j) {
      const size_t src = size_t(n) * H + h0 + j, dst = size_t(j) * N + n;
      std::memcpy(Qh + dst * Dq, q + src * Dq, sizeof(S) * Dq);
      std::memcpy(Kh + dst * Dq, kv + src * Dkv, sizeof(S) * Dn);
      std::memcpy(Kh + dst * Dq + Dn, kpe + size_t(n) * Dr, sizeof(S) * Dr);
      std::memcpy(Vh + dst * Dv, kv + src * Dkv + Dn, sizeof(S) * Dv);
    }
}

struct Item {
  int s, h, q0;
};

// The packed per-head copies of the forward and the backward live in one grow-only workspace per calling thread. A
// training step calls these kernels once per block; allocating the copies each call left holes in the heap that
// stayed resident (glibc raises its mmap threshold to the size of a freed mapping, so the next copies come from the
// heap), which added ~10 MB to a 4,096-token step's peak.
template <class S>
S* flash_workspace(size_t n) {
  thread_local std::vector<S> w;
  if (w.size() < n) {
    std::vector<S>().swap(w);
    w.resize(n);
  }
  return w.data();
}
}  // namespace

std::vector<int> uniform_cu_seqlens(int B, int T) {
  std::vector<int> cu(size_t(B) + 1);
  for (int b = 0; b <= B; ++b) cu[b] = b * T;
  return cu;
}

template <class S>
void flash_mla_forward(S* o, S* lse, const S* q, const S* kv, const S* kpe, const int* cu, int nseq, int H, int Dn,
                       int Dr, int Dv, double scale) {
  check_cu(cu, nseq);
  const int Dq = Dn + Dr, N = cu[nseq];
  constexpr int Bq = kFlashBlockQ, Bk = kFlashBlockK;
  const S sc = S(scale);
  S* const Qh = flash_workspace<S>(size_t(H) * N * (2 * Dq + Dv));  // Qh, Kh (H, N, Dq), Vh (H, N, Dv)
  S* const Kh = Qh + size_t(H) * N * Dq;
  S* const Vh = Kh + size_t(H) * N * Dq;
  pack_heads(Qh, Kh, Vh, q, kv, kpe, N, H, Dn, Dr, Dv, 0, H);
  std::vector<Item> items;
  for (int s = 0; s < nseq; ++s)
    for (int h = 0; h < H; ++h)
      for (int q0 = 0; q0 < cu[s + 1] - cu[s]; q0 += Bq) items.push_back({s, h, q0});
#pragma omp parallel
  {
    RowMat<S> Sb(Bq, Bk), Oa(Bq, Dv);
    S m[Bq], l[Bq];
#pragma omp for schedule(dynamic, 1)
    for (size_t it = 0; it < items.size(); ++it) {
      const int s = items[it].s, h = items[it].h, q0 = items[it].q0;
      const int base = cu[s], len = cu[s + 1] - base, bq = std::min(Bq, len - q0);
      MapCM<S> Q(Qh + (size_t(h) * N + base + q0) * Dq, bq, Dq);
      Oa.topRows(bq).setZero();
      for (int r = 0; r < bq; ++r) {
        m[r] = -std::numeric_limits<S>::infinity();
        l[r] = 0;
      }
      for (int k0 = 0; k0 < q0 + bq; k0 += Bk) {  // key blocks right of the diagonal are skipped
        const int bk = std::min(Bk, len - k0);
        MapCM<S> K(Kh + (size_t(h) * N + base + k0) * Dq, bk, Dq);
        MapCM<S> V(Vh + (size_t(h) * N + base + k0) * Dv, bk, Dv);
        Sb.topLeftCorner(bq, bk).noalias() = Q * K.transpose();
        for (int r = 0; r < bq; ++r) {
          S* srow = &Sb(r, 0);
          const int nv = visible(q0, r, k0, bk);
          if (nv <= 0) {
            std::fill(srow, srow + bk, S(0));
            continue;
          }
          S mx = -std::numeric_limits<S>::infinity();
          for (int j = 0; j < nv; ++j) mx = std::max(mx, srow[j] *= sc);
          const S mnew = std::max(m[r], mx);
          const S sum = simd::exp_shift_sum(srow, nv, mnew);
          std::fill(srow + nv, srow + bk, S(0));
          const S alpha = std::exp(m[r] - mnew);  // 0 on the first visible block (m = -inf)
          l[r] = l[r] * alpha + sum;
          m[r] = mnew;
          if (alpha != S(1)) Oa.row(r) *= alpha;
        }
        Oa.topRows(bq).noalias() += Sb.topLeftCorner(bq, bk) * V;
      }
      for (int r = 0; r < bq; ++r) {
        const size_t n = size_t(base) + q0 + r;
        const S inv = S(1) / l[r];
        for (int d = 0; d < Dv; ++d) o[(n * H + h) * Dv + d] = Oa(r, d) * inv;
        lse[n * H + h] = m[r] + std::log(l[r]);
      }
    }
  }
}

template <class S>
void flash_mla_backward(S* dq, S* dkv, S* dkpe, const S* dout, const S* o, const S* lse, const S* q, const S* kv,
                        const S* kpe, const int* cu, int nseq, int H, int Dn, int Dr, int Dv, double scale) {
  check_cu(cu, nseq);
  const int Dq = Dn + Dr, Dkv = Dn + Dv, N = cu[nseq];
  constexpr int Bq = kFlashBlockQ, Bk = kFlashBlockK;
  const S sc = S(scale);
  // The heads go in chunks of HC, just enough (sequence, head) pairs to keep every thread busy, so the packed copies
  // below hold HC heads, not H (at one 4,096-token sequence on 2 threads: half the workspace). Each head's arithmetic
  // does not depend on the chunking, and dkpe sums the heads in the same order (h = 0, 1, ...) either way.
  const int HC = std::clamp((omp_get_max_threads() + nseq - 1) / nseq, 1, H);
  const size_t nq = size_t(HC) * N * Dq, nv = size_t(HC) * N * Dv;  // one chunk's (HC, N, Dq) and (HC, N, Dv)
  S* const Qh = flash_workspace<S>(4 * nq + 3 * nv + size_t(HC) * N);
  S* const Kh = Qh + nq;
  S* const Vh = Kh + nq;
  S* const dOh = Vh + nv;     // dO per head
  S* const dQh = dOh + nv;
  S* const dKh = dQh + nq;
  S* const dVh = dKh + nq;
  S* const delta = dVh + nv;  // (HC, N): rowsum(dO * O)
  for (int h0 = 0; h0 < H; h0 += HC) {
    const int nh = std::min(HC, H - h0);
    pack_heads(Qh, Kh, Vh, q, kv, kpe, N, H, Dn, Dr, Dv, h0, nh);
#pragma omp parallel for schedule(static) if (size_t(N) * nh > 4096)
    for (int n = 0; n < N; ++n)
      for (int j = 0; j < nh; ++j) {
        const size_t src = (size_t(n) * H + h0 + j) * Dv, dst = size_t(j) * N + n;
        std::memcpy(dOh + dst * Dv, dout + src, sizeof(S) * Dv);
        S acc = 0;
        for (int d = 0; d < Dv; ++d) acc += dout[src + d] * o[src + d];
        delta[dst] = acc;
      }
    std::fill(dQh, dQh + nq, S(0));
#pragma omp parallel
    {
      RowMat<S> P(Bq, Bk), dP(Bq, Bk), dKa(Bk, Dq), dVa(Bk, Dv);
#pragma omp for collapse(2) schedule(dynamic, 1)
      for (int s = 0; s < nseq; ++s)
        for (int j = 0; j < nh; ++j) {
          const int h = h0 + j, base = cu[s], len = cu[s + 1] - base;
          const size_t hb = size_t(j) * N + base;  // row of token `base` in the packed (nh, N, .) buffers
          for (int k0 = 0; k0 < len; k0 += Bk) {
            const int bk = std::min(Bk, len - k0);
            MapCM<S> K(Kh + (hb + k0) * Dq, bk, Dq);
            MapCM<S> V(Vh + (hb + k0) * Dv, bk, Dv);
            dKa.topRows(bk).setZero();
            dVa.topRows(bk).setZero();
            for (int q0 = k0 / Bq * Bq; q0 < len; q0 += Bq) {  // query blocks left of the diagonal see none of these keys
              const int bq = std::min(Bq, len - q0);
              MapCM<S> Q(Qh + (hb + q0) * Dq, bq, Dq);
              MapCM<S> dO(dOh + (hb + q0) * Dv, bq, Dv);
              auto Pv = P.topLeftCorner(bq, bk);
              auto dPv = dP.topLeftCorner(bq, bk);
              Pv.noalias() = Q * K.transpose();
              for (int r = 0; r < bq; ++r) {  // P = exp(scale * s - lse), 0 where masked
                S* prow = &P(r, 0);
                const int nv = std::max(0, visible(q0, r, k0, bk));
                exp_scaled(prow, nv, sc, lse[(size_t(base) + q0 + r) * H + h]);
                std::fill(prow + nv, prow + bk, S(0));
              }
              dVa.topRows(bk).noalias() += Pv.transpose() * dO;
              dPv.noalias() = dO * V.transpose();
              for (int r = 0; r < bq; ++r) {  // dS = P * (dP - delta) * scale, in place
                const S dr = delta[hb + q0 + r];
                const S* prow = &P(r, 0);
                S* drow = &dP(r, 0);
                for (int c = 0; c < bk; ++c) drow[c] = prow[c] * (drow[c] - dr) * sc;
              }
              MapM<S>(dQh + (hb + q0) * Dq, bq, Dq).noalias() += dPv * K;
              dKa.topRows(bk).noalias() += dPv.transpose() * Q;
            }
            MapM<S>(dKh + (hb + k0) * Dq, bk, Dq) = dKa.topRows(bk);
            MapM<S>(dVh + (hb + k0) * Dv, bk, Dv) = dVa.topRows(bk);
          }
        }
    }
#pragma omp parallel for schedule(static) if (size_t(N) * nh > 4096)
    for (int n = 0; n < N; ++n) {
      for (int j = 0; j < nh; ++j) {
        const size_t src = size_t(j) * N + n, dst = size_t(n) * H + h0 + j;
        std::memcpy(dq + dst * Dq, dQh + src * Dq, sizeof(S) * Dq);
        std::memcpy(dkv + dst * Dkv, dKh + src * Dq, sizeof(S) * Dn);
        std::memcpy(dkv + dst * Dkv + Dn, dVh + src * Dv, sizeof(S) * Dv);
      }
      for (int d = 0; d < Dr; ++d) {  // k_R is shared by the heads: its gradient is their sum, over h = 0, 1, ...
        S acc = h0 == 0 ? S(0) : dkpe[size_t(n) * Dr + d];
        for (int j = 0; j < nh; ++j) acc += dKh[(size_t(j) * N + n) * Dq + Dn + d];
        dkpe[size_t(n) * Dr + d] = acc;
      }
    }
  }
}

#define REASONRL_FLASH_INST(S)                                                                                      \
  template void flash_mla_forward<S>(S*, S*, const S*, const S*, const S*, const int*, int, int, int, int, int,     \
                                     double);                                                                       \
  template void flash_mla_backward<S>(S*, S*, S*, const S*, const S*, const S*, const S*, const S*, const S*,       \
                                      const int*, int, int, int, int, int, double);
REASONRL_FLASH_INST(float)
REASONRL_FLASH_INST(double)
#undef REASONRL_FLASH_INST

}  // namespace reasonrl::model

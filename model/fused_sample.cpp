// fused_sample.cpp: the tiled head + sampling of fused_sample.h. Pass 1 (tiles split statically over the threads):
// a tile's logits (the decode GEMM, layers.h), then per row the tile's max and sum of exp(logit - max). Pass 2 (rows
// split over the threads): the row's max and Z merged over the tiles in tile order, the tile that holds u * Z, that
// tile's logits recomputed for the row and scanned in id order.
#include "model/fused_sample.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "model/layers.h"
#include "model/parallel.h"
#include "model/simd.h"
#include "rl/util/error.h"

namespace reasonrl::model {

namespace {

// One row's tile statistics: m[c] = max of tile c's logits, s[c] = sum of exp(logit - m[c]) over the tile.
// Returns the token drawn with u and writes its log-prob, or -1 when the logits are not finite (no throw: it runs inside
// parallel regions). tile_logits(c, out) writes tile c's logits of this row
// (scaled) into out; it is called for the one tile that holds the draw.
template <class S, class TileLogits>
int32_t draw_from_tiles(const S* m, const S* s, int n_tiles, int V, double u, double* logp, S* scratch,
                        TileLogits&& tile_logits) {
  constexpr int C = kFusedSampleCols;
  double mx = -std::numeric_limits<double>::infinity();
  for (int c = 0; c < n_tiles; ++c) mx = std::max(mx, double(m[c]));
  double z = 0;
  for (int c = 0; c < n_tiles; ++c) z += double(s[c]) * std::exp(double(m[c]) - mx);
  if (!std::isfinite(mx) || !std::isfinite(z) || !(z > 0)) return -1;
  const double target = u * z;
  // the tile that holds the target (the last tile with mass if rounding carries the running sum past the end)
  double cum = 0;
  int tc = -1;
  double cum_before = 0;
  for (int c = 0; c < n_tiles; ++c) {
    const double add = double(s[c]) * std::exp(double(m[c]) - mx);
    if (add > 0) {
      tc = c;
      cum_before = cum;
    }
    if (cum + add > target && add > 0) break;
    cum += add;
  }
  if (tc < 0) return -1;
  const int c0 = tc * C, bc = std::min(C, V - c0);
  tile_logits(tc, scratch);
  // inside the tile, in id order; the last token with mass if rounding leaves the target unreached
  int sel = -1;
  cum = cum_before;
  for (int j = 0; j < bc; ++j) {
    const double p = std::exp(double(scratch[j]) - mx);
    if (p > 0) sel = j;
    if (p > 0 && cum + p > target) break;
    cum += p;
  }
  if (sel < 0) sel = int(std::max_element(scratch, scratch + bc) - scratch);
  *logp = (double(scratch[sel]) - mx) - std::log(z);
  return int32_t(c0 + sel);
}

// out[j] = x . w_j for the bc rows of w (D each): one row's logits of a tile.
template <class S>
void row_logits(S* out, const S* x, const S* w, int D, int bc) {
  constexpr int L = simd::kLanes<S>;
  for (int j = 0; j < bc; ++j) {
    const S* wr = w + size_t(j) * D;
    simd::Vec64<S> acc = {};
    int k = 0;
    for (; k + L <= D; k += L) acc += simd::load64(x + k) * simd::load64(wr + k);
    S tail = 0;
    for (; k < D; ++k) tail += x[k] * wr[k];
    out[j] = simd::lane_sum<S>(acc) + tail;
  }
}

}  // namespace

template <class S>
void fused_head_sample(int32_t* tok, double* logp, const S* x, const S* w, const double* u, int n, int D, int V) {
  if (n <= 0) return;
  if (V <= 0 || D <= 0) throw Error("fused sampling: V and D must be > 0 (got " + std::to_string(V) + ", " +
                                    std::to_string(D) + ")");
  constexpr int C = kFusedSampleCols;
  const int n_tiles = (V + C - 1) / C;
  std::vector<S> mt(size_t(n) * n_tiles), st(size_t(n) * n_tiles);  // (n, tiles)
  // Pass 1: one tile's logits for every row at a time (w's rows read once), reduced to (max, sum of exp).
  auto tile = [&](int c, S* L) {  // L (n, bc)
    const int c0 = c * C, bc = std::min(C, V - c0);
    linear_forward_decode(L, x, w + size_t(c0) * D, n, D, bc);
    for (int r = 0; r < n; ++r) {
      const S* row = L + size_t(r) * bc;
      const S mx = simd::max_of(row, bc);
      mt[size_t(r) * n_tiles + c] = mx;
      st[size_t(r) * n_tiles + c] = simd::exp_sum(row, bc, mx);
    }
  };
  if (omp_get_max_threads() > 1 && n_tiles > 1 && !omp_in_parallel()) {
#pragma omp parallel
    {
      std::vector<S> L(size_t(n) * C);  // this thread's tile
#pragma omp for schedule(static)
      for (int c = 0; c < n_tiles; ++c) tile(c, L.data());
    }
  } else {
    std::vector<S> L(size_t(n) * C);
    for (int c = 0; c < n_tiles; ++c) tile(c, L.data());
  }
  // Pass 2: each row's draw; the tile holding it is recomputed for that row alone (D x C multiply-adds).
  std::vector<S> scratch(size_t(n) * C);  // (n, C) the recomputed tile of each row
  parallel_for(n, n > 1, [&](int r) {
    const S* xr = x + size_t(r) * D;
    tok[r] = draw_from_tiles(mt.data() + size_t(r) * n_tiles, st.data() + size_t(r) * n_tiles, n_tiles, V, u[r],
                             &logp[r], scratch.data() + size_t(r) * C, [&](int c, S* out) {
                               const int c0 = c * C;
                               row_logits(out, xr, w + size_t(c0) * D, D, std::min(C, V - c0));
                             });
  });
  for (int r = 0; r < n; ++r)
    if (tok[r] < 0) throw NumericError("fused sampling: row " + std::to_string(r) + " of " + std::to_string(n) +
                                       " has logits that are not finite (a NaN or inf reached the output head)");
}

template <class S>
int32_t sample_logits_row(const S* logits, int V, S scale, double u, double* logp) {
  if (V <= 0) throw Error("fused sampling: V must be > 0 (got " + std::to_string(V) + ")");
  constexpr int C = kFusedSampleCols;
  const int n_tiles = (V + C - 1) / C;
  std::vector<S> mt(static_cast<size_t>(n_tiles)), st(mt.size()), tile(static_cast<size_t>(C));
  auto scaled = [&](int c, S* out) {
    const int c0 = c * C, bc = std::min(C, V - c0);
    for (int j = 0; j < bc; ++j) out[j] = logits[c0 + j] * scale;
  };
  for (int c = 0; c < n_tiles; ++c) {
    const int bc = std::min(C, V - c * C);
    scaled(c, tile.data());
    mt[size_t(c)] = simd::max_of(tile.data(), bc);
    st[size_t(c)] = simd::exp_sum(tile.data(), bc, mt[size_t(c)]);
  }
  const int32_t t = draw_from_tiles(mt.data(), st.data(), n_tiles, V, u, logp, tile.data(), scaled);
  if (t < 0) throw NumericError("fused sampling: the logits row is not finite (a NaN or inf reached the output head)");
  return t;
}

template <class S>
void fused_head_sample_ref(int32_t* tok, double* logp, const S* x, const S* w, const double* u, int n, int D, int V) {
  std::vector<double> l(static_cast<size_t>(V));
  for (int r = 0; r < n; ++r) {
    for (int v = 0; v < V; ++v) {
      double acc = 0;
      for (int k = 0; k < D; ++k) acc += double(x[size_t(r) * D + k]) * double(w[size_t(v) * D + k]);
      l[size_t(v)] = acc;
    }
    const double mx = *std::max_element(l.begin(), l.end());
    double z = 0;
    for (double a : l) z += std::exp(a - mx);
    const double target = u[r] * z;
    double cum = 0;
    int sel = V - 1;
    for (int v = 0; v < V; ++v) {
      cum += std::exp(l[size_t(v)] - mx);
      if (cum > target) {
        sel = v;
        break;
      }
    }
    tok[r] = sel;
    logp[r] = (l[size_t(sel)] - mx) - std::log(z);
  }
}

#define REASONRL_FUSED_SAMPLE_INST(S)                                                                       \
  template void fused_head_sample<S>(int32_t*, double*, const S*, const S*, const double*, int, int, int);  \
  template int32_t sample_logits_row<S>(const S*, int, S, double, double*);                                 \
  template void fused_head_sample_ref<S>(int32_t*, double*, const S*, const S*, const double*, int, int, int);
REASONRL_FUSED_SAMPLE_INST(float)
REASONRL_FUSED_SAMPLE_INST(double)
#undef REASONRL_FUSED_SAMPLE_INST

}  // namespace reasonrl::model

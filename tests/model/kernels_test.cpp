// Kernel tests: optimised GEMM paths against the scalar references; RMSNorm / RoPE / SwiGLU / attention against
// finite differences in double; RoPE is a rotation; cross-entropy against a direct formula.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>

#include <omp.h>

#include "model/layers.h"
#include "rl/util/error.h"
#include "rl/util/rng.h"
#include "test_util.h"

namespace reasonrl::model {
namespace {

using testing::fd_check;
using testing::randn;
using testing::tof;

TEST(Kernels, LinearMatchesScalarReference) {
  // N = 1 (GEMV), 2-16 (register blocks of 8 or 4 weight rows x 4 input rows, and every remainder of 1-3 input rows;
  // O = 29 = 3 x 8 + 4 + 1 reaches the 8-, 4- and 1-row weight blocks), above 16 (Eigen GEMM); I with and without a
  // tail beyond the 16-lane chunks.
  for (int N : {1, 2, 3, 4, 5, 6, 7, 8, 13, 16, 17, 64}) {
    for (int I : {37, 64}) {
      const int O = 29;
      auto x = tof(randn(size_t(N) * I, 1)), w = tof(randn(size_t(O) * I, 2)), dy = tof(randn(size_t(N) * O, 3));
      std::vector<float> y(size_t(N) * O), yr(y.size());
      linear_forward(y.data(), x.data(), w.data(), N, I, O);
      linear_forward_ref(yr.data(), x.data(), w.data(), N, I, O);
      EXPECT_LT(testing::rel_err(y.data(), yr.data(), y.size()), 1e-5) << "N=" << N << " I=" << I;
      // The decode entry: the small-GEMM kernel up to 64 rows (here 17 and 64), the same as linear_forward otherwise.
      std::vector<float> yd(y.size(), 7.0f);
      linear_forward_decode(yd.data(), x.data(), w.data(), N, I, O);
      EXPECT_LT(testing::rel_err(yd.data(), yr.data(), yd.size()), 1e-5) << "decode N=" << N << " I=" << I;
      std::vector<float> dx(size_t(N) * I, 0.5f), dxr(dx), dw(size_t(O) * I, -0.25f), dwr(dw);
      linear_backward(dx.data(), dw.data(), dy.data(), x.data(), w.data(), N, I, O);
      linear_backward_ref(dxr.data(), dwr.data(), dy.data(), x.data(), w.data(), N, I, O);
      EXPECT_LT(testing::rel_err(dx.data(), dxr.data(), dx.size()), 1e-5) << "N=" << N << " I=" << I;
      EXPECT_LT(testing::rel_err(dw.data(), dwr.data(), dw.size()), 1e-5) << "N=" << N << " I=" << I;
    }
  }
}

TEST(Kernels, LinearSplitOverThreadsMatchesReference) {
  // Products large enough that the GEMV (I * O >= 2^16) and the small GEMM (N * I * O >= 2^17) split their weight rows
  // over two threads; O = 300 leaves a remainder of 4 rows after the 8-row blocks. Same bits as one thread.
  const int saved = omp_get_max_threads();
  for (int N : {1, 5, 16, 40}) {
    const int I = 256, O = 300;
    auto x = tof(randn(size_t(N) * I, 4)), w = tof(randn(size_t(O) * I, 5));
    std::vector<float> yr(size_t(N) * O), y1(yr.size()), y2(yr.size());
    linear_forward_ref(yr.data(), x.data(), w.data(), N, I, O);
    omp_set_num_threads(1);
    linear_forward_decode(y1.data(), x.data(), w.data(), N, I, O);
    omp_set_num_threads(2);
    linear_forward_decode(y2.data(), x.data(), w.data(), N, I, O);
    EXPECT_LT(testing::rel_err(y2.data(), yr.data(), yr.size()), 1e-5) << "N=" << N;
    EXPECT_EQ(y1, y2) << "N=" << N;
  }
  omp_set_num_threads(saved);
}

TEST(Kernels, SwigluDecodeMatchesSwiglu) {
  // The vectorised exp against std::exp, over gate values from -100 to 100 (the exp's clamping range and beyond),
  // F with and without a tail beyond 16 lanes.
  for (int F : {37, 64}) {
    const int N = 3;
    auto gu = tof(randn(size_t(N) * 2 * F, 7, 4.0));
    for (int i = 0; i < F; ++i) gu[size_t(i)] = -100.0f + 200.0f * float(i) / float(F - 1);
    std::vector<float> a(size_t(N) * F), ad(a.size());
    swiglu_forward(a.data(), gu.data(), N, F);
    swiglu_forward_decode(ad.data(), gu.data(), N, F);
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(ad[i], a[i], 1e-6 * (1.0 + std::abs(a[i]))) << "F=" << F << " i=" << i;
  }
}

TEST(Kernels, MlaDecodeAttentionMatchesScalarReference) {
  // Rows of different lengths (1 included, and every remainder of four positions), head counts that exercise the
  // two- and four-head blocks and the remainders, and latent widths with (20) and without (64) a lane remainder.
  for (int C : {20, 64})
  for (int H : {1, 4, 6, 9}) {
    const int Dn = 8, Dr = 4, Dv = 6, M = 5, W = C + Dr;
    const std::vector<int> len = {1, 7, 33, 2, 16};
    std::vector<std::vector<float>> cache;
    std::vector<const float*> kv;
    for (int m = 0; m < M; ++m) {
      cache.push_back(tof(randn(size_t(len[size_t(m)]) * W, 10 + uint64_t(m))));
      kv.push_back(cache.back().data());
    }
    auto q = tof(randn(size_t(M) * H * (Dn + Dr), 20)), w = tof(randn(size_t(H) * (Dn + Dv) * C, 21, 0.3));
    std::vector<float> o(size_t(M) * H * Dv), orf(o.size());
    std::vector<float> work(size_t(M) * mla_decode_work(H, C, Dr, 33));
    const double scale = 1.0 / std::sqrt(double(Dn + Dr));
    mla_decode_attention_forward(o.data(), q.data(), kv.data(), len.data(), w.data(), M, H, Dn, Dr, Dv, C, scale,
                                 work.data());
    mla_decode_attention_forward_ref(orf.data(), q.data(), kv.data(), len.data(), w.data(), M, H, Dn, Dr, Dv, C, scale);
    EXPECT_LT(testing::rel_err(o.data(), orf.data(), o.size()), 1e-5) << "H=" << H << " C=" << C;
  }
}

TEST(Kernels, MlaDecodeAttentionPagedEqualsContiguousBitForBit) {
  // The same cached positions scattered over separately allocated blocks of 4, 8 and 64 positions (as a paged cache
  // holds them): every output bit equals the contiguous call's, and both match the scalar reference.
  for (int C : {20, 64})
  for (int H : {1, 4, 6}) {
    const int Dn = 8, Dr = 4, Dv = 6, M = 5, W = C + Dr;
    const std::vector<int> len = {1, 7, 33, 2, 70};
    std::vector<std::vector<float>> cache;
    std::vector<const float*> kv;
    for (int m = 0; m < M; ++m) {
      cache.push_back(tof(randn(size_t(len[size_t(m)]) * W, 30 + uint64_t(m))));
      kv.push_back(cache.back().data());
    }
    auto q = tof(randn(size_t(M) * H * (Dn + Dr), 40)), w = tof(randn(size_t(H) * (Dn + Dv) * C, 41, 0.3));
    std::vector<float> o(size_t(M) * H * Dv), orf(o.size());
    std::vector<float> work(size_t(M) * mla_decode_work(H, C, Dr, 70));
    const double scale = 1.0 / std::sqrt(double(Dn + Dr));
    mla_decode_attention_forward(o.data(), q.data(), kv.data(), len.data(), w.data(), M, H, Dn, Dr, Dv, C, scale,
                                 work.data());
    mla_decode_attention_forward_ref(orf.data(), q.data(), kv.data(), len.data(), w.data(), M, H, Dn, Dr, Dv, C, scale);
    EXPECT_LT(testing::rel_err(o.data(), orf.data(), o.size()), 1e-5) << "H=" << H << " C=" << C;
    for (int bt : {4, 8, 64}) {
      std::vector<std::unique_ptr<std::vector<float>>> pool;  // one allocation per block
      std::vector<std::vector<const float*>> tables(static_cast<size_t>(M));
      for (int m = 0; m < M; ++m)
        for (int b0 = 0; b0 < len[size_t(m)]; b0 += bt) {
          // the positions past the row's length are NaN: read, they would poison the output
          pool.push_back(std::make_unique<std::vector<float>>(size_t(bt) * W, std::numeric_limits<float>::quiet_NaN()));
          const int n = std::min(bt, len[size_t(m)] - b0);
          std::copy_n(kv[size_t(m)] + size_t(b0) * W, size_t(n) * W, pool.back()->begin());
          tables[size_t(m)].push_back(pool.back()->data());
        }
      std::vector<const float* const*> tab(static_cast<size_t>(M));
      for (int m = 0; m < M; ++m) tab[size_t(m)] = tables[size_t(m)].data();
      std::vector<float> op(o.size());
      mla_decode_attention_forward_paged(op.data(), q.data(), tab.data(), bt, len.data(), w.data(), M, H, Dn, Dr, Dv, C,
                                         scale, work.data());
      ASSERT_EQ(std::memcmp(op.data(), o.data(), sizeof(float) * o.size()), 0) << "H=" << H << " C=" << C << " bt=" << bt;
    }
  }
  std::vector<float> o(1), q(12), w(1);
  const float* blk = q.data();
  const float* const* tab = &blk;
  const int one = 1;
  EXPECT_THROW(mla_decode_attention_forward_paged(o.data(), q.data(), &tab, 6, &one, w.data(), 1, 1, 8, 4, 1, 1, 1.0,
                                                  o.data()),
               Error);
}

// Checks d(sum(out * probe))/d(in) from `backward` against central differences of `forward`.

TEST(Kernels, RmsNormGradients) {
  const int N = 3, D = 8;
  auto x = randn(N * D, 4), w = randn(D, 5);
  std::vector<double> rstd(N);
  auto fwd = [&](std::vector<double>& y) { rmsnorm_forward(y.data(), rstd.data(), x.data(), w.data(), N, D, 1e-6); };
  fd_check("rmsnorm dx", x, N * D, fwd, [&](const std::vector<double>& dy) {
    std::vector<double> dx(N * D, 0.0);
    rmsnorm_backward(dx.data(), (double*)nullptr, dy.data(), x.data(), w.data(), rstd.data(), N, D);
    return dx;
  });
  fd_check("rmsnorm dw", w, N * D, fwd, [&](const std::vector<double>& dy) {
    std::vector<double> dw(D, 0.0);
    rmsnorm_backward((double*)nullptr, dw.data(), dy.data(), x.data(), w.data(), rstd.data(), N, D);
    return dw;
  });
}

TEST(Kernels, SwigluGradients) {
  const int N = 4, F = 5;
  auto gu = randn(N * 2 * F, 6, 2.0);
  fd_check("swiglu", gu, N * F, [&](std::vector<double>& a) { swiglu_forward(a.data(), gu.data(), N, F); },
           [&](const std::vector<double>& da) {
             std::vector<double> d(N * 2 * F);
             swiglu_backward(d.data(), da.data(), gu.data(), N, F);
             return d;
           });
}

TEST(Kernels, RopeIsAdjacentPairRotationAndInverse) {
  const int N = 5, H = 3, Dr = 8;
  auto x = randn(N * H * Dr, 7);
  auto y = x;
  std::vector<int32_t> pos = {0, 1, 2, 7, 100};
  rope_apply(y.data(), N, H * Dr, H, Dr, pos.data(), Dr, 10000.0, +1);
  for (int n = 0; n < N; ++n)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < Dr / 2; ++i) {
        const double a = pos[n] * std::pow(10000.0, -2.0 * i / Dr);
        const double* xi = &x[(n * H + h) * Dr + 2 * i];
        const double* yi = &y[(n * H + h) * Dr + 2 * i];
        EXPECT_NEAR(yi[0], xi[0] * std::cos(a) - xi[1] * std::sin(a), 1e-12);
        EXPECT_NEAR(yi[1], xi[0] * std::sin(a) + xi[1] * std::cos(a), 1e-12);
      }
  rope_apply(y.data(), N, H * Dr, H, Dr, pos.data(), Dr, 10000.0, -1);
  EXPECT_LT(testing::rel_err(y.data(), x.data(), x.size()), 1e-12);
}

TEST(Kernels, MlaAttentionGradients) {
  const int B = 2, T = 4, H = 2, Dn = 3, Dr = 2, Dv = 3;
  const int N = B * T;
  auto q = randn(N * H * (Dn + Dr), 8), kv = randn(N * H * (Dn + Dv), 9), kpe = randn(N * Dr, 10);
  std::vector<double> att(B * H * T * T);
  const double sc = 0.7;
  auto fwd = [&](std::vector<double>& o) {
    mla_attention_forward(o.data(), att.data(), q.data(), kv.data(), kpe.data(), B, T, H, Dn, Dr, Dv, sc);
  };
  auto grads = [&](const std::vector<double>& dout, int which) {
    std::vector<double> dq(q.size()), dkv(kv.size()), dkpe(kpe.size());
    mla_attention_backward(dq.data(), dkv.data(), dkpe.data(), dout.data(), att.data(), q.data(), kv.data(),
                           kpe.data(), B, T, H, Dn, Dr, Dv, sc);
    return which == 0 ? dq : which == 1 ? dkv : dkpe;
  };
  fd_check("attention dq", q, N * H * Dv, fwd, [&](const std::vector<double>& d) { return grads(d, 0); });
  fd_check("attention dkv", kv, N * H * Dv, fwd, [&](const std::vector<double>& d) { return grads(d, 1); });
  fd_check("attention dkpe", kpe, N * H * Dv, fwd, [&](const std::vector<double>& d) { return grads(d, 2); });
}

TEST(Kernels, AttentionIsCausalPerRow) {
  const int B = 2, T = 5, H = 1, Dn = 2, Dr = 2, Dv = 2, N = B * T;
  auto q = randn(N * (Dn + Dr), 11), kv = randn(N * (Dn + Dv), 12), kpe = randn(N * Dr, 13);
  std::vector<double> att(B * T * T), o1(N * Dv), o2(N * Dv);
  mla_attention_forward(o1.data(), att.data(), q.data(), kv.data(), kpe.data(), B, T, H, Dn, Dr, Dv, 1.0);
  kv[(1 * T + 4) * (Dn + Dv)] += 5.0;  // change the last token of row 1 (and nothing of row 0)
  kv[(0 * T + 3) * (Dn + Dv) + Dn] += 5.0;  // the value of token 3 of row 0
  mla_attention_forward(o2.data(), att.data(), q.data(), kv.data(), kpe.data(), B, T, H, Dn, Dr, Dv, 1.0);
  for (int t = 0; t < 3; ++t)
    for (int d = 0; d < Dv; ++d) EXPECT_EQ(o1[t * Dv + d], o2[t * Dv + d]);
  for (int t = 0; t < 4; ++t)
    for (int d = 0; d < Dv; ++d) EXPECT_EQ(o1[(T + t) * Dv + d], o2[(T + t) * Dv + d]);
  EXPECT_NE(o1[3 * Dv], o2[3 * Dv]);
}

TEST(Kernels, SoftmaxXentMatchesFormula) {
  const int N = 3, V = 6;
  auto l = randn(N * V, 14, 3.0);
  std::vector<int32_t> tgt = {0, 5, 2};
  std::vector<double> w = {1.0, 0.0, 2.0}, d(N * V);
  const double tot = softmax_xent(l.data(), tgt.data(), w.data(), d.data(), 0.5, N, V);
  double ref = 0;
  for (int n = 0; n < N; ++n) {
    double z = 0;
    for (int v = 0; v < V; ++v) z += std::exp(l[n * V + v]);
    ref += w[n] * (std::log(z) - l[n * V + tgt[n]]);
    for (int v = 0; v < V; ++v)
      EXPECT_NEAR(d[n * V + v], 0.5 * w[n] * (std::exp(l[n * V + v]) / z - (v == tgt[n])), 1e-12);
  }
  EXPECT_NEAR(tot, ref, 1e-12);
}

}  // namespace
}  // namespace reasonrl::model

// Tiled (flash) MLA attention: forward, log-sum-exp and backward against the reference kernel (layers.h) in double and
// float, against finite differences, and packed variable-length batches against the sequences run one by one.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/flash_attention.h"
#include "model/layers.h"
#include "test_util.h"

namespace reasonrl::model {
namespace {

using testing::randn;
using testing::rel_err;
using testing::tof;

struct Dims {
  int H, Dn, Dr, Dv;
  int Dq() const { return Dn + Dr; }
  int Dkv() const { return Dn + Dv; }
};

// Runs the reference on (B, T) and the tiled kernel on the same rows; compares o, dq, dkv, dkpe.
template <class S>
void compare_with_reference(int B, int T, Dims d, double tol) {
  const int N = B * T;
  const double sc = 1.0 / std::sqrt(double(d.Dq()));
  const auto q = randn(size_t(N) * d.H * d.Dq(), 21, 2.0), kv = randn(size_t(N) * d.H * d.Dkv(), 22),
             kpe = randn(size_t(N) * d.Dr, 23, 2.0), dout = randn(size_t(N) * d.H * d.Dv, 24);
  std::vector<S> qs(q.begin(), q.end()), kvs(kv.begin(), kv.end()), kpes(kpe.begin(), kpe.end()),
      dos(dout.begin(), dout.end());
  std::vector<S> att(size_t(B) * d.H * T * T), o_ref(size_t(N) * d.H * d.Dv), o(o_ref.size()), lse(size_t(N) * d.H);
  mla_attention_forward(o_ref.data(), att.data(), qs.data(), kvs.data(), kpes.data(), B, T, d.H, d.Dn, d.Dr, d.Dv, sc);
  const auto cu = uniform_cu_seqlens(B, T);
  flash_mla_forward(o.data(), lse.data(), qs.data(), kvs.data(), kpes.data(), cu.data(), B, d.H, d.Dn, d.Dr, d.Dv, sc);
  EXPECT_LT(rel_err(o.data(), o_ref.data(), o.size()), tol) << "o, B " << B << " T " << T;

  std::vector<S> dq_ref(qs.size()), dkv_ref(kvs.size()), dkpe_ref(kpes.size()), dq(qs.size()), dkv(kvs.size()),
      dkpe(kpes.size());
  mla_attention_backward(dq_ref.data(), dkv_ref.data(), dkpe_ref.data(), dos.data(), att.data(), qs.data(), kvs.data(),
                         kpes.data(), B, T, d.H, d.Dn, d.Dr, d.Dv, sc);
  flash_mla_backward(dq.data(), dkv.data(), dkpe.data(), dos.data(), o.data(), lse.data(), qs.data(), kvs.data(),
                     kpes.data(), cu.data(), B, d.H, d.Dn, d.Dr, d.Dv, sc);
  EXPECT_LT(rel_err(dq.data(), dq_ref.data(), dq.size()), tol) << "dq, B " << B << " T " << T;
  EXPECT_LT(rel_err(dkv.data(), dkv_ref.data(), dkv.size()), tol) << "dkv, B " << B << " T " << T;
  EXPECT_LT(rel_err(dkpe.data(), dkpe_ref.data(), dkpe.size()), tol) << "dkpe, B " << B << " T " << T;
}

TEST(FlashAttention, MatchesReferenceDouble) {
  // T below one block, exactly one block, and with a partial last block over several query / key blocks.
  for (int T : {5, kFlashBlockQ, 2 * kFlashBlockQ + 37}) compare_with_reference<double>(2, T, {3, 8, 4, 6}, 1e-12);
}

TEST(FlashAttention, MatchesReferenceFloat) {
  for (int T : {7, 3 * kFlashBlockQ + 1}) compare_with_reference<float>(2, T, {4, 32, 16, 32}, 2e-5);
}

TEST(FlashAttention, LogSumExpIsOfTheScaledCausalScores) {
  const int T = 70, H = 2, Dn = 4, Dr = 2, Dv = 3, Dq = Dn + Dr;
  const double sc = 0.4;
  const auto q = randn(size_t(T) * H * Dq, 31), kv = randn(size_t(T) * H * (Dn + Dv), 32), kpe = randn(size_t(T) * Dr, 33);
  std::vector<double> o(size_t(T) * H * Dv), lse(size_t(T) * H);
  const auto cu = uniform_cu_seqlens(1, T);
  flash_mla_forward(o.data(), lse.data(), q.data(), kv.data(), kpe.data(), cu.data(), 1, H, Dn, Dr, Dv, sc);
  for (int t = 0; t < T; ++t)
    for (int h = 0; h < H; ++h) {
      double z = 0;
      for (int j = 0; j <= t; ++j) {
        double s = 0;
        for (int k = 0; k < Dn; ++k) s += q[(size_t(t) * H + h) * Dq + k] * kv[(size_t(j) * H + h) * (Dn + Dv) + k];
        for (int k = 0; k < Dr; ++k) s += q[(size_t(t) * H + h) * Dq + Dn + k] * kpe[size_t(j) * Dr + k];
        z += std::exp(sc * s);
      }
      EXPECT_NEAR(lse[size_t(t) * H + h], std::log(z), 1e-12) << t << " " << h;
    }
}

TEST(FlashAttention, GradientsMatchFiniteDifferences) {
  const int T = 9, H = 2, Dn = 3, Dr = 2, Dv = 3, N = 2 * T;
  auto q = randn(size_t(N) * H * (Dn + Dr), 41), kv = randn(size_t(N) * H * (Dn + Dv), 42), kpe = randn(size_t(N) * Dr, 43);
  const std::vector<int> cu = {0, 4, N};  // two packed sequences of 4 and 14 tokens
  std::vector<double> lse(size_t(N) * H), o_keep(size_t(N) * H * Dv);
  const double sc = 0.7;
  auto fwd = [&](std::vector<double>& o) {
    flash_mla_forward(o.data(), lse.data(), q.data(), kv.data(), kpe.data(), cu.data(), 2, H, Dn, Dr, Dv, sc);
    o_keep = o;
  };
  auto grads = [&](const std::vector<double>& dout, int which) {
    std::vector<double> dq(q.size()), dkv(kv.size()), dkpe(kpe.size());
    flash_mla_backward(dq.data(), dkv.data(), dkpe.data(), dout.data(), o_keep.data(), lse.data(), q.data(), kv.data(),
                       kpe.data(), cu.data(), 2, H, Dn, Dr, Dv, sc);
    return which == 0 ? dq : which == 1 ? dkv : dkpe;
  };
  testing::fd_check("flash dq", q, size_t(N) * H * Dv, fwd, [&](const std::vector<double>& d) { return grads(d, 0); });
  testing::fd_check("flash dkv", kv, size_t(N) * H * Dv, fwd, [&](const std::vector<double>& d) { return grads(d, 1); });
  testing::fd_check("flash dkpe", kpe, size_t(N) * H * Dv, fwd, [&](const std::vector<double>& d) { return grads(d, 2); });
}

// A packed batch (cu_seqlens, one empty sequence, lengths across block edges) gives exactly what each sequence gives
// alone, and the reference kernel on that sequence agrees; nothing leaks across a boundary.
TEST(FlashAttention, PackedEqualsSequencesOneByOne) {
  const Dims d{4, 32, 16, 32};
  const std::vector<int> lens = {70, 1, 0, 130, kFlashBlockQ};
  std::vector<int> cu = {0};
  for (int l : lens) cu.push_back(cu.back() + l);
  const int N = cu.back(), ns = int(lens.size());
  const double sc = 1.0 / std::sqrt(48.0);
  const auto q = tof(randn(size_t(N) * d.H * d.Dq(), 51, 2.0)), kv = tof(randn(size_t(N) * d.H * d.Dkv(), 52)),
             kpe = tof(randn(size_t(N) * d.Dr, 53, 2.0)), dout = tof(randn(size_t(N) * d.H * d.Dv, 54));
  std::vector<float> o(size_t(N) * d.H * d.Dv), lse(size_t(N) * d.H), dq(q.size()), dkv(kv.size()), dkpe(kpe.size());
  flash_mla_forward(o.data(), lse.data(), q.data(), kv.data(), kpe.data(), cu.data(), ns, d.H, d.Dn, d.Dr, d.Dv, sc);
  flash_mla_backward(dq.data(), dkv.data(), dkpe.data(), dout.data(), o.data(), lse.data(), q.data(), kv.data(),
                     kpe.data(), cu.data(), ns, d.H, d.Dn, d.Dr, d.Dv, sc);
  for (int s = 0; s < ns; ++s) {
    const int L = lens[size_t(s)], b = cu[size_t(s)];
    if (L == 0) continue;
    auto sub = [&](const std::vector<float>& v, int w) {
      return std::vector<float>(v.begin() + size_t(b) * w, v.begin() + size_t(b + L) * w);
    };
    const auto qs = sub(q, d.H * d.Dq()), kvs = sub(kv, d.H * d.Dkv()), kps = sub(kpe, d.Dr), dos = sub(dout, d.H * d.Dv);
    std::vector<float> o1(size_t(L) * d.H * d.Dv), l1(size_t(L) * d.H), dq1(qs.size()), dkv1(kvs.size()),
        dkpe1(kps.size());
    const std::vector<int> cu1 = {0, L};
    flash_mla_forward(o1.data(), l1.data(), qs.data(), kvs.data(), kps.data(), cu1.data(), 1, d.H, d.Dn, d.Dr, d.Dv, sc);
    flash_mla_backward(dq1.data(), dkv1.data(), dkpe1.data(), dos.data(), o1.data(), l1.data(), qs.data(), kvs.data(),
                       kps.data(), cu1.data(), 1, d.H, d.Dn, d.Dr, d.Dv, sc);
    EXPECT_EQ(sub(o, d.H * d.Dv), o1) << "sequence " << s;
    EXPECT_EQ(sub(lse, d.H), l1) << "sequence " << s;
    EXPECT_EQ(sub(dq, d.H * d.Dq()), dq1) << "sequence " << s;
    EXPECT_EQ(sub(dkv, d.H * d.Dkv()), dkv1) << "sequence " << s;
    EXPECT_EQ(sub(dkpe, d.Dr), dkpe1) << "sequence " << s;
    std::vector<float> att(size_t(d.H) * L * L), o_ref(o1.size());
    mla_attention_forward(o_ref.data(), att.data(), qs.data(), kvs.data(), kps.data(), 1, L, d.H, d.Dn, d.Dr, d.Dv, sc);
    EXPECT_LT(rel_err(o1.data(), o_ref.data(), o1.size()), 2e-5) << "sequence " << s;
  }
}

TEST(FlashAttention, DecreasingCuSeqlensIsAnError) {
  const std::vector<int> cu = {0, 5, 3};
  std::vector<float> x(64);
  EXPECT_THROW(flash_mla_forward(x.data(), x.data(), x.data(), x.data(), x.data(), cu.data(), 2, 1, 1, 1, 1, 1.0),
               Error);
}

}  // namespace
}  // namespace reasonrl::model

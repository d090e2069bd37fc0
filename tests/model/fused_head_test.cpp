// Fused head + log-softmax: log-probs, log-sum-exp and gradients against the unfused path (linear_forward +
// softmax_xent + linear_backward, layers.h) in double and float, and against finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/fused_head.h"
#include "model/layers.h"
#include "test_util.h"

namespace reasonrl::model {
namespace {

using testing::randn;
using testing::rel_err;

// Unfused: logits = x w^T (N, V); logp[n] = -(softmax_xent of row n alone); gradients through softmax_xent with the
// row weight -dlogp[n] (its dlogits are w * (softmax - onehot)) and linear_backward.
template <class S>
void unfused(std::vector<S>& logp, std::vector<S>& dx, std::vector<S>& dw, const std::vector<S>& x,
             const std::vector<S>& w, const std::vector<int32_t>& tgt, const std::vector<S>& dlogp, int N, int D, int V) {
  std::vector<S> logits(size_t(N) * V), dlogits(logits.size());
  linear_forward_ref(logits.data(), x.data(), w.data(), N, D, V);
  for (int n = 0; n < N; ++n)
    logp[size_t(n)] = S(-softmax_xent(logits.data() + size_t(n) * V, &tgt[size_t(n)], static_cast<const S*>(nullptr),
                                      static_cast<S*>(nullptr), S(1), 1, V));
  std::vector<S> negd(dlogp.size());
  for (size_t n = 0; n < dlogp.size(); ++n) negd[n] = -dlogp[n];
  softmax_xent(logits.data(), tgt.data(), negd.data(), dlogits.data(), S(1), N, V);
  linear_backward_ref(dx.data(), dw.data(), dlogits.data(), x.data(), w.data(), N, D, V);
}

template <class S>
void compare(int N, int D, int V, double tol) {
  const auto xd = randn(size_t(N) * D, 61), wd = randn(size_t(V) * D, 62, 0.5), gd = randn(size_t(N), 63);
  std::vector<S> x(xd.begin(), xd.end()), w(wd.begin(), wd.end()), dlogp(gd.begin(), gd.end());
  dlogp[1] = 0;  // a row that does not count
  const auto tgt = testing::random_tokens(N, V, 64);
  std::vector<S> logp(x.size() / size_t(D)), lse(logp.size()), dx(x.size()), dw(w.size());
  std::vector<S> logp_u(logp.size()), dx_u(x.size()), dw_u(w.size());
  fused_head_logprob_forward(logp.data(), lse.data(), x.data(), w.data(), tgt.data(), N, D, V);
  fused_head_logprob_backward(dx.data(), dw.data(), dlogp.data(), lse.data(), x.data(), w.data(), tgt.data(), N, D, V);
  unfused(logp_u, dx_u, dw_u, x, w, tgt, dlogp, N, D, V);
  EXPECT_LT(rel_err(logp.data(), logp_u.data(), logp.size()), tol) << "logp N " << N << " V " << V;
  EXPECT_LT(rel_err(dx.data(), dx_u.data(), dx.size()), tol) << "dx N " << N << " V " << V;
  EXPECT_LT(rel_err(dw.data(), dw_u.data(), dw.size()), tol) << "dw N " << N << " V " << V;
  for (int n = 0; n < N; ++n) {  // lse = log sum_v exp(logit_v), from the logit of the target and its log-prob
    double l = 0;
    for (int k = 0; k < D; ++k) l += double(x[size_t(n) * D + k]) * double(w[size_t(tgt[size_t(n)]) * D + k]);
    EXPECT_NEAR(double(lse[size_t(n)]), l - double(logp_u[size_t(n)]), 50 * tol) << n;
  }
}

TEST(FusedHead, MatchesUnfusedDouble) {
  // Several row passes with a partial last one; V below one tile, and over several tiles with a partial last one.
  compare<double>(kFusedHeadRows * 2 + 19, 24, 37, 1e-12);
  compare<double>(kFusedHeadRows + 3, 24, 3 * kFusedHeadCols + 91, 1e-12);
}

TEST(FusedHead, MatchesUnfusedFloat) { compare<float>(kFusedHeadRows + 40, 64, 2 * kFusedHeadCols + 5, 2e-5); }

TEST(FusedHead, GradientsMatchFiniteDifferences) {
  const int N = 5, D = 4, V = 7;
  auto x = randn(size_t(N) * D, 71), w = randn(size_t(V) * D, 72);
  const auto tgt = testing::random_tokens(N, V, 73);
  std::vector<double> lse(x.size() / size_t(D));
  auto fwd = [&](std::vector<double>& logp) {
    fused_head_logprob_forward(logp.data(), lse.data(), x.data(), w.data(), tgt.data(), N, D, V);
  };
  auto grads = [&](const std::vector<double>& dlogp, bool want_dx) {
    std::vector<double> dx(x.size()), dw(w.size());
    fused_head_logprob_backward(dx.data(), dw.data(), dlogp.data(), lse.data(), x.data(), w.data(), tgt.data(), N, D,
                                V);
    return want_dx ? dx : dw;
  };
  testing::fd_check("fused head dx", x, size_t(N), fwd, [&](const std::vector<double>& d) { return grads(d, true); });
  testing::fd_check("fused head dw", w, size_t(N), fwd, [&](const std::vector<double>& d) { return grads(d, false); });
}

TEST(FusedHead, TargetOutsideVocabularyIsAnError) {
  std::vector<float> x(8), w(12), out(2);
  const std::vector<int32_t> tgt = {0, 3};
  EXPECT_THROW(fused_head_logprob_forward(out.data(), out.data(), x.data(), w.data(), tgt.data(), 2, 4, 3), Error);
}

}  // namespace
}  // namespace reasonrl::model

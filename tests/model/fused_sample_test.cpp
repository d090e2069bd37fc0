// Fused head + sampling (model/fused_sample.h) against its scalar reference (logits by plain dot products, softmax and
// the running sum in double): the same token for the same uniform, at uniforms placed inside each token's slice of
// the cumulative distribution (so the token is fixed, whatever the rounding) and at random ones; log-probs against a
// log-softmax formed in the test; the row sampler over given logits; thread-count invariance; non-finite logits.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <vector>

#include "model/fused_sample.h"
#include "model/layers.h"
#include "rl/util/error.h"
#include "test_util.h"

namespace reasonrl::model {
namespace {

using testing::randn;

// Row r's logits in double and its softmax's cumulative sums: cum[v] = sum_{j <= v} p_j.
std::vector<double> logits_ref(const std::vector<double>& x, const std::vector<double>& w, int r, int D, int V) {
  std::vector<double> l(static_cast<size_t>(V));
  for (int v = 0; v < V; ++v) {
    double a = 0;
    for (int k = 0; k < D; ++k) a += x[size_t(r) * D + k] * w[size_t(v) * D + k];
    l[size_t(v)] = a;
  }
  return l;
}

// Uniforms at the middle of chosen tokens' probability slices (the draw must give exactly that token), plus random
// ones and u = 0; `want` is the token a correct inverse-CDF draw gives (-1 = not fixed by the test).
struct Draws {
  std::vector<double> u;
  std::vector<int> want;
};
Draws draws_for(const std::vector<double>& l, uint64_t seed) {
  const double mx = *std::max_element(l.begin(), l.end());
  double z = 0;
  for (double a : l) z += std::exp(a - mx);
  Draws d;
  double cum = 0;
  const int V = int(l.size());
  for (int v = 0; v < V; ++v) {
    const double p = std::exp(l[size_t(v)] - mx) / z;
    // every token with a slice well above rounding, and a spread of token ids (first, last, tile edges)
    if (p > 1e-5 && (v % 97 == 0 || v == V - 1 || v % 1024 == 0 || v % 1024 == 1023 || p > 0.02)) {
      d.u.push_back(cum + 0.5 * p);
      d.want.push_back(v);
    }
    cum += p;
  }
  Rng g(seed);
  for (int i = 0; i < 40; ++i) d.u.push_back(g.uniform()), d.want.push_back(-1);
  d.u.push_back(0.0), d.want.push_back(-1);  // (not u -> 1: there the far tail's tokens, p ~ 1e-20, tie in rounding)
  return d;
}

template <class S>
void compare(int D, int V, double logit_scale, double tol) {
  const int n = 3;
  // x with a few large entries: peaked and flat rows both occur
  auto xd = randn(size_t(n) * D, 71, logit_scale), wd = randn(size_t(V) * D, 72, 0.5);
  std::vector<S> x(xd.begin(), xd.end()), w(wd.begin(), wd.end());
  xd.assign(x.begin(), x.end());  // the reference sees the same (rounded) values
  wd.assign(w.begin(), w.end());
  int fixed = 0;
  for (int r = 0; r < n; ++r) {
    const std::vector<double> l = logits_ref(xd, wd, r, D, V);
    const double mx = *std::max_element(l.begin(), l.end());
    double z = 0;
    for (double a : l) z += std::exp(a - mx);
    const Draws d = draws_for(l, 100 + uint64_t(r));
    const int m = int(d.u.size());
    std::vector<S> xr(size_t(m) * D);  // row r repeated once per draw
    for (int i = 0; i < m; ++i) std::copy_n(x.data() + size_t(r) * D, D, xr.data() + size_t(i) * D);
    std::vector<int32_t> tok(static_cast<size_t>(m)), tok_ref(static_cast<size_t>(m));
    std::vector<double> lp(static_cast<size_t>(m)), lp_ref(static_cast<size_t>(m));
    fused_head_sample(tok.data(), lp.data(), xr.data(), w.data(), d.u.data(), m, D, V);
    fused_head_sample_ref(tok_ref.data(), lp_ref.data(), xr.data(), w.data(), d.u.data(), m, D, V);
    std::vector<S> lrow(l.begin(), l.end());
    for (int i = 0; i < m; ++i) {
      EXPECT_EQ(tok[size_t(i)], tok_ref[size_t(i)]) << "row " << r << " u " << d.u[size_t(i)];
      if (d.want[size_t(i)] >= 0) {
        EXPECT_EQ(tok[size_t(i)], d.want[size_t(i)]) << "row " << r << " u " << d.u[size_t(i)];
        ++fixed;
      }
      const int t = tok[size_t(i)];
      ASSERT_TRUE(t >= 0 && t < V);
      const double want_lp = (l[size_t(t)] - mx) - std::log(z);  // log-softmax formed here
      EXPECT_NEAR(lp[size_t(i)], want_lp, tol * (1 + std::fabs(want_lp))) << "row " << r << " token " << t;
      EXPECT_NEAR(lp_ref[size_t(i)], want_lp, 1e-9 * (1 + std::fabs(want_lp)));
      // the row sampler over the given logits draws the same
      double lp_row = 0;
      EXPECT_EQ(sample_logits_row(lrow.data(), V, S(1), d.u[size_t(i)], &lp_row), t) << "row " << r;
      EXPECT_NEAR(lp_row, want_lp, tol * (1 + std::fabs(want_lp)));
    }
  }
  EXPECT_GE(fixed, 2 * n) << "too few draws with a known token";
}

TEST(FusedSample, MatchesScalarReferenceFloat) {
  compare<float>(24, 37, 1.0, 2e-5);                        // less than one tile
  compare<float>(24, 3 * kFusedSampleCols + 91, 1.0, 2e-5);  // several tiles, a partial last one
  compare<float>(16, 2 * kFusedSampleCols, 6.0, 2e-5);       // peaked rows; the last tile full
}

TEST(FusedSample, MatchesScalarReferenceDouble) {
  compare<double>(24, 3 * kFusedSampleCols + 91, 1.0, 1e-11);
  compare<double>(16, 2 * kFusedSampleCols, 6.0, 1e-11);
}

TEST(FusedSample, TemperatureScalesTheLogits) {
  // sample_logits_row with scale 1/T draws from softmax(l / T): the same as the fused head on x / T.
  const int D = 16, V = 2 * kFusedSampleCols + 5, n = 1;
  const float T = 0.6f;
  const auto xd = randn(size_t(n) * D, 81, 2.0), wd = randn(size_t(V) * D, 82, 0.5);
  std::vector<float> x(xd.begin(), xd.end()), w(wd.begin(), wd.end()), xs(x), l(static_cast<size_t>(V));
  for (auto& v : xs) v /= T;
  linear_forward_ref(l.data(), x.data(), w.data(), 1, D, V);
  Rng g(3);
  for (int i = 0; i < 50; ++i) {
    const double u = g.uniform();
    int32_t t = -1;
    double lp = 0;
    fused_head_sample(&t, &lp, xs.data(), w.data(), &u, 1, D, V);
    double lp_row = 0;
    EXPECT_EQ(sample_logits_row(l.data(), V, 1.0f / T, u, &lp_row), t) << u;
    EXPECT_NEAR(lp_row, lp, 1e-5);
  }
}

TEST(FusedSample, SameResultOnOneAndTwoThreads) {
  const int D = 32, V = 5 * kFusedSampleCols + 300, n = 9;
  const auto xd = randn(size_t(n) * D, 91, 2.0), wd = randn(size_t(V) * D, 92, 0.5);
  std::vector<float> x(xd.begin(), xd.end()), w(wd.begin(), wd.end());
  std::vector<double> u(static_cast<size_t>(n));
  Rng g(4);
  for (auto& v : u) v = g.uniform();
  std::vector<int32_t> t1(static_cast<size_t>(n)), t2(static_cast<size_t>(n));
  std::vector<double> l1(static_cast<size_t>(n)), l2(static_cast<size_t>(n));
  const int before = omp_get_max_threads();
  omp_set_num_threads(1);
  fused_head_sample(t1.data(), l1.data(), x.data(), w.data(), u.data(), n, D, V);
  omp_set_num_threads(2);
  fused_head_sample(t2.data(), l2.data(), x.data(), w.data(), u.data(), n, D, V);
  omp_set_num_threads(before);
  EXPECT_EQ(t1, t2);
  EXPECT_EQ(l1, l2);  // bitwise: tiles merge in tile order
}

TEST(FusedSample, NonFiniteLogitsAreAnError) {
  const int D = 8, V = 50;
  std::vector<float> x(size_t(D), 1.0f), w(size_t(V) * D, 0.1f);
  w[size_t(7) * D] = std::nanf("");
  const double u = 0.5;
  int32_t t = 0;
  double lp = 0;
  EXPECT_THROW(fused_head_sample(&t, &lp, x.data(), w.data(), &u, 1, D, V), NumericError);
  std::vector<float> l(size_t(V), 0.0f);
  l[3] = INFINITY;
  EXPECT_THROW(sample_logits_row(l.data(), V, 1.0f, u, &lp), NumericError);
}

}  // namespace
}  // namespace reasonrl::model

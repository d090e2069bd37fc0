// Tests for the log-prob head: agreement with the sampler chain's recorded log-prob, closed forms, entropy, the
// backward pass against finite differences, the out-of-set rule and thread-count independence.
#include "policy/logprob.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

namespace reasonrl::policy {
namespace {

std::vector<float> random_logits(Rng& r, int V, double scale, bool ties) {
  std::vector<float> lg(static_cast<size_t>(V));
  for (auto& x : lg) x = ties ? float(int(r.below(8))) * 0.5f : float(scale * r.normal());
  return lg;
}

TEST(Logprob, ClosedFormSmallCase) {
  // p = {0.1,0.2,0.3,0.4}, T = 0.5 -> {1,4,9,16}/30; top-p 0.8 keeps {2,3} -> {9,16}/25
  const std::vector<float> lg = {std::log(0.1f), std::log(0.2f), std::log(0.3f), std::log(0.4f)};
  const SamplingParams sp{0.5f, 0, 0.8f, 0.0f};
  EXPECT_NEAR(token_logprob(lg.data(), 4, sp, 3), std::log(16.0 / 25.0), 1e-6);
  EXPECT_NEAR(token_logprob(lg.data(), 4, sp, 2), std::log(9.0 / 25.0), 1e-6);
  double h = 0;
  token_logprob(lg.data(), 4, sp, 2, &h);
  EXPECT_NEAR(h, -(0.36 * std::log(0.36) + 0.64 * std::log(0.64)), 1e-6);
  // untruncated, T = 1: plain log-softmax
  EXPECT_NEAR(token_logprob(lg.data(), 4, {1.0f, 0, 1.0f, 0.0f}, 0), std::log(0.1), 1e-6);
  // greedy: a point mass
  EXPECT_EQ(token_logprob(lg.data(), 4, {0.0f, 0, 1.0f, 0.0f}, 3), 0.0);
}

// The trainer's recomputation equals the log-prob the sampler chain recorded when it drew the token.
TEST(Logprob, EqualsSamplerChainRecordedLogprob) {
  Rng r(11);
  const SamplingParams cases[] = {{0.7f, 0, 0.9f, 0.0f},  {1.0f, 0, 1.0f, 0.0f}, {0.7f, 50, 1.0f, 0.0f},
                                  {1.3f, 0, 0.5f, 0.0f},  {0.7f, 0, 1.0f, 0.1f}, {0.6f, 20, 0.9f, 0.05f},
                                  {1.0f, 3, 0.95f, 0.2f}};
  for (const auto& sp : cases) {
    SamplerChain chain = make_sampler_chain(sp);
    Candidates cur;
    for (int trial = 0; trial < 60; ++trial) {
      const int V = trial % 3 == 0 ? 4000 : 1 + int(r.below(300));
      const auto lg = random_logits(r, V, 1.0 + 3.0 * r.uniform(), trial % 5 == 0);
      double lp_chain;
      const int32_t tok = sample_token(chain, cur, lg.data(), V, r, &lp_chain);
      float lp_head;
      const LogprobStats st = sampling_logprob(lg.data(), 1, V, sp, &tok, &lp_head);
      EXPECT_EQ(st.outside_kept_set, 0);
      ASSERT_NEAR(lp_head, lp_chain, 1e-5) << "T=" << sp.temperature << " k=" << sp.top_k << " p=" << sp.top_p
                                           << " minp=" << sp.min_p << " V=" << V;
      // and the chain's kept set is the head's (checked on the smaller rows: V calls each)
      if (V > 300) continue;
      int kept = 0;
      for (int v = 0; v < V; ++v) {
        int32_t t = v;
        float l;
        if (sampling_logprob(lg.data(), 1, V, sp, &t, &l).outside_kept_set == 0) ++kept;
      }
      ASSERT_EQ(kept, int(cur.data.size()));
    }
  }
}

TEST(Logprob, TargetOutsideKeptSetIsAddedAndCounted) {
  const std::vector<float> lg = {0.0f, 1.0f, 5.0f};
  const SamplingParams sp{1.0f, 1, 1.0f, 0.0f};  // top-1 keeps token 2
  int32_t t = 0;
  float lp;
  const auto st = sampling_logprob(lg.data(), 1, 3, sp, &t, &lp);
  EXPECT_EQ(st.outside_kept_set, 1);
  EXPECT_NEAR(lp, 0.0 - std::log(std::exp(0.0) + std::exp(5.0)), 1e-6);
}

TEST(Logprob, BatchedEqualsRowsAndSkipsNegativeTargets) {
  Rng r(3);
  const int N = 37, V = 500;
  std::vector<float> lg;
  std::vector<int32_t> tg;
  for (int i = 0; i < N; ++i) {
    auto row = random_logits(r, V, 2.0, false);
    lg.insert(lg.end(), row.begin(), row.end());
    tg.push_back(i % 7 == 0 ? -1 : int32_t(r.below(V)));
  }
  const SamplingParams sp{0.7f, 0, 0.9f, 0.0f};
  std::vector<float> lp(N), ent(N);
  const auto st = sampling_logprob(lg.data(), N, V, sp, tg.data(), lp.data(), ent.data());
  EXPECT_EQ(st.rows, N - 6);
  for (int i = 0; i < N; ++i) {
    if (tg[size_t(i)] < 0) {
      EXPECT_EQ(lp[size_t(i)], 0.0f);
      continue;
    }
    double h;
    EXPECT_NEAR(lp[size_t(i)], token_logprob(lg.data() + i * V, V, sp, tg[size_t(i)], &h), 1e-5);
    EXPECT_NEAR(ent[size_t(i)], h, 1e-5);
  }
}

TEST(Logprob, SameResultWithOneOrTwoThreads) {
  Rng r(4);
  const int N = 64, V = 2048;
  std::vector<float> lg;
  std::vector<int32_t> tg;
  for (int i = 0; i < N; ++i) {
    auto row = random_logits(r, V, 2.0, false);
    lg.insert(lg.end(), row.begin(), row.end());
    tg.push_back(int32_t(r.below(V)));
  }
  const SamplingParams sp{0.7f, 0, 0.9f, 0.0f};
  std::vector<float> a(N), b(N), ga(size_t(N) * V), gb(size_t(N) * V), d(N, 1.0f);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  sampling_logprob(lg.data(), N, V, sp, tg.data(), a.data());
  sampling_logprob_backward(lg.data(), N, V, sp, tg.data(), d.data(), nullptr, ga.data());
  omp_set_num_threads(2);
  sampling_logprob(lg.data(), N, V, sp, tg.data(), b.data());
  sampling_logprob_backward(lg.data(), N, V, sp, tg.data(), d.data(), nullptr, gb.data());
  omp_set_num_threads(saved);
  EXPECT_EQ(a, b);
  EXPECT_EQ(ga, gb);
}

// Central finite differences of logp and entropy w.r.t. each logit, with the kept set held fixed: the perturbation
// (1e-3) is far smaller than the margin at the truncation boundary in these rows, which we check.
TEST(Logprob, BackwardMatchesFiniteDifferences) {
  Rng r(8);
  const SamplingParams cases[] = {{0.7f, 0, 0.9f, 0.0f}, {1.0f, 0, 1.0f, 0.0f}, {1.4f, 6, 1.0f, 0.0f}, {0.8f, 0, 1.0f, 0.1f}};
  for (const auto& sp : cases) {
    for (int trial = 0; trial < 4; ++trial) {
      const int V = 24;
      auto lg = random_logits(r, V, 2.0, false);
      const int32_t tgt = int32_t(trial == 3 ? 0 : r.below(V));  // trial 3: maybe outside the kept set
      const float dlp = 0.7f, dh = -0.3f;
      std::vector<float> g(V);
      sampling_logprob_backward(lg.data(), 1, V, sp, &tgt, &dlp, &dh, g.data());
      auto objective = [&](const std::vector<float>& x) {
        double h;
        const double l = token_logprob(x.data(), V, sp, tgt, &h);
        return double(dlp) * l + double(dh) * h;
      };
      auto membership = [&](const std::vector<float>& x) {
        std::vector<int> m;
        for (int v = 0; v < V; ++v) {
          int32_t t = v;
          float tmp;
          m.push_back(int(sampling_logprob(x.data(), 1, V, sp, &t, &tmp).outside_kept_set));
        }
        return m;
      };
      const auto m0 = membership(lg);
      const float eps = 1e-3f;
      for (int j = 0; j < V; ++j) {
        auto xp = lg, xm = lg;
        xp[size_t(j)] += eps;
        xm[size_t(j)] -= eps;
        if (membership(xp) != m0 || membership(xm) != m0) continue;  // at a boundary: not differentiable there
        const double fd = (objective(xp) - objective(xm)) / (double(xp[size_t(j)]) - double(xm[size_t(j)]));
        EXPECT_NEAR(g[size_t(j)], fd, 2e-3 * std::max(1.0, std::abs(fd)))
            << "j=" << j << " T=" << sp.temperature << " k=" << sp.top_k << " p=" << sp.top_p;
      }
      // outside the kept set (and not the target) the gradient is exactly zero
      for (int j = 0; j < V; ++j) {
        if (m0[size_t(j)] && j != tgt) {
          EXPECT_EQ(g[size_t(j)], 0.0f);
        }
      }
    }
  }
}

TEST(Logprob, GreedyHasNoGradientAndRejectsBadTargets) {
  std::vector<float> lg = {0, 1, 2}, g(3, 9.0f);
  int32_t t = 2;
  float one = 1;
  sampling_logprob_backward(lg.data(), 1, 3, {0.0f, 0, 1.0f, 0.0f}, &t, &one, nullptr, g.data());
  EXPECT_EQ(g, std::vector<float>(3, 0.0f));
  int32_t bad = 3;
  float lp;
  EXPECT_THROW(sampling_logprob(lg.data(), 1, 3, {}, &bad, &lp), Error);
}

}  // namespace
}  // namespace reasonrl::policy

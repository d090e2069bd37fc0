// Tests for the sampler chain: llama.cpp's test-sampling expectations, ordering and ties, dist frequencies, seeds.
#include "policy/sampling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "rl/util/error.h"

namespace reasonrl::policy {
namespace {

// Runs `chain` (which must not select) + records normalised probabilities sorted by id.
std::vector<float> run_probs(SamplerChain chain, const std::vector<float>& probs) {
  std::vector<float> logits;
  for (float p : probs) logits.push_back(std::log(p));
  Candidates cur;
  cur.init(logits.data(), int(logits.size()));
  Rng rng(1);
  chain.apply(cur, rng);
  double m = -INFINITY, z = 0;
  for (auto& d : cur.data) m = std::max(m, double(d.logit));
  for (auto& d : cur.data) z += std::exp(d.logit - m);
  std::vector<std::pair<int, float>> out;
  for (auto& d : cur.data) out.push_back({d.id, float(std::exp(d.logit - m) / z)});
  std::sort(out.begin(), out.end());
  std::vector<float> r;
  for (auto& [id, p] : out) r.push_back(p);
  return r;
}

void expect_probs(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5) << "index " << i;
}

SamplerChain one(std::unique_ptr<Sampler> s) {
  SamplerChain c;
  c.add(std::move(s));
  return c;
}

// Expected values from llama.cpp tests/test-sampling.cpp (probabilities of the kept set, listed by token id).
TEST(Sampling, TopKMatchesLlamaCpp) {
  const std::vector<float> p = {0.1f, 0.2f, 0.3f, 0.4f};
  expect_probs(run_probs(one(make_top_k(1)), p), {1.0f});
  expect_probs(run_probs(one(make_top_k(3)), p), {0.22222f, 0.33333f, 0.44444f});
  expect_probs(run_probs(one(make_top_k(4)), p), {0.1f, 0.2f, 0.3f, 0.4f});
}

TEST(Sampling, TopPMatchesLlamaCpp) {
  const std::vector<float> p = {0.1f, 0.2f, 0.3f, 0.4f};
  expect_probs(run_probs(one(make_top_p(0.7f)), p), {0.428571f, 0.571429f});
  expect_probs(run_probs(one(make_top_p(0.8f)), p), {0.22222f, 0.33333f, 0.44444f});
  expect_probs(run_probs(one(make_top_p(1.0f)), p), {0.1f, 0.2f, 0.3f, 0.4f});
  expect_probs(run_probs(one(make_top_p(1e-6f)), p), {1.0f});
}

TEST(Sampling, MinPMatchesLlamaCpp) {
  const std::vector<float> p = {0.1f, 0.2f, 0.3f, 0.4f};
  expect_probs(run_probs(one(make_min_p(0.0f)), p), {0.1f, 0.2f, 0.3f, 0.4f});
  expect_probs(run_probs(one(make_min_p(0.24f)), p), {0.1f, 0.2f, 0.3f, 0.4f});
  expect_probs(run_probs(one(make_min_p(0.26f)), p), {0.2f / 0.9f, 0.3f / 0.9f, 0.4f / 0.9f});
  expect_probs(run_probs(one(make_min_p(0.49f)), p), {0.2f / 0.9f, 0.3f / 0.9f, 0.4f / 0.9f});
  expect_probs(run_probs(one(make_min_p(0.51f)), p), {0.3f / 0.7f, 0.4f / 0.7f});
  expect_probs(run_probs(one(make_min_p(0.74f)), p), {0.3f / 0.7f, 0.4f / 0.7f});
  expect_probs(run_probs(one(make_min_p(0.76f)), p), {1.0f});
  expect_probs(run_probs(one(make_min_p(1.0f)), p), {1.0f});
}

TEST(Sampling, TemperatureSharpensAndTopPSeesScaledProbs) {
  // p = {0.1,0.2,0.3,0.4}; at T = 0.5 the probabilities are p^2 / sum p^2 = {1,4,9,16}/30.
  const std::vector<float> p = {0.1f, 0.2f, 0.3f, 0.4f};
  expect_probs(run_probs(one(make_temperature(0.5f)), p), {1 / 30.f, 4 / 30.f, 9 / 30.f, 16 / 30.f});
  // temperature then top-p 0.8: 16/30 = 0.533 < 0.8, + 9/30 = 0.833 >= 0.8 -> keep {2, 3}: {9, 16}/25
  SamplerChain c;
  c.add(make_temperature(0.5f));
  c.add(make_top_p(0.8f));
  expect_probs(run_probs(c, p), {9 / 25.f, 16 / 25.f});
  // the other order (top-p on unscaled probabilities) keeps three: the order matters and is fixed.
  SamplerChain d;
  d.add(make_top_p(0.8f));
  d.add(make_temperature(0.5f));
  EXPECT_EQ(run_probs(d, p).size(), 3u);
}

TEST(Sampling, ChainFromParamsHasCanonicalOrder) {
  EXPECT_EQ(make_sampler_chain({0.7f, 40, 0.9f, 0.05f}).describe(), "temperature -> top_k -> top_p -> min_p -> dist");
  EXPECT_EQ(make_sampler_chain({1.0f, 0, 1.0f, 0.0f}).describe(), "dist");
  EXPECT_EQ(make_sampler_chain({0.0f, 40, 0.9f, 0.0f}).describe(), "greedy");
  EXPECT_THROW(make_sampler_chain({0.7f, 0, 1.5f, 0.0f}), ConfigError);
  EXPECT_THROW(make_sampler_chain({-1.0f, 0, 1.0f, 0.0f}), ConfigError);
  EXPECT_THROW(make_sampler_chain({1.0f, -2, 1.0f, 0.0f}), ConfigError);
}

TEST(Sampling, PartialSortPrefixEqualsFullSortWithTies) {
  Rng r(5);
  for (int trial = 0; trial < 50; ++trial) {
    const int V = 1 + int(r.below(600));
    std::vector<float> lg(static_cast<size_t>(V));
    for (auto& x : lg) x = float(int(r.below(20)));  // many ties
    Candidates a, b;
    a.init(lg.data(), V);
    b.init(lg.data(), V);
    const size_t k1 = r.below(uint64_t(V)) + 1, k2 = std::min<size_t>(size_t(V), k1 + r.below(100));
    a.sort_prefix(k1);
    a.sort_prefix(k2);
    b.sort_prefix(size_t(V));
    ASSERT_TRUE(b.sorted());
    for (size_t i = 0; i < k2; ++i) ASSERT_EQ(a.data[i].id, b.data[i].id) << "V=" << V << " i=" << i;
    for (size_t i = 1; i < size_t(V); ++i)
      ASSERT_TRUE(b.data[i - 1].logit > b.data[i].logit || (b.data[i - 1].logit == b.data[i].logit && b.data[i - 1].id < b.data[i].id));
  }
}

TEST(Sampling, DistFrequenciesFollowTheTruncatedDistribution) {
  // logits for p = {0.05, 0.15, 0.3, 0.5}; top-p 0.75 keeps {3, 2} (0.5 + 0.3 = 0.8 >= 0.75): {0.625, 0.375}.
  const std::vector<float> lg = {std::log(0.05f), std::log(0.15f), std::log(0.3f), std::log(0.5f)};
  SamplerChain c = make_sampler_chain({1.0f, 0, 0.75f, 0.0f});
  Candidates cur;
  Rng rng(123);
  std::map<int, int> count;
  const int n = 40000;
  for (int i = 0; i < n; ++i) {
    double lp;
    const int t = sample_token(c, cur, lg.data(), 4, rng, &lp);
    ++count[t];
    EXPECT_NEAR(lp, t == 3 ? std::log(0.625) : std::log(0.375), 1e-6);
  }
  EXPECT_EQ(count[0] + count[1], 0);
  // binomial sd = sqrt(n p q) = 97; 5 sd
  EXPECT_NEAR(count[3], 0.625 * n, 5 * 97);
}

TEST(Sampling, GreedyPicksArgmaxLowestIdOnTie) {
  const std::vector<float> lg = {1.0f, 3.0f, 3.0f, 2.0f};
  SamplerChain c = make_sampler_chain({0.0f, 0, 1.0f, 0.0f});
  Candidates cur;
  Rng rng(1);
  double lp = -1;
  EXPECT_EQ(sample_token(c, cur, lg.data(), 4, rng, &lp), 1);
  EXPECT_EQ(lp, 0.0);
}

TEST(Sampling, SameSeedSameTokensDifferentSeedDiffers) {
  Rng g(9);
  std::vector<float> lg(1000);
  for (auto& x : lg) x = float(g.normal());
  SamplerChain c = make_sampler_chain({0.8f, 0, 0.95f, 0.0f});
  Candidates cur;
  auto draw = [&](uint64_t seed) {
    Rng r(seed);
    std::vector<int> out;
    for (int i = 0; i < 20; ++i) out.push_back(sample_token(c, cur, lg.data(), 1000, r));
    return out;
  };
  EXPECT_EQ(draw(1), draw(1));
  EXPECT_NE(draw(1), draw(2));
}

TEST(Sampling, ChainCloneRemoveAndOwnership) {
  SamplerChain c = make_sampler_chain({0.7f, 10, 0.9f, 0.0f});
  SamplerChain d = c;  // deep copy
  auto s = d.remove(1);
  EXPECT_STREQ(s->name(), "top_k");
  EXPECT_EQ(d.describe(), "temperature -> top_p -> dist");
  EXPECT_EQ(c.describe(), "temperature -> top_k -> top_p -> dist");
  SamplerChain e;
  e.add(make_top_k(2));
  Candidates cur;
  Rng rng(1);
  std::vector<float> lg = {0, 1, 2};
  EXPECT_THROW(sample_token(e, cur, lg.data(), 3, rng), Error);  // no final sampler
}

}  // namespace
}  // namespace reasonrl::policy

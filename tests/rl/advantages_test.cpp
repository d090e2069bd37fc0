// Tests for the group advantages: loop vs Eigen, zero-variance groups, hand-computed values per mode, KL in reward.
#include "rl/core/advantages.h"

#include <gtest/gtest.h>

#include <cmath>

#include "rl/core/kl.h"
#include "rl/util/error.h"
#include "rl/util/rng.h"

namespace reasonrl::rl {
namespace {

std::vector<RlConfig> all_modes() {
  std::vector<RlConfig> v;
  for (auto sr : {ScaleRewards::Group, ScaleRewards::Batch, ScaleRewards::None}) {
    RlConfig c;
    c.scale_rewards = sr;
    v.push_back(c);
  }
  RlConfig rloo;
  rloo.advantage_estimator = AdvantageEstimator::Rloo;
  v.push_back(rloo);
  RlConfig rpp;
  rpp.advantage_estimator = AdvantageEstimator::ReinforcePp;
  v.push_back(rpp);
  RlConfig kimi;
  kimi.algorithm = Algorithm::Kimi;
  v.push_back(kimi);
  return v;
}

std::string mode_name(const RlConfig& c) {
  return std::string(enum_to_string(c.algorithm)) + "/" + enum_to_string(c.advantage_estimator) + "/" + enum_to_string(c.scale_rewards);
}

// Rewards: binary, continuous, and some zero-variance groups (all 1, all 0, all 0.1 which is not exact in binary).
std::vector<double> random_rewards(Rng& rng, std::span<const int> sizes) {
  std::vector<double> r;
  for (size_t g = 0; g < sizes.size(); ++g) {
    for (int i = 0; i < sizes[g]; ++i) {
      switch (g % 5) {
        case 0: r.push_back(rng.below(2) ? 1.0 : 0.0); break;
        case 1: r.push_back(rng.normal()); break;
        case 2: r.push_back(1.0); break;
        case 3: r.push_back(0.1); break;
        default: r.push_back(rng.uniform() < 0.3 ? 1.0 : -0.5 * rng.uniform()); break;
      }
    }
  }
  return r;
}

TEST(Advantages, LoopEqualsVectorisedUniformGroups) {
  Rng rng(7);
  const std::vector<int> sizes = uniform_group_sizes(13, 8);
  const std::vector<double> r = random_rewards(rng, sizes);
  for (const RlConfig& c : all_modes()) {
    const auto a = compute_advantages_loop(c, r, sizes);
    const auto b = compute_advantages(c, r, sizes);
    ASSERT_EQ(a.size(), b.size());
    double max_abs = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_NEAR(a[i], b[i], 1e-12 * (1 + std::abs(a[i]))) << mode_name(c) << " index " << i;
      max_abs = std::max(max_abs, std::abs(a[i]));
    }
    EXPECT_GT(max_abs, 0.1) << mode_name(c) << ": the comparison must not be between zeros";
  }
}

TEST(Advantages, LoopEqualsVectorisedRaggedGroups) {
  Rng rng(11);
  const std::vector<int> sizes = {3, 8, 1, 5, 2, 8, 7, 4, 6, 2};
  const std::vector<double> r = random_rewards(rng, sizes);
  for (const RlConfig& c : all_modes()) {
    const auto a = compute_advantages_loop(c, r, sizes);
    const auto b = compute_advantages(c, r, sizes);
    ASSERT_EQ(a.size(), r.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-12 * (1 + std::abs(a[i]))) << mode_name(c) << " index " << i;
  }
}

TEST(Advantages, ZeroVarianceGroupGetsExactlyZero) {
  // Groups: all correct, all wrong, all 0.1 (sum/4 != 0.1 in binary), a single response, then one informative group.
  const std::vector<double> r = {1, 1, 1, 1, 0, 0, 0, 0, 0.1, 0.1, 0.1, 0.1, 0.7, 1, 0, 0, 0};
  const std::vector<int> sizes = {4, 4, 4, 1, 4};
  for (const RlConfig& c : all_modes()) {
    for (const auto& a : {compute_advantages_loop(c, r, sizes), compute_advantages(c, r, sizes)}) {
      for (int i = 0; i < 13; ++i) EXPECT_EQ(a[i], 0.0) << mode_name(c) << " index " << i;
      EXPECT_NE(a[13], 0.0) << mode_name(c);
    }
  }
  // Equal-size groups take the vectorised matrix path: same rule there.
  const std::vector<double> u = {1, 1, 1, 1, 0.1, 0.1, 0.1, 0.1, 0.7, 1, 0, 0};
  const std::vector<int> us = uniform_group_sizes(3, 4);
  for (const RlConfig& c : all_modes()) {
    for (const auto& a : {compute_advantages_loop(c, u, us), compute_advantages(c, u, us)}) {
      for (int i = 0; i < 8; ++i) EXPECT_EQ(a[i], 0.0) << mode_name(c) << " index " << i;
      EXPECT_NE(a[8], 0.0) << mode_name(c);
    }
  }
}

TEST(Advantages, HandComputedValues) {
  // One group r = [1, 0, 0, 0]: mean 0.25; deviations [0.75, -0.25, -0.25, -0.25];
  // unbiased std = sqrt((0.5625 + 3 * 0.0625) / 3) = sqrt(0.25) = 0.5.
  const std::vector<double> r = {1, 0, 0, 0};
  const std::vector<int> g = {4};
  RlConfig grpo;  // scale_rewards group, eps 1e-4: 0.75 / 0.5001 and -0.25 / 0.5001
  auto a = compute_advantages(grpo, r, g);
  EXPECT_NEAR(a[0], 0.75 / 0.5001, 1e-12);
  EXPECT_NEAR(a[1], -0.25 / 0.5001, 1e-12);
  RlConfig dr;  // Dr.GRPO: no std
  dr.scale_rewards = ScaleRewards::None;
  a = compute_advantages(dr, r, g);
  EXPECT_DOUBLE_EQ(a[0], 0.75);
  EXPECT_DOUBLE_EQ(a[3], -0.25);
  RlConfig rloo;  // leave-one-out: 1 - mean(0,0,0) = 1; 0 - mean(1,0,0) = -1/3
  rloo.advantage_estimator = AdvantageEstimator::Rloo;
  a = compute_advantages(rloo, r, g);
  EXPECT_NEAR(a[0], 1.0, 1e-15);
  EXPECT_NEAR(a[1], -1.0 / 3.0, 1e-15);
  RlConfig kimi;  // mean-reward baseline, never scaled
  kimi.algorithm = Algorithm::Kimi;
  a = compute_advantages(kimi, r, g);
  EXPECT_DOUBLE_EQ(a[0], 0.75);
  EXPECT_DOUBLE_EQ(a[1], -0.25);
}

TEST(Advantages, BatchScaleUsesTheStdOfAllRewards) {
  // Groups [1, 0] and [2, 0]; centred: [0.5, -0.5], [1, -1]. All rewards {1, 0, 2, 0}: mean 0.75,
  // unbiased var = (0.0625 + 0.5625 + 1.5625 + 0.5625) / 3 = 2.75 / 3.
  const std::vector<double> r = {1, 0, 2, 0};
  const std::vector<int> g = {2, 2};
  RlConfig c;
  c.scale_rewards = ScaleRewards::Batch;
  const double sd = std::sqrt(2.75 / 3.0) + 1e-4;
  const auto a = compute_advantages(c, r, g);
  const auto b = compute_advantages_loop(c, r, g);
  const double want[] = {0.5 / sd, -0.5 / sd, 1.0 / sd, -1.0 / sd};
  for (int i = 0; i < 4; ++i) {
    EXPECT_NEAR(a[i], want[i], 1e-12);
    EXPECT_NEAR(b[i], want[i], 1e-12);
  }
}

TEST(Advantages, ReinforcePpIsWhitenedOverTheBatch) {
  Rng rng(3);
  const std::vector<int> sizes = uniform_group_sizes(6, 4);
  std::vector<double> r;
  for (int i = 0; i < 24; ++i) r.push_back(rng.normal() + (i / 4));  // group offsets are removed by the baseline
  RlConfig c;
  c.advantage_estimator = AdvantageEstimator::ReinforcePp;
  c.adv_std_eps = 0;
  const auto a = compute_advantages(c, r, sizes);
  double m = 0, ss = 0;
  for (double x : a) m += x;
  m /= 24;
  for (double x : a) ss += (x - m) * (x - m);
  EXPECT_NEAR(m, 0.0, 1e-12);
  EXPECT_NEAR(std::sqrt(ss / 23), 1.0, 1e-12);
  // Ordering inside a group is that of the centred rewards.
  EXPECT_EQ(a[0] > a[1], r[0] > r[1]);
}

TEST(Advantages, BadGroupSizesAreFormatErrors) {
  RlConfig c;
  const std::vector<double> r = {1, 0, 1};
  EXPECT_THROW(compute_advantages(c, r, std::vector<int>{2, 2}), FormatError);
  EXPECT_THROW(compute_advantages_loop(c, r, std::vector<int>{3, 0}), FormatError);
  const std::vector<double> bad = {1, NAN};
  EXPECT_THROW(compute_advantages(c, bad, std::vector<int>{2}), NumericError);
}

TEST(Advantages, BroadcastToTokens) {
  const std::vector<double> a = {0.5, -1.0, 2.0};
  const std::vector<int64_t> off = {0, 2, 2, 5};
  const auto t = broadcast_to_tokens(a, off);
  EXPECT_EQ(t, (std::vector<float>{0.5f, 0.5f, 2.0f, 2.0f, 2.0f}));
  EXPECT_THROW(broadcast_to_tokens(a, std::vector<int64_t>{0, 1}), FormatError);
}

TEST(Advantages, KlInRewardSubtractsBetaTimesSequenceKl) {
  // Sequence 0: tokens (logp_old, ref) = (-1, -1.5), (-2, -2) with mask 1, 1: k1 = 0.5 + 0 = 0.5.
  // Sequence 1: (-0.5, -0.25) masked out, (-1, -0.5): k1 = -0.5.  beta = 0.1.
  RlConfig c;
  c.beta = 0.1;
  c.kl_mode = KlMode::Reward;
  c.kl_estimator = KlEstimator::K1;
  const std::vector<double> r = {1.0, 0.0};
  const std::vector<float> old = {-1, -2, -0.5, -1}, ref = {-1.5, -2, -0.25, -0.5}, mask = {1, 1, 0, 1};
  const std::vector<int64_t> off = {0, 2, 4};
  auto p = kl_penalized_rewards(c, r, old, ref, mask, off);
  EXPECT_NEAR(p[0], 1.0 - 0.1 * 0.5, 1e-7);
  EXPECT_NEAR(p[1], 0.0 + 0.1 * 0.5, 1e-7);
  // k3 of d = 0.5: exp(-0.5) + 0.5 - 1 = 0.10653066; of d = -0.5: exp(0.5) - 0.5 - 1 = 0.14872127.
  c.kl_estimator = KlEstimator::K3;
  p = kl_penalized_rewards(c, r, old, ref, mask, off);
  EXPECT_NEAR(p[0], 1.0 - 0.1 * 0.10653066, 1e-7);
  EXPECT_NEAR(p[1], 0.0 - 0.1 * 0.14872127, 1e-7);
  c.kl_mode = KlMode::Loss;  // not in the reward: unchanged
  p = kl_penalized_rewards(c, r, old, ref, mask, off);
  EXPECT_EQ(p, r);
}

TEST(Advantages, ReinforcePpTokenReturnsSubtractKlTail) {
  // One group of two sequences, rewards [1, 0] -> baseline-subtracted [0.5, -0.5]. beta = 1, k1 values given.
  // Seq 0 tokens kl = [0.1, 0.2, 0.3]: a = 0.5 - [0.6, 0.5, 0.3] = [-0.1, 0.0, 0.2]
  // Seq 1 tokens kl = [0.4 (masked), 0.1]: a = [masked, -0.5 - 0.1] = [-, -0.6]
  // unmasked a = {-0.1, 0, 0.2, -0.6}: mean -0.125; deviations {0.025, 0.125, 0.325, -0.475};
  // unbiased var = (0.000625 + 0.015625 + 0.105625 + 0.225625) / 3 = 0.1158333; std = 0.34034296.
  RlConfig c;
  c.beta = 1.0;
  c.kl_mode = KlMode::Reward;
  c.adv_std_eps = 0;
  const std::vector<double> r = {1, 0};
  const std::vector<float> kl = {0.1f, 0.2f, 0.3f, 0.4f, 0.1f}, mask = {1, 1, 1, 0, 1};
  const std::vector<int64_t> off = {0, 3, 5};
  const auto a = reinforce_pp_token_advantages(c, r, std::vector<int>{2}, kl, mask, off);
  const double sd = 0.34034296;
  EXPECT_NEAR(a[0], 0.025 / sd, 1e-5);
  EXPECT_NEAR(a[1], 0.125 / sd, 1e-5);
  EXPECT_NEAR(a[2], 0.325 / sd, 1e-5);
  EXPECT_EQ(a[3], 0.0f);
  EXPECT_NEAR(a[4], -0.475 / sd, 1e-5);
}

// rewards.on_error skip_sample: a left-out sample gets 0 and its group is normalised without it (hand-computed);
// with every sample kept the result is compute_advantages' bit for bit.
TEST(Advantages, SkippingLeavesSamplesOutOfTheirGroup) {
  RlConfig c;
  const std::vector<double> r = {1, 0, 1, 7, 0.5, 0.5, 3, 9};
  const std::vector<int> sizes = {4, 4};
  std::vector<char> keep = {1, 1, 1, 0, 1, 1, 0, 0};  // group 0 without its 7; group 1 without 3 and 9: zero variance
  const auto a = compute_advantages_skipping(c, r, sizes, keep);
  ASSERT_EQ(a.size(), 8u);
  const double sd = std::sqrt(1.0 / 3.0);  // of (1, 0, 1): mean 2/3, unbiased variance (1/9 + 4/9 + 1/9) / 2
  EXPECT_NEAR(a[0], (1.0 / 3.0) / (sd + c.adv_std_eps), 1e-12);
  EXPECT_NEAR(a[1], (-2.0 / 3.0) / (sd + c.adv_std_eps), 1e-12);
  EXPECT_NEAR(a[2], a[0], 1e-15);
  for (int i : {3, 4, 5, 6, 7}) EXPECT_EQ(a[size_t(i)], 0.0) << i;
  // a left-out reward is never read: NaN there is fine
  std::vector<double> rn = r;
  rn[3] = std::nan("");
  EXPECT_EQ(compute_advantages_skipping(c, rn, sizes, keep), a);
  // a whole group left out drops; batch statistics see kept samples only
  c.scale_rewards = ScaleRewards::Batch;
  keep = {1, 1, 1, 1, 0, 0, 0, 0};
  const auto b = compute_advantages_skipping(c, r, sizes, keep);
  const std::vector<double> first(r.begin(), r.begin() + 4);
  const auto ref = compute_advantages(c, first, std::vector<int>{4});
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(b[i], ref[i]);
  for (size_t i = 4; i < 8; ++i) EXPECT_EQ(b[i], 0.0);
  keep.assign(8, 1);
  EXPECT_EQ(compute_advantages_skipping(c, r, sizes, keep), compute_advantages(c, r, sizes));
  EXPECT_THROW(compute_advantages_skipping(c, r, sizes, std::vector<char>(3, 1)), FormatError);
}

}  // namespace
}  // namespace reasonrl::rl

// Tests for the metric helpers: percentile (numpy's linear rule), reward and length stats, masked means.
#include "rl/core/rl_metrics.h"

#include <gtest/gtest.h>

#include <cmath>

#include "rl/util/error.h"

namespace reasonrl::rl {
namespace {

TEST(RlMetrics, PercentileFollowsNumpyLinearInterpolation) {
  // numpy.percentile([1..10], 90) = 9.1; ([3, 1, 2], 50) = 2; ([1, 2], 25) = 1.25.
  const std::vector<double> a = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_NEAR(percentile(a, 90), 9.1, 1e-12);
  EXPECT_DOUBLE_EQ(percentile(std::vector<double>{3, 1, 2}, 50), 2.0);
  EXPECT_DOUBLE_EQ(percentile(std::vector<double>{1, 2}, 25), 1.25);
  EXPECT_DOUBLE_EQ(percentile(a, 100), 10.0);
  EXPECT_DOUBLE_EQ(percentile(std::vector<double>{}, 50), 0.0);
  EXPECT_THROW(percentile(a, 101), ConfigError);
}

TEST(RlMetrics, RewardAndLengthStats) {
  const std::vector<double> r = {1, 0, 0.5, 1};
  const RewardStats s = reward_stats(r, 1.0);
  EXPECT_DOUBLE_EQ(s.mean, 0.625);
  EXPECT_DOUBLE_EQ(s.pass_rate, 0.5);
  EXPECT_NEAR(s.std, std::sqrt((0.140625 + 0.390625 + 0.015625 + 0.140625) / 4), 1e-12);
  EXPECT_EQ(s.min, 0);
  EXPECT_EQ(s.max, 1);
  const std::vector<int64_t> len = {10, 20, 30, 40, 64};
  const LengthStats l = length_stats(len, 64);
  EXPECT_DOUBLE_EQ(l.mean, 32.8);
  EXPECT_NEAR(l.p90, 40 + 0.6 * 24, 1e-12);  // position 0.9 * 4 = 3.6
  EXPECT_DOUBLE_EQ(l.clipped_frac, 0.2);
  EXPECT_DOUBLE_EQ(std_of(r, true), std::sqrt(0.6875 / 3));
}

TEST(RlMetrics, MaskedMeanAndZeroStdFraction) {
  const std::vector<float> ent = {1.0f, 2.0f, 100.0f, 3.0f}, mask = {1, 1, 0, 1};
  EXPECT_DOUBLE_EQ(masked_mean(ent, mask), 2.0);
  EXPECT_DOUBLE_EQ(masked_mean(ent, {}), 26.5);
  EXPECT_THROW(masked_mean(ent, std::vector<float>{1}), FormatError);
  EXPECT_DOUBLE_EQ(frac_zero_std_groups(std::vector<double>{1, 1, 0, 1, 0, 0}, std::vector<int>{2, 2, 2}, 1e-6), 2.0 / 3.0);
}

}  // namespace
}  // namespace reasonrl::rl

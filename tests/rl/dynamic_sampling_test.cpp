// Tests for DAPO dynamic sampling: which groups are kept (binary and continuous rewards), resampling bookkeeping.
#include "rl/core/dynamic_sampling.h"

#include <gtest/gtest.h>

namespace reasonrl::rl {
namespace {

TEST(DynamicSampling, KeepsOnlyGroupsWithVariance) {
  RlConfig c;
  c.dynamic_sampling = true;
  // all correct | all wrong | mixed | continuous but constant (OpenRLHF #1270: a mean-in-(0,1) filter keeps it)
  // | continuous, varied by less than eps | continuous, varied
  const std::vector<double> r = {1, 1, 1, 0, 0, 0, 1, 0, 0, 0.5, 0.5, 0.5, 0.3, 0.3 + 1e-9, 0.3, 0.2, 0.4, 0.3};
  const auto keep = groups_to_keep(c, r, std::vector<int>{3, 3, 3, 3, 3, 3});
  EXPECT_EQ(keep, (std::vector<bool>{false, false, true, false, false, true}));
  c.dynamic_sampling = false;
  EXPECT_EQ(groups_to_keep(c, r, std::vector<int>{3, 3, 3, 3, 3, 3}), std::vector<bool>(6, true));
}

TEST(DynamicSampling, ResamplesUntilTheTargetOrTheRoundLimit) {
  RlConfig c;
  c.dynamic_sampling = true;
  c.max_num_gen_batches = 3;
  DynamicSampler ds(c, 3);
  EXPECT_FALSE(ds.done());
  // Round 1: groups [1,1] [1,0] [0,0] -> keep group 1.
  EXPECT_EQ(ds.add_round(std::vector<double>{1, 1, 1, 0, 0, 0}, std::vector<int>{2, 2, 2}), (std::vector<int>{1}));
  EXPECT_FALSE(ds.done());
  EXPECT_EQ(ds.groups_needed(), 2);
  // Round 2: [0,1] [1,0] [0,1] -> only two are still needed; the third is surplus.
  EXPECT_EQ(ds.add_round(std::vector<double>{0, 1, 1, 0, 0, 1}, std::vector<int>{2, 2, 2}), (std::vector<int>{0, 1}));
  EXPECT_TRUE(ds.done());
  EXPECT_TRUE(ds.target_reached());
  EXPECT_EQ(ds.rounds(), 2);
  EXPECT_EQ(ds.kept(), 3);
  EXPECT_EQ(ds.dropped(), 2);
  EXPECT_EQ(ds.surplus(), 1);
  EXPECT_NEAR(ds.frac_zero_std(), 2.0 / 6.0, 1e-12);
  EXPECT_THROW(ds.add_round(std::vector<double>{0, 1}, std::vector<int>{2}), Error);
}

TEST(DynamicSampling, RoundLimitEndsTheStepWithWhatItHas) {
  RlConfig c;
  c.dynamic_sampling = true;
  c.max_num_gen_batches = 2;
  DynamicSampler ds(c, 4);
  ds.add_round(std::vector<double>{1, 1, 0, 1}, std::vector<int>{2, 2});
  EXPECT_FALSE(ds.done());
  ds.add_round(std::vector<double>{0, 0, 0, 0}, std::vector<int>{2, 2});
  EXPECT_TRUE(ds.done());
  EXPECT_FALSE(ds.target_reached());
  EXPECT_EQ(ds.kept(), 1);
  // State round trip for resume in the middle of a step.
  DynamicSampler other(c, 1);
  other.from_json(ds.to_json());
  EXPECT_EQ(other.to_json().dump(), ds.to_json().dump());
  EXPECT_TRUE(other.done());
  EXPECT_THROW(other.from_json(json{{"version", 2}}), FormatError);
}

TEST(DynamicSampling, DisabledKeepsEverythingInOneRound) {
  RlConfig c;
  DynamicSampler ds(c, 2);
  EXPECT_EQ(ds.add_round(std::vector<double>{1, 1, 0, 0, 1, 0}, std::vector<int>{2, 2, 2}), (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(ds.done());
}

}  // namespace
}  // namespace reasonrl::rl

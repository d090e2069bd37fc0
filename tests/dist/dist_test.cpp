// dist_test.cpp: the one-process fallback of rl/dist: rank 0 of 1, collectives are the identity, sharding keeps every
// group, and the sample-row bytes rank 0 gathers round-trip.
#include <gtest/gtest.h>

#include "rl/dist/dist.h"
#include "rl/dist/shard.h"
#include "rl/util/error.h"

namespace reasonrl::dist {
namespace {

TEST(DistSingle, RankZeroOfOneAndIdentityCollectives) {
  Dist& d = dist();
  EXPECT_EQ(d.rank, 0);
  EXPECT_EQ(d.size, 1);
  float f[2] = {1.5f, -2};
  d.allreduce_sum(f, 2);
  EXPECT_EQ(f[0], 1.5f);
  EXPECT_EQ(f[1], -2.0f);
  double x = 3;
  d.allreduce_max(&x, 1);
  EXPECT_EQ(x, 3.0);
  EXPECT_EQ(d.gather("abc"), std::vector<std::string>{"abc"});
  EXPECT_EQ(d.allgather("xy"), std::vector<std::string>{"xy"});
  d.barrier();
}

TEST(DistSingle, ShardKeepsEveryGroupInOrder) {
  EXPECT_EQ(shard({4, 1, 9}), (std::vector<int>{4, 1, 9}));
  std::vector<int> pids = {4, 1}, ncs = {2, 0};
  std::vector<double> r = {1, 0, 0, 0};
  allgather_round(pids, ncs, r, 2);
  EXPECT_EQ(pids, (std::vector<int>{4, 1}));
  EXPECT_EQ(r, (std::vector<double>{1, 0, 0, 0}));
}

TEST(DistSingle, PositionsArePlacedAndSelected) {
  const std::vector<int> pos = {2, 0, 1};
  const std::vector<double> vals = {20, 21, 0, 1, 10, 11};
  const auto all = allgather_positions(pos, vals, 2);
  EXPECT_EQ(all, (std::vector<double>{0, 1, 10, 11, 20, 21}));
  EXPECT_EQ(select_positions(all, {1, 2}, 2), (std::vector<double>{10, 11, 20, 21}));
  EXPECT_THROW(allgather_positions(pos, {1, 2}, 2), Error);
}

TEST(DistSingle, SampleRowsRoundTrip) {
  store::SampleRecord s;
  s.step = 7;
  s.prompt_id = 42;
  s.group_id = 3;
  s.group_index = 1;
  s.text = std::string("the answer is \"5\"\n\xff\xfe");  // raw bytes: not valid UTF-8
  s.n_tokens = 9;
  s.finish_reason = "stop";
  s.reward_components = {{"accuracy", 1.0}, {"format", std::nullopt}, {"tidy", std::nullopt}};
  s.reward_errors = {{"tidy", "plugin 'tidy': timed out after 5 s"}};  // failed, distinct from format's n/a
  s.reward = 1.25;
  s.correct = true;
  s.advantage = -0.125;
  s.policy_version_min = 5;
  s.policy_version_max = 6;
  s.segments = {{5, 3}, {6, 6}};
  const auto back = samples_from_bytes(samples_to_bytes({s}));
  ASSERT_EQ(back.size(), 1u);
  const auto& b = back[0];
  EXPECT_EQ(b.step, 7);
  EXPECT_EQ(b.prompt_id, 42);
  EXPECT_EQ(b.group_id, 3);
  EXPECT_EQ(b.group_index, 1);
  EXPECT_EQ(b.text, s.text);
  EXPECT_EQ(b.n_tokens, 9);
  EXPECT_EQ(b.finish_reason, "stop");
  EXPECT_EQ(b.reward_components, s.reward_components);
  EXPECT_EQ(b.reward_errors, s.reward_errors);
  EXPECT_EQ(b.reward, 1.25);
  EXPECT_TRUE(b.correct);
  EXPECT_EQ(b.advantage, -0.125);
  EXPECT_EQ(b.policy_version_min, 5);
  EXPECT_EQ(b.policy_version_max, 6);
  ASSERT_EQ(b.segments.size(), 2u);
  EXPECT_EQ(b.segments[1].policy_version, 6);
  EXPECT_EQ(b.segments[1].n_tokens, 6);
  EXPECT_THROW(samples_from_bytes(R"({"format":"x","version":1,"rows":[]})"), FormatError);
  const std::string bytes = samples_to_bytes({s});
  EXPECT_THROW(samples_from_bytes(bytes.substr(0, bytes.size() - 3)), FormatError);
}

}  // namespace
}  // namespace reasonrl::dist

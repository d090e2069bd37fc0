// Tests for the replay buffer's JSON form: round trip (rng state, saved caches and routes included), older versions
// (without caches, without routes) still load, version and shape errors.
#include "policy/replay_buffer.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "rl/util/error.h"

namespace reasonrl::policy {
namespace {

ReplayBuffer sample_buffer() {
  ReplayBuffer b;
  RolloutGroup g;
  g.prompt_id = 42;
  g.prompt = {1, 2, 3};
  g.created_version = 3;
  for (int k = 0; k < 2; ++k) {
    Trajectory t;
    t.prompt_id = 42;
    t.group_index = k;
    t.prompt = g.prompt;
    t.tokens = {5, 6, int32_t(7 + k)};
    t.logp = {-0.1f, -2.25f, -1e-7f};
    t.versions = {3, 3, 4};
    t.segments = {{0, 2, 3}, {2, 3, 4}};
    t.finished = k == 0;
    t.finish = k == 0 ? FinishReason::Stop : FinishReason::Partial;
    t.start_version = 3;
    t.rng.reseed(99 + uint64_t(k));
    t.rng.next_u64();
    g.members.push_back(t);
  }
  b.groups().push_back(g);
  return b;
}

TEST(ReplayBuffer, JsonRoundTripIsExact) {
  const ReplayBuffer a = sample_buffer();
  const std::string path = std::string(REASONRL_BINARY_DIR) + "/replay_buffer_test.json";
  a.save(path);
  ReplayBuffer b;
  b.load(path);
  std::remove(path.c_str());
  EXPECT_EQ(b.to_json().dump(), a.to_json().dump());
  ASSERT_EQ(b.num_groups(), 1u);
  EXPECT_EQ(b.num_unfinished(), 1u);
  EXPECT_EQ(b.num_buffered_tokens(), 6);
  const auto& t = b.groups()[0].members[1];
  EXPECT_EQ(t.prompt, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(t.logp, a.groups()[0].members[1].logp);  // floats survive the text form
  Rng x = a.groups()[0].members[1].rng, y = t.rng;
  EXPECT_EQ(x.next_u64(), y.next_u64());  // the sampling stream continues where it was
}

TEST(ReplayBuffer, SavedCacheRoundTripsAndVersionOneStillLoads) {
  ReplayBuffer a = sample_buffer();
  a.groups()[0].members[1].kv = {0.1f, -2.5e-8f, 3.0f, 1e30f};  // a saved decoder state (partial_rollout_kv = reuse)
  ReplayBuffer b;
  b.from_json(json::parse(a.to_json().dump()));
  EXPECT_EQ(b.groups()[0].members[1].kv, a.groups()[0].members[1].kv);  // bit-exact through the text form
  EXPECT_TRUE(b.groups()[0].members[0].kv.empty());
  json v1 = sample_buffer().to_json();  // version 1 had no saved caches: same fields otherwise
  v1["version"] = 1;
  ReplayBuffer c;
  c.from_json(v1);
  EXPECT_EQ(c.num_unfinished(), 1u);
}

TEST(ReplayBuffer, RoutesRoundTripAndVersionTwoStillLoads) {
  ReplayBuffer a = sample_buffer();
  Trajectory& t = a.groups()[0].members[1];
  t.route_width = 4;  // router replay: 2 MoE layers x top-2, per token; the first token's row was not recorded
  t.routes = {-1, -1, -1, -1, 0, 7, 3, 1, 1023, 2, 5, 6};
  ReplayBuffer b;
  b.from_json(json::parse(a.to_json().dump()));
  EXPECT_EQ(b.groups()[0].members[1].route_width, 4);
  EXPECT_EQ(b.groups()[0].members[1].routes, t.routes);
  EXPECT_EQ(b.groups()[0].members[0].route_width, 0);
  EXPECT_TRUE(b.groups()[0].members[0].routes.empty());
  json j = a.to_json();
  j["groups"][0]["members"][1]["routes"].push_back(3);  // not tokens x route_width
  EXPECT_THROW(b.from_json(j), FormatError);
  json v2 = sample_buffer().to_json();  // a checkpoint written before routes were kept
  v2["version"] = 2;
  ReplayBuffer c;
  c.from_json(v2);
  EXPECT_EQ(c.groups()[0].members[1].route_width, 0);
  EXPECT_EQ(c.num_unfinished(), 1u);
}

TEST(ReplayBuffer, RejectsWrongFormatVersionAndShapes) {
  ReplayBuffer b;
  json j = sample_buffer().to_json();
  j["version"] = 99;
  EXPECT_THROW(b.from_json(j), FormatError);
  j = sample_buffer().to_json();
  j["format"] = "something";
  EXPECT_THROW(b.from_json(j), FormatError);
  j = sample_buffer().to_json();
  j["groups"][0]["members"][0]["logp"].push_back(0.5);
  EXPECT_THROW(b.from_json(j), FormatError);
  j = sample_buffer().to_json();
  j["groups"][0]["members"][0]["finish"] = "exploded";
  EXPECT_THROW(b.from_json(j), Error);
  j = sample_buffer().to_json();
  j["groups"][0]["members"][0].erase("rng");
  EXPECT_THROW(b.from_json(j), FormatError);
  EXPECT_THROW(b.load("/nonexistent/buffer.json"), IoError);
}

}  // namespace
}  // namespace reasonrl::policy

// Router replay in the trainer, through whole tiny runs (SFT, then RL from it) with partial rollouts, so that the
// segments of a trajectory come from several policy versions and the trainer's router disagrees with the rollout's:
//  - rl.router_replay = rollout gives moe/route_mismatch exactly 0 on every step (the forward dispatched the rollout's
//    experts), while the router's own choice (moe/route_mismatch_own) does differ; with none the mismatch is > 0;
//  - replay changes the update (it is not a no-op), and a run stopped and resumed gives the same weights and metrics
//    as a straight one (the routes of cut trajectories are in the checkpoint's replay buffer);
//  - the expert-change probe does not change training (weights bit-identical with it off), and reports a rate in
//    (0, 1] at a learning rate that moves the router;
//  - router replay with a dense model is an error naming the key.
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "model/model.h"
#include "rl/train/run_dir.h"
#include "rl/train/sft.h"
#include "rl/train/trainer.h"
#include "rl/util/error.h"
#include "tests/train/train_test_util.h"

namespace reasonrl::train {
namespace {

using testing::read_metrics;
using testing::scratch_dir;

class RouterReplayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sft_ckpt_ = run_sft(testing::tiny_sft_config(scratch_dir("replay_sft_" + std::to_string(::getpid())), 12)).checkpoint;
  }
  // Partial rollouts (a token budget of about half a step's, twice the step's groups in flight, every segment in the
  // loss) at a learning rate that moves the routers between calls; `partial` false: plain rollouts.
  static TrainConfig config(const std::string& name, rl::RouterReplay replay, bool partial = true) {
    TrainConfig c = testing::tiny_train_config(scratch_dir("replay_" + name), sft_ckpt_, 4);
    c.rollout.partial_rollout = partial;
    c.rollout.partial_rollout_budget = 150;
    c.partial_rollout_groups = 2 * c.prompts_per_step;  // groups in flight across updates: older segments
    c.rollout.loss_segments = policy::LossSegments::All;
    c.rollout.max_staleness = -1;
    c.optim.learning_rate = 1e-2;
    c.rl.router_replay = replay;
    return c;
  }
  static std::string sft_ckpt_;
};
std::string RouterReplayTest::sft_ckpt_;

size_t n_differ(const model::Model& a, const model::Model& b) {
  size_t d = 0;
  for (size_t i = 0; i < a.params().size(); ++i) d += a.params()[i] != b.params()[i];
  return d;
}

TEST_F(RouterReplayTest, ReplayGivesRouteMismatchExactlyZeroAndResumesExactly) {
  TrainConfig none = config("none", rl::RouterReplay::None), replay = config("rollout", rl::RouterReplay::Rollout);
  run_train(none, false);
  run_train(replay, false);
  const auto mn = read_metrics(none.run_dir + "/metrics.jsonl"), mr = read_metrics(replay.run_dir + "/metrics.jsonl");
  ASSERT_EQ(mr.size(), 4u);
  double none_mismatch = 0, own_mismatch = 0;
  for (const auto& [step, row] : mr) {
    ASSERT_TRUE(row.count("moe/route_mismatch")) << "step " << step;
    EXPECT_EQ(row.at("moe/route_mismatch"), 0.0) << "step " << step;
    own_mismatch += row.at("moe/route_mismatch_own");
    none_mismatch += mn.at(step).at("moe/route_mismatch");
    EXPECT_EQ(mn.at(step).at("moe/route_mismatch"), mn.at(step).at("moe/route_mismatch_own"));  // nothing forced
  }
  EXPECT_GT(own_mismatch, 0.0) << "the router never disagreed with the rollout: replay would change nothing";
  EXPECT_GT(none_mismatch, 0.0);
  auto wn = model::load_model(checkpoint_dir(none.run_dir, 4)), wr = model::load_model(checkpoint_dir(replay.run_dir, 4));
  EXPECT_GT(n_differ(*wn, *wr), 0u) << "replay did not change the update";

  // stopped after step 3 (checkpoint at 2, cut trajectories with their routes in its buffer), resumed: the same run
  TrainConfig r2 = config("rollout_resumed", rl::RouterReplay::Rollout);
  r2.stop_after = 3;
  ASSERT_TRUE(run_train(r2, false).interrupted);
  r2.stop_after = 0;
  run_train(r2, true);
  EXPECT_EQ(n_differ(*wr, *model::load_model(checkpoint_dir(r2.run_dir, 4))), 0u);
  const auto m2 = read_metrics(r2.run_dir + "/metrics.jsonl");
  ASSERT_EQ(m2.size(), mr.size());
  for (const auto& [step, row] : mr)
    for (const auto& [k, v] : row)  // every metric, the routing ones included (a step without samples has fewer)
      EXPECT_EQ(v, m2.at(step).at(k)) << "step " << step << " " << k;
}

TEST_F(RouterReplayTest, ExpertChangeProbeReportsWithoutChangingTraining) {
  TrainConfig on = config("probe_on", rl::RouterReplay::None, false), off = config("probe_off", rl::RouterReplay::None, false);
  on.steps = off.steps = 2;
  ASSERT_GT(on.expert_change_probe, 0);  // on by default
  off.expert_change_probe = 0;
  run_train(on, false);
  run_train(off, false);
  EXPECT_EQ(n_differ(*model::load_model(checkpoint_dir(on.run_dir, 2)), *model::load_model(checkpoint_dir(off.run_dir, 2))),
            0u);
  const auto m_on = read_metrics(on.run_dir + "/metrics.jsonl"), m_off = read_metrics(off.run_dir + "/metrics.jsonl");
  double changed = 0;
  for (const auto& [step, row] : m_on) {
    const double r = row.at("moe/expert_change_rate");
    EXPECT_GE(r, 0.0);
    EXPECT_LE(r, 1.0);
    changed += r;
    EXPECT_FALSE(m_off.at(step).count("moe/expert_change_rate"));
    EXPECT_EQ(row.at("moe/max_violation"), m_off.at(step).at("moe/max_violation"));  // the probe counts no loads
  }
  EXPECT_GT(changed, 0.0) << "no top-k choice changed at lr 1e-2: the probe shows nothing";
}

TEST_F(RouterReplayTest, DenseModelWithRouterReplayIsAnError) {
  SftConfig s = testing::tiny_sft_config(scratch_dir("replay_dense_sft"), 1);
  s.model.first_k_dense_replace = s.model.num_hidden_layers + s.model.num_nextn_predict_layers;  // no MoE layer at all
  const std::string dense = run_sft(s).checkpoint;
  TrainConfig c = testing::tiny_train_config(scratch_dir("replay_dense"), dense, 1);
  c.rl.router_replay = rl::RouterReplay::Rollout;
  testing::expect_train_error<ConfigError>(c, false, {"rl.router_replay", "dense"});
  c.rl.router_replay = rl::RouterReplay::None;  // the same model trains without it, and has no routing metrics
  c.run_dir = scratch_dir("replay_dense_none");
  run_train(c, false);
  EXPECT_FALSE(read_metrics(c.run_dir + "/metrics.jsonl").at(1).count("moe/route_mismatch"));
}

}  // namespace
}  // namespace reasonrl::train

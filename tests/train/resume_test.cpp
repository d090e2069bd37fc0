// Exact resume: a run interrupted after a checkpoint and resumed with --resume gives the same metrics and the same
// final weights as an uninterrupted run with the same seed. Covered with plain GRPO (with a reference model and KL,
// so the reference is in the checkpoint too), with Kimi's objective (optimizer reset each iteration, LR warmup,
// mini-batches), and with partial rollouts, where the stop falls while unfinished trajectories sit in the replay
// buffer.
#include <unistd.h>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "model/model.h"
#include "rl/train/sft.h"
#include "rl/train/trainer.h"
#include "tests/train/train_test_util.h"

namespace reasonrl::train {
namespace {

using testing::read_metrics;
using testing::scratch_dir;

class ResumeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string dir = scratch_dir("resume_sft_" + std::to_string(::getpid()));
    sft_ckpt_ = run_sft(testing::tiny_sft_config(dir, 30)).checkpoint;
  }
  static std::string sft_ckpt_;

  // Runs `cfg` uninterrupted in one directory, and interrupted (stop_after) then resumed in another; compares.
  void check_exact_resume(TrainConfig cfg, const std::string& name, int stop_after) {
    const std::string a = scratch_dir(name + "_straight"), b = scratch_dir(name + "_resumed");
    cfg.run_dir = a;
    run_train(cfg, false);
    cfg.run_dir = b;
    cfg.stop_after = stop_after;
    const TrainResult part = run_train(cfg, false);
    ASSERT_TRUE(part.interrupted);
    cfg.stop_after = 0;
    const TrainResult rest = run_train(cfg, true);
    EXPECT_EQ(rest.steps_done, cfg.steps);

    const auto ma = read_metrics(a + "/metrics.jsonl"), mb = read_metrics(b + "/metrics.jsonl");
    ASSERT_EQ(ma.size(), size_t(cfg.steps));
    ASSERT_EQ(mb.size(), ma.size()) << "resumed run has a different number of metric rows (duplicates or gaps)";
    for (const auto& [step, row] : ma) {
      const auto& other = mb.at(step);
      for (const auto& [k, v] : row) {
        ASSERT_TRUE(other.count(k)) << "step " << step << " key " << k;
        if (std::isnan(v)) continue;
        EXPECT_EQ(v, other.at(k)) << "step " << step << " metric " << k;
      }
    }
    auto wa = model::load_model(a + "/checkpoints/step_" + std::string(6 - std::to_string(cfg.steps).size(), '0') +
                                std::to_string(cfg.steps));
    auto wb = model::load_model(b + "/checkpoints/step_" + std::string(6 - std::to_string(cfg.steps).size(), '0') +
                                std::to_string(cfg.steps));
    ASSERT_EQ(wa->params().size(), wb->params().size());
    size_t diff = 0;
    for (size_t i = 0; i < wa->params().size(); ++i) diff += wa->params()[i] != wb->params()[i];
    EXPECT_EQ(diff, 0u) << "final weights differ in " << diff << " elements";
  }
};
std::string ResumeTest::sft_ckpt_;

TEST_F(ResumeTest, GrpoWithReferenceAndKl) {
  TrainConfig cfg = testing::tiny_train_config("", sft_ckpt_, 5);
  cfg.rl.beta = 0.04;
  cfg.rl.ref_update_every = 3;
  check_exact_resume(cfg, "grpo", 3);  // checkpoint at step 2, stop after step 3, resume from 2
}

TEST_F(ResumeTest, KimiResetsOptimizerEachIteration) {
  TrainConfig cfg = testing::tiny_train_config("", sft_ckpt_, 4);
  cfg.rl.algorithm = rl::Algorithm::Kimi;
  cfg.optim.warmup_steps = 3;  // the resumed run must continue the LR schedule that the moment resets do not touch
  cfg.ppo_mini_batch_size = 1;  // three optimizer steps per iteration against the iteration's fixed reference
  check_exact_resume(cfg, "kimi", 3);
}

TEST_F(ResumeTest, StopInTheMiddleOfAPartialRollout) {
  TrainConfig cfg = testing::tiny_train_config("", sft_ckpt_, 5);
  cfg.rollout.partial_rollout = true;
  cfg.rollout.partial_rollout_budget = 150;  // about half of 3 groups x 4 x 24 tokens: trajectories get cut
  cfg.rollout.max_staleness = 3;
  check_exact_resume(cfg, "partial", 3);
  // the checkpoint the resumed run started from did hold unfinished trajectories, and groups completed after it
  const auto m = read_metrics(testing::scratch_dir("partial_probe") + "/../partial_straight/metrics.jsonl");
  double buffered = 0, trained_after_resume = 0;
  for (const auto& [s, row] : m) {
    buffered += row.count("rollout/buffered_groups") ? row.at("rollout/buffered_groups") : 0;
    if (s > 2) trained_after_resume += row.at("samples");
  }
  EXPECT_GT(buffered, 0) << "the budget never left a trajectory unfinished: the test would not cover a mid-rollout stop";
  EXPECT_GT(trained_after_resume, 0) << "no samples trained after the resume point: the test would not cover it";
}

TEST_F(ResumeTest, StopInTheMiddleOfAPartialRolloutThatKeepsItsCache) {
  // partial_rollout_kv = reuse: the latent cache of every cut trajectory is part of the checkpoint. Were it lost, the
  // resumed run would re-prefill those contexts under newer weights and sample different tokens.
  TrainConfig cfg = testing::tiny_train_config("", sft_ckpt_, 5);
  cfg.rollout.partial_rollout = true;
  cfg.rollout.partial_rollout_budget = 150;  // about half of what 2 x 3 groups x 4 x 24 tokens could take
  cfg.rollout.partial_rollout_kv = policy::PartialKv::Reuse;
  cfg.rollout.max_staleness = 3;
  cfg.partial_rollout_groups = 2 * cfg.prompts_per_step;  // more queued than one step needs
  cfg.rl.tis_cap = 2.0;  // the sampler's log-probs enter the loss (and tis_weight_mean), so the cache they came from counts
  check_exact_resume(cfg, "partial_reuse", 3);
  const auto m = read_metrics(testing::scratch_dir("partial_reuse_probe") + "/../partial_reuse_straight/metrics.jsonl");
  double most = 0, trained_after_resume = 0;
  for (const auto& [s, row] : m) {
    most = std::max(most, row.count("rollout/buffered_groups") ? row.at("rollout/buffered_groups") : 0.0);
    if (s > 2 && row.count("tis_weight_mean")) trained_after_resume += row.at("samples");
  }
  EXPECT_GT(most, double(cfg.prompts_per_step)) << "partial_rollout_groups did not keep more groups in flight";
  EXPECT_GT(trained_after_resume, 0) << "no samples trained after the resume point: the test would not cover it";
}

}  // namespace
}  // namespace reasonrl::train

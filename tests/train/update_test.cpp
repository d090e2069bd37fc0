// The trainer's update, measured through whole tiny runs (SFT, then RL from it):
//  - the micro-batch split does not change the weights with the MoE sequence-wise balance loss on: 1x8, 8x1 and
//    3+3+2 micro-batches of one 8-sequence step give the same weights (the balance loss used to be weighted
//    1/n_micro per micro-batch, which gives the sequences of the short micro-batch of 3+3+2 more weight);
//  - Kimi's optimizer reset keeps the LR schedule: with warmup, every step moves the weights by the schedule's LR
//    (the reset used to zero the schedule step too, so every Kimi step ran at the first warmup LR).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "model/model.h"
#include "rl/train/run_dir.h"
#include "rl/train/sft.h"
#include "rl/train/trainer.h"
#include "tests/train/train_test_util.h"

namespace reasonrl::train {
namespace {

using testing::read_metrics;
using testing::scratch_dir;

class UpdateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    SftConfig c = testing::tiny_sft_config(scratch_dir("update_sft"), 30);
    // Every shipped model config has the balance loss on (1e-4); larger shows it clearly, and it gives every step a
    // gradient even when all of a step's rewards are equal (Kimi's reward term is then 0).
    c.model.seq_aux_alpha = 0.05;
    sft_ckpt_ = run_sft(c).checkpoint;
  }
  static std::string sft_ckpt_;
};
std::string UpdateTest::sft_ckpt_;

// Largest |a - b| over the trainable parameters.
double max_abs_diff(const model::Model& a, const model::Model& b) {
  double d = 0;
  for (const auto& t : a.tensors()) {
    if (!t.trainable) continue;
    for (size_t i = t.offset; i < t.offset + t.size; ++i)
      d = std::max(d, std::fabs(double(a.params()[i]) - double(b.params()[i])));
  }
  return d;
}

TEST_F(UpdateTest, MicroBatchSplitDoesNotChangeTheWeightsWithTheBalanceLossOn) {
  auto init = model::load_model(sft_ckpt_);
  ASSERT_GT(init->config().seq_aux_alpha, 0.0) << "the balance loss is off: the test would not cover it";
  std::vector<std::unique_ptr<model::Model>> out;
  std::vector<std::map<long, std::map<std::string, double>>> metrics;
  for (int mb : {8, 1, 3}) {  // 1 x 8, 8 x 1, 3 + 3 + 2
    TrainConfig cfg = testing::tiny_train_config("", sft_ckpt_, 1);
    cfg.run_dir = scratch_dir("update_split_" + std::to_string(mb));
    cfg.prompts_per_step = 2;  // 2 groups x 4 = 8 sequences
    cfg.rl.num_iterations = 3;  // three optimizer steps on the same rollouts, the later ones at moved weights
    cfg.micro_batch_size = mb;
    // adam_epsilon far above |g|: each update is lr * m_hat / (sqrt(v_hat) + 1), about lr * gradient, so the weights
    // compare the gradients themselves. (With eps 1e-8, Adam divides reordering noise in near-zero gradient
    // coordinates by their own size: 8 x 1 vs 1 x 8 then differ by 2.6e-4 of the update, which says nothing.)
    cfg.optim.adam_epsilon = 1.0;
    cfg.optim.learning_rate = 0.1;
    run_train(cfg, false);
    out.push_back(model::load_model(checkpoint_dir(cfg.run_dir, 1)));
    metrics.push_back(read_metrics(cfg.run_dir + "/metrics.jsonl"));
  }
  ASSERT_EQ(metrics[0].at(1).at("samples"), 8.0);
  EXPECT_GT(metrics[0].at(1).at("reward/std"), 0.0) << "no reward signal: only the balance loss would train";
  const double moved = max_abs_diff(*out[0], *init);
  ASSERT_GT(moved, 0.0);
  for (size_t k = 1; k < out.size(); ++k) {
    // The splits only reorder float sums (GEMMs of other shapes): per weight, allow 2 float spacings of the weight
    // (norm weights sit near 1, spacing 1.2e-7; measured: at most 1 spacing) plus 1e-6 of the update. The old
    // 1/n_micro weighting of the balance loss moved 3+3+2 by 2.1e-5 (175 spacings at 1), 8 x 1 not at all.
    size_t bad = 0;
    double worst = 0;
    for (const auto& t : init->tensors()) {
      if (!t.trainable) continue;
      for (size_t i = t.offset; i < t.offset + t.size; ++i) {
        const float a = out[0]->params()[i], b = out[k]->params()[i];
        const double d = std::fabs(double(a) - double(b));
        const double spacing = std::nextafter(std::max(std::fabs(a), std::fabs(b)), INFINITY) - std::max(std::fabs(a), std::fabs(b));
        bad += d > 2 * spacing + 1e-6 * moved;
        worst = std::max(worst, d);
      }
    }
    EXPECT_EQ(bad, 0u) << "split " << (k == 1 ? "8 x 1" : "3+3+2") << ": " << bad << " weights differ beyond float noise, "
                       << "by up to " << worst << " (update size " << moved << ")";
  }
}

TEST_F(UpdateTest, KimiOptimizerResetKeepsTheLearningRateSchedule) {
  TrainConfig cfg = testing::tiny_train_config("", sft_ckpt_, 4);
  cfg.run_dir = scratch_dir("update_kimi_lr");
  cfg.rl.algorithm = rl::Algorithm::Kimi;
  ASSERT_TRUE(cfg.rl.kimi_reset_optimizer);
  cfg.optim.warmup_steps = 3;  // LR 1/3, 2/3, 1, 1 of the peak
  cfg.save_every = 1;
  cfg.keep_checkpoints = 10;
  run_train(cfg, false);
  model::AdamWConfig sched = cfg.optim;
  sched.max_steps = cfg.steps;  // what the trainer does with max_steps = 0
  const auto m = read_metrics(cfg.run_dir + "/metrics.jsonl");
  auto prev = model::load_model(sft_ckpt_);
  for (long k = 1; k <= cfg.steps; ++k) {
    const double want = sched.lr_at(k - 1);
    EXPECT_DOUBLE_EQ(m.at(k).at("lr"), want) << "step " << k;
    // After a moment reset every step is Adam's first: each weight moves by lr * g / (|g| + eps), so the largest move
    // is the LR actually applied (weight decay is 0 here). Tolerance: the float spacing of weights near 1 (1.2e-7)
    // against the smallest LR (3.3e-4) is 3.6e-4; the old reset gave ratios 0.5 and 0.33 at steps 2 and 3.
    auto cur = model::load_model(checkpoint_dir(cfg.run_dir, k));
    const double applied = max_abs_diff(*cur, *prev);
    ASSERT_GT(applied, 0.0) << "step " << k << " did not move the weights";
    EXPECT_NEAR(applied / want, 1.0, 2e-3) << "step " << k << ": largest weight move " << applied << ", schedule LR " << want;
    prev = std::move(cur);
  }
}

}  // namespace
}  // namespace reasonrl::train

// The trainer's update, measured through whole tiny runs (SFT, then RL from it):
//  - the micro-batch split does not change the weights with the MoE sequence-wise balance loss on: 1x8, 8x1 and
//    3+3+2 micro-batches of one 8-sequence step give the same weights (the balance loss used to be weighted
//    1/n_micro per micro-batch, which gives the sequences of the short micro-batch of 3+3+2 more weight), and so do
//    splits inside the mini-batches of ppo_mini_batch_size;
//  - Kimi's tau acts once an iteration takes more than one optimizer step (mini-batches), and not with one;
//  - GSPO and CISPO, chosen in the config, give the vanilla weights at ratio 1 and different ones on a second pass;
//  - a ppo_mini_batch_size that does not divide prompts_per_step is an error naming both;
//  - on policy (one pass, one mini-batch) the trainer skips its separate old-log-prob pass and takes the old log-probs
//    from the update's forward: two steps give bit-identical weights and metrics to a run that needs the separate pass
//    (masked IS with a band nothing leaves), for GRPO and Kimi, over a 3+3+2 micro-batch split;
//  - Kimi's optimizer reset keeps the LR schedule: with warmup, every step moves the weights by the schedule's LR
//    (the reset used to zero the schedule step too, so every Kimi step ran at the first warmup LR).
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

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
    SftConfig c = testing::tiny_sft_config(scratch_dir("update_sft_" + std::to_string(::getpid())), 30);
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

// One RL step from the SFT model on 2 prompts x 4 = 8 sequences; returns the weights after it.
std::unique_ptr<model::Model> one_step(TrainConfig cfg, const std::string& name,
                                       std::map<long, std::map<std::string, double>>* metrics = nullptr) {
  cfg.run_dir = scratch_dir("update_" + name);
  cfg.steps = 1;
  cfg.prompts_per_step = 2;
  run_train(cfg, false);
  if (metrics) *metrics = read_metrics(cfg.run_dir + "/metrics.jsonl");
  return model::load_model(checkpoint_dir(cfg.run_dir, 1));
}

// Weights of `b` that differ from `a` beyond float reordering noise: 2 float spacings of the weight (norm weights sit
// near 1, spacing 1.2e-7; measured: at most 1 spacing) plus 1e-6 of `moved`, the largest move of the update.
size_t beyond_float_noise(const model::Model& a, const model::Model& b, double moved, double* worst) {
  size_t bad = 0;
  *worst = 0;
  for (const auto& t : a.tensors()) {
    if (!t.trainable) continue;
    for (size_t i = t.offset; i < t.offset + t.size; ++i) {
      const float x = a.params()[i], y = b.params()[i];
      const float big = std::max(std::fabs(x), std::fabs(y));
      const double d = std::fabs(double(x) - double(y));
      bad += d > 2 * double(std::nextafter(big, INFINITY) - big) + 1e-6 * moved;
      *worst = std::max(*worst, d);
    }
  }
  return bad;
}

// Micro-batches 1 x 8, 8 x 1, 3+3+2 of the whole step (one optimizer step per pass), and 1 x 4, 4 x 1, 3+1 inside
// each of two mini-batches (ppo_mini_batch_size 1: two optimizer steps per pass), give the same weights.
TEST_F(UpdateTest, MicroBatchSplitDoesNotChangeTheWeightsWithTheBalanceLossOn) {
  auto init = model::load_model(sft_ckpt_);
  ASSERT_GT(init->config().seq_aux_alpha, 0.0) << "the balance loss is off: the test would not cover it";
  TrainConfig cfg = testing::tiny_train_config("", sft_ckpt_, 1);
  cfg.rl.num_iterations = 3;  // three passes over the same rollouts, the later ones at moved weights
  // adam_epsilon far above |g|: each update is lr * m_hat / (sqrt(v_hat) + 1), about lr * gradient, so the weights
  // compare the gradients themselves. (With eps 1e-8, Adam divides reordering noise in near-zero gradient
  // coordinates by their own size: 8 x 1 vs 1 x 8 then differ by 2.6e-4 of the update, which says nothing.)
  cfg.optim.adam_epsilon = 1.0;
  cfg.optim.learning_rate = 0.1;
  for (int mini : {0, 1}) {
    cfg.ppo_mini_batch_size = mini;
    const std::vector<int> micro = mini == 0 ? std::vector<int>{8, 1, 3} : std::vector<int>{4, 1, 3};
    std::vector<std::unique_ptr<model::Model>> out;
    std::map<long, std::map<std::string, double>> m;
    for (int mb : micro) {
      cfg.micro_batch_size = mb;
      out.push_back(one_step(cfg, "split_" + std::to_string(mini) + "_" + std::to_string(mb), &m));
    }
    ASSERT_EQ(m.at(1).at("samples"), 8.0);
    EXPECT_GT(m.at(1).at("reward/std"), 0.0) << "no reward signal: only the balance loss would train";
    const double moved = max_abs_diff(*out[0], *init);
    ASSERT_GT(moved, 0.0);
    for (size_t k = 1; k < out.size(); ++k) {
      // the old 1/n_micro weighting of the balance loss moved 24,939 weights of 3+3+2, by up to 2.1e-5 (175 spacings
      // at 1); 8 x 1 not at all
      double worst = 0;
      const size_t bad = beyond_float_noise(*out[0], *out[k], moved, &worst);
      EXPECT_EQ(bad, 0u) << "ppo_mini_batch_size " << mini << ", micro_batch_size " << micro[k] << ": " << bad
                         << " weights differ beyond float noise, by up to " << worst << " (update size " << moved << ")";
    }
  }
  // a mini-batch of all the step's prompts is the same as none
  cfg.micro_batch_size = 3;
  cfg.ppo_mini_batch_size = 0;
  auto whole = one_step(cfg, "mini_0");
  cfg.ppo_mini_batch_size = 2;
  auto all = one_step(cfg, "mini_2");
  EXPECT_EQ(max_abs_diff(*whole, *all), 0.0);
}

// Kimi's tau term (tau/2)(S - S_ref)^2 has zero gradient at the reference. With one optimizer step per iteration the
// step is taken there, so tau cannot matter; with two mini-batches the second step is taken at moved weights against
// the same reference (old log-probs computed once per rollout batch), and tau changes the weights.
TEST_F(UpdateTest, KimiTauActsOnceAnIterationTakesMoreThanOneStep) {
  TrainConfig cfg = testing::tiny_train_config("", sft_ckpt_, 1);
  cfg.rl.algorithm = rl::Algorithm::Kimi;
  cfg.micro_batch_size = 8;
  auto run = [&](int mini, double tau) {
    cfg.ppo_mini_batch_size = mini;
    cfg.rl.kimi_tau = tau;
    return one_step(cfg, "tau_" + std::to_string(mini) + "_" + std::to_string(int(tau * 10)));
  };
  auto one_a = run(0, 0.1), one_b = run(0, 100.0);
  EXPECT_EQ(max_abs_diff(*one_a, *one_b), 0.0) << "one step per iteration: tau should have no effect";
  auto two_a = run(1, 0.1), two_b = run(1, 100.0);
  // the second step moves each weight by about lr = 1e-3; a tau 1000 times larger must change a good part of that
  EXPECT_GT(max_abs_diff(*two_a, *two_b), 1e-4) << "two steps per iteration: tau did not change the weights";
}

// The trainer takes GSPO (rl.importance_sampling_level sequence) and CISPO (rl.loss_mode cispo) from its config. At the
// first pass the ratio is 1: both give the vanilla gradient (-A per token) and the vanilla weights. The second pass
// of num_iterations 2 runs at moved weights: GSPO with the paper's clip ranges (3e-4 / 4e-4) clips whole sequences and
// CISPO keeps every token, so both leave weights different from vanilla's.
TEST_F(UpdateTest, GspoAndCispoFromTheConfigChangeTheUpdateOnlyOffPolicy) {
  TrainConfig cfg = testing::tiny_train_config("", sft_ckpt_, 1);
  cfg.micro_batch_size = 8;
  auto run = [&](int iters, int mode) {
    TrainConfig c = cfg;
    c.rl.num_iterations = iters;
    if (mode == 1) {
      c.rl.importance_sampling_level = rl::ImportanceSamplingLevel::Sequence;
      c.rl.epsilon = 3e-4;
      c.rl.epsilon_high = 4e-4;
    }
    if (mode == 2) {
      c.rl.loss_mode = rl::PolicyLossMode::Cispo;
      c.rl.epsilon = 1.0;
      c.rl.epsilon_high = 0.01;  // tight, so that the clip acts on the second pass
    }
    std::map<long, std::map<std::string, double>> m;
    auto w = one_step(c, "mode_" + std::to_string(iters) + "_" + std::to_string(mode), &m);
    return std::make_pair(std::move(w), m.at(1));
  };
  auto init = model::load_model(sft_ckpt_);
  auto [van1, mv1] = run(1, 0);
  const double moved = max_abs_diff(*van1, *init);
  ASSERT_GT(moved, 0.0);
  for (int mode : {1, 2}) {
    auto [w, m] = run(1, mode);
    double worst = 0;
    EXPECT_EQ(beyond_float_noise(*van1, *w, moved, &worst), 0u) << "mode " << mode << " at ratio 1, by up to " << worst;
  }
  auto [van2, mv2] = run(2, 0);
  auto [gspo2, mg2] = run(2, 1);
  auto [cispo2, mc2] = run(2, 2);
  EXPECT_GT(max_abs_diff(*van2, *gspo2), 0.05 * moved) << "GSPO did not change the second pass";
  EXPECT_GT(max_abs_diff(*van2, *cispo2), 0.05 * moved) << "CISPO did not change the second pass";
  // GSPO's tiny clip range catches many sequences on the second pass (measured: clip_frac 0.23 over both passes vs
  // vanilla's 0.028)
  EXPECT_GT(mg2.at("clip_frac"), mv2.at("clip_frac"));
  EXPECT_GT(mc2.at("clip_frac"), 0.0);  // CISPO counts clipped weights: the bound was reached, the gradient was kept
}

// The overlong filter, masked IS and the entropy bonus reach the trainer: their metrics agree with figures computed
// elsewhere (the store's len/truncated_frac, rollout/logp_max_abs_diff), and the bonus changes the weights.
TEST_F(UpdateTest, OverlongFilterMaskedIsAndEntropyBonusFromTheConfigReachTheUpdate) {
  TrainConfig cfg = testing::tiny_train_config("", sft_ckpt_, 1);
  cfg.micro_batch_size = 8;
  auto init = model::load_model(sft_ckpt_);
  std::map<long, std::map<std::string, double>> m0, m1, m2, m3;
  auto van = one_step(cfg, "obj_vanilla", &m0);
  const double moved = max_abs_diff(*van, *init);
  ASSERT_GT(moved, 0.0);
  EXPECT_EQ(m0.at(1).count("masked_truncated_frac"), 0u);  // default runs write the metrics they wrote before
  EXPECT_EQ(m0.at(1).count("rollout_rs/masked_token_frac"), 0u);
  EXPECT_EQ(m0.at(1).count("entropy_loss"), 0u);

  TrainConfig c1 = cfg;  // a budget short enough that some responses are cut
  c1.rollout.max_completion_length = 6;
  c1.rl.mask_truncated_completions = true;
  one_step(c1, "obj_overlong", &m1);
  EXPECT_GT(m1.at(1).at("masked_truncated_frac"), 0.0);
  EXPECT_DOUBLE_EQ(m1.at(1).at("masked_truncated_frac"), m1.at(1).at("len/truncated_frac"));

  TrainConfig c2 = cfg;  // a band so narrow that every token whose two log-probs differ at all is dropped
  c2.rl.rollout_rs = rl::RolloutRs::Token;
  c2.rl.rollout_rs_threshold = 1 + 1e-12;
  one_step(c2, "obj_rs", &m2);
  const double frac = m2.at(1).at("rollout_rs/masked_token_frac");
  EXPECT_EQ(frac > 0, m2.at(1).at("rollout/logp_max_abs_diff") > 0) << frac;
  EXPECT_LT(frac, 1.0);

  TrainConfig c3 = cfg;
  c3.rl.entropy_coeff = 0.05;
  auto ent = one_step(c3, "obj_entropy", &m3);
  EXPECT_LT(m3.at(1).at("entropy_loss"), 0.0);
  EXPECT_NEAR(m3.at(1).at("entropy_loss"), -0.05 * m3.at(1).at("entropy"), 1e-6);  // token_mean, one step
  EXPECT_GT(max_abs_diff(*van, *ent), 0.05 * moved) << "the entropy bonus did not change the update";
}

// Whether metrics.jsonl's row of `step` has the stage timer time/<stage>_ms (read_metrics leaves times out).
bool has_time_key(const std::string& run_dir, long step, const std::string& stage) {
  std::ifstream in(run_dir + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j.at("step").get<long>() == step) return j.contains("time/" + stage + "_ms");
  }
  throw std::runtime_error(run_dir + "/metrics.jsonl has no step " + std::to_string(step));
}

// The on-policy shortcut: without anything that needs the old log-probs before the update, the step has no
// `logprobs` stage, and its weights and metrics are those of the separate pass bit for bit. Masked IS (rl.rollout_rs)
// with a band of [1e-9, 1e9] needs them before the update and drops nothing, so it runs the separate pass with the
// same arithmetic otherwise.
TEST_F(UpdateTest, OnPolicyUpdateTakesTheOldLogprobsFromItsOwnForwardBitForBit) {
  for (const rl::Algorithm algo : {rl::Algorithm::Grpo, rl::Algorithm::Kimi}) {
    const std::string name(enum_to_string(algo));
    TrainConfig cfg = testing::tiny_train_config("", sft_ckpt_, 1);
    cfg.rl.algorithm = algo;
    cfg.micro_batch_size = 3;  // 8 sequences: micro-batches of 3 + 3 + 2
    cfg.steps = 2;
    cfg.prompts_per_step = 2;
    cfg.save_every = 1;
    TrainConfig sep = cfg;
    sep.rl.rollout_rs = rl::RolloutRs::Token;
    sep.rl.rollout_rs_threshold = 1e9;
    cfg.run_dir = scratch_dir("update_onpolicy_" + name);
    sep.run_dir = scratch_dir("update_separate_" + name);
    run_train(cfg, false);
    run_train(sep, false);
    const auto ma = read_metrics(cfg.run_dir + "/metrics.jsonl"), mb = read_metrics(sep.run_dir + "/metrics.jsonl");
    for (long step : {1L, 2L}) {
      SCOPED_TRACE(name + " step " + std::to_string(step));
      EXPECT_FALSE(has_time_key(cfg.run_dir, step, "logprobs")) << "the on-policy step still ran the separate pass";
      ASSERT_TRUE(has_time_key(sep.run_dir, step, "logprobs"));
      EXPECT_EQ(mb.at(step).at("rollout_rs/masked_token_frac"), 0.0);
      for (const char* k : {"loss", "grad_norm", "entropy", "ratio_mean", "approx_kl_old", "clip_frac",
                            "rollout/logp_max_abs_diff", "moe/route_mismatch", "moe/max_violation", "reward/mean"})
        EXPECT_EQ(ma.at(step).at(k), mb.at(step).at(k)) << k;
      EXPECT_GT(ma.at(step).at("rollout/logp_max_abs_diff"), 0.0);  // measured, not left at 0
      auto a = model::load_model(checkpoint_dir(cfg.run_dir, step)), b = model::load_model(checkpoint_dir(sep.run_dir, step));
      EXPECT_EQ(max_abs_diff(*a, *b), 0.0);
    }
  }
}

TEST(TrainConfigTest, MiniBatchThatDoesNotDivideTheBatchIsAnErrorNamingBoth) {
  TrainConfig c;
  c.prompts_per_step = 16;
  c.ppo_mini_batch_size = 5;
  try {
    c.validate();
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("ppo_mini_batch_size (5)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("prompts_per_step (16)"), std::string::npos) << msg;
  }
  c.ppo_mini_batch_size = 4;
  EXPECT_NO_THROW(c.validate());
  c.ppo_mini_batch_size = -1;
  EXPECT_THROW(c.validate(), ConfigError);
}

// The test above shows tau inert with one optimizer step per iteration; the config says so before the run.
TEST(TrainConfigTest, KimiWithOneOptimizerStepPerIterationWarnsThatTauIsInert) {
  TrainConfig c;
  c.prompts_per_step = 16;
  EXPECT_TRUE(c.warnings().empty());  // grpo
  c.rl.algorithm = rl::Algorithm::Kimi;
  ASSERT_EQ(c.warnings().size(), 1u);
  EXPECT_NE(c.warnings()[0].find("rl.kimi_tau has no effect"), std::string::npos) << c.warnings()[0];
  c.ppo_mini_batch_size = 16;  // still one step
  EXPECT_EQ(c.warnings().size(), 1u);
  c.ppo_mini_batch_size = 4;  // four steps per iteration
  EXPECT_TRUE(c.warnings().empty());
  c.ppo_mini_batch_size = 0;
  c.rl.num_iterations = 2;
  EXPECT_TRUE(c.warnings().empty());
  c.rl.num_iterations = 1;
  c.rl.kimi_tau = 0;  // no tau term to lose
  EXPECT_TRUE(c.warnings().empty());
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

// Bitwise on-policy (deterministic: true) through whole tiny runs (SFT, then RL from it on two threads, rollout rows
// joining and leaving the decode batch, micro-batches that split the step's sequences differently from the rollout):
//  - every step logs rollout/logp_max_abs_diff == 0 and moe/route_mismatch == 0, where the default run logs > 0;
//  - deterministic with a forced fused / packed train_kernel, or with rollout.sample_kernel fused, is a ConfigError
//    naming both keys.
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>

#include "rl/train/sft.h"
#include "rl/train/trainer.h"
#include "rl/util/error.h"
#include "tests/train/train_test_util.h"

namespace reasonrl::train {
namespace {

using testing::read_metrics;
using testing::scratch_dir;

class DeterministicTrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sft_ckpt_ = run_sft(testing::tiny_sft_config(scratch_dir("det_sft_" + std::to_string(::getpid())), 12)).checkpoint;
  }
  static TrainConfig config(const std::string& name, bool det) {
    TrainConfig c = testing::tiny_train_config(scratch_dir("det_" + name), sft_ckpt_, 4);
    c.threads = 2;
    c.rollout.sampling_params.top_p = 0.95f;  // a truncated distribution: the kept set must match too
    c.rollout.max_batch = 6;                  // 12 rows per step: rows wait, join and leave
    c.micro_batch_size = 5;
    c.optim.learning_rate = 1e-2;  // the weights move, so each step checks new numbers
    c.deterministic = det;
    return c;
  }
  static std::string sft_ckpt_;
};
std::string DeterministicTrainTest::sft_ckpt_;

TEST_F(DeterministicTrainTest, LogpDiffAndRouteMismatchExactlyZero) {
  TrainConfig def = config("off", false), det = config("on", true);
  run_train(def, false);
  run_train(det, false);
  const auto md = read_metrics(def.run_dir + "/metrics.jsonl"), mt = read_metrics(det.run_dir + "/metrics.jsonl");
  ASSERT_EQ(mt.size(), 4u);
  double def_diff = 0, def_mismatch = 0, tokens = 0;
  for (const auto& [step, row] : mt) {
    ASSERT_TRUE(row.count("rollout/logp_max_abs_diff")) << "step " << step;
    ASSERT_TRUE(row.count("moe/route_mismatch")) << "step " << step;
    EXPECT_EQ(row.at("rollout/logp_max_abs_diff"), 0.0) << "step " << step;
    EXPECT_EQ(row.at("moe/route_mismatch"), 0.0) << "step " << step;
    tokens += row.at("rollout/tokens");
    def_diff += md.at(step).at("rollout/logp_max_abs_diff");
    def_mismatch += md.at(step).at("moe/route_mismatch");
  }
  EXPECT_GT(tokens, 200.0);
  EXPECT_GT(def_diff, 0.0) << "the default run is already bitwise on-policy: this test shows nothing";
  std::printf("default run: sum over steps of rollout/logp_max_abs_diff %.3g, moe/route_mismatch %.3g; deterministic: "
              "0 and 0 over %.0f tokens\n",
              def_diff, def_mismatch, tokens);
}

TEST_F(DeterministicTrainTest, FusedOrPackedKernelIsAnError) {
  for (TrainKernel k : {TrainKernel::Fused, TrainKernel::Packed}) {
    TrainConfig c = config(std::string("bad_") + enum_to_string(k), true);
    c.train_kernel = k;
    c.rollout.sampling_params.top_p = 1.0f;  // else the truncation check fails first
    SCOPED_TRACE(enum_to_string(k));
    testing::expect_train_error<ConfigError>(c, false, {"deterministic", "train_kernel"});
  }
}

// The rollout records sampling_logprob of the decode logits in deterministic mode, which the fused sampling head never
// forms (policy/rollout.cpp): forcing that head is refused before any token is generated, naming both keys.
TEST_F(DeterministicTrainTest, FusedSampleKernelIsAnError) {
  TrainConfig c = config("bad_sample_kernel", true);
  c.rollout.sample_kernel = policy::SampleKernel::Fused;
  c.rollout.sampling_params.top_p = 1.0f;  // the fused head samples untruncated distributions only
  testing::expect_train_error<ConfigError>(c, false, {"sample_kernel", "deterministic"});
  // The same config without deterministic runs: the error above is about the combination, not the fused head alone.
  TrainConfig ok = config("fused_sample_kernel", false);
  ok.rollout.sample_kernel = policy::SampleKernel::Fused;
  ok.rollout.sampling_params.top_p = 1.0f;
  ok.steps = 1;
  EXPECT_NO_THROW(run_train(ok, false));
}

}  // namespace
}  // namespace reasonrl::train

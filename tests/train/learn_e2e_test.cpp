// e2e (label e2e): a short learning run with a fixed seed. SFT a small MoE from scratch on the synthetic arithmetic
// task, then GRPO; greedy pass@1 on held-out prompts must rise clearly over the SFT model. (The full demo, with its
// measured figures, is `scripts/demo.sh`; see README.)
#include <gtest/gtest.h>

#include "rl/train/sft.h"
#include "rl/train/trainer.h"
#include "tests/train/train_test_util.h"

namespace reasonrl::train {
namespace {

TEST(LearnE2E, GrpoImprovesGreedyPassAt1OverSft) {
  SftConfig s = testing::tiny_sft_config(testing::scratch_dir("e2e_sft"), 120);
  s.data.heldout_size = 150;
  s.eval.size = 0;
  const SftResult sft = run_sft(s);

  TrainConfig t = testing::tiny_train_config(testing::scratch_dir("e2e_grpo"), sft.checkpoint, 40);
  t.data = s.data;
  t.prompts_per_step = 8;
  t.rollout.num_generations = t.rl.num_generations = 8;
  t.micro_batch_size = 32;
  t.save_every = 0;
  t.eval.size = 150;
  t.eval.every = 0;
  t.eval.max_completion_length = 24;
  t.optim.learning_rate = 1e-3;
  const TrainResult r = run_train(t, false);
  std::printf("greedy pass@1 on %d held-out prompts: SFT %.3f -> GRPO %.3f (%.1fs)\n", r.final_eval.n,
              r.initial_eval.pass_at_1, r.final_eval.pass_at_1, r.seconds);
  EXPECT_GE(r.final_eval.pass_at_1 - r.initial_eval.pass_at_1, 0.10)
      << "GRPO did not improve greedy pass@1 by 10 points over the SFT model";
}

}  // namespace
}  // namespace reasonrl::train

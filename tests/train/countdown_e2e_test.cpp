// e2e (label e2e): the countdown demo (README command 1) in short, from its own configs with a fixed seed on one
// thread: the base stage on the arithmetic-facts corpus (configs/base_countdown.json, 1,000 of its 1,500 steps), the
// cold start on 1,500 heuristic traces (configs/sft_countdown.json: at most 6 attempts, another one after a miss
// with probability 0.3, so the SFT model mostly stops after one), then 50 of the demo's GRPO steps
// (configs/grpo_countdown.json: the grounded answer reward + format, no length term, T = 0.7). On the 500 held-out
// problems, greedy pass@1 must rise by at least 4 points (measured: 0.186 -> 0.278), the mean response tokens by at
// least 1.45x (47.2 -> 93.1, x1.97) and the attempts per response by at least 0.65 (1.04 -> 2.36): RL makes the model
// search longer and solve more. The margins are about half the measured effects. About 8.5 minutes of one core (base
// 1,000 steps, SFT 500, GRPO 50). The full demo's figures (scripts/demo.sh): README.
#include <gtest/gtest.h>

#include <cstdio>
#include <regex>
#include <string>

#include "rl/train/sft.h"
#include "rl/train/trainer.h"
#include "tests/train/train_test_util.h"

namespace reasonrl::train {
namespace {

// Mean attempts (`try ` segments of the trace, before </think>) per held-out response.
double mean_attempts(const EvalResult& e) {
  static const std::regex kTry("\\btry ");
  double total = 0;
  for (const EvalSample& s : e.samples) {
    const std::string think = s.response.substr(0, s.response.find("</think>"));
    total += static_cast<double>(std::distance(std::sregex_iterator(think.begin(), think.end(), kTry),
                                               std::sregex_iterator()));
  }
  return e.samples.empty() ? 0 : total / static_cast<double>(e.samples.size());
}

// An SFT stage of the demo from its config, on one thread, without evaluations or intermediate checkpoints.
SftConfig sft_stage(const std::string& config, const std::string& scratch, const std::string& init_from, long steps) {
  SftConfig c;
  config_load_file(c, config);
  c.run_dir = testing::scratch_dir(scratch);
  if (!init_from.empty()) c.init_from = init_from;
  if (steps > 0) c.steps = steps;
  c.save_every = 0;
  c.eval.size = 0;
  c.threads = 1;
  return c;
}

TEST(CountdownE2E, GrpoGrowsTheSearchAndRaisesPassAt1) {
  const std::string configs = std::string(REASONRL_SOURCE_DIR) + "/configs/";
  const SftResult b = run_sft(sft_stage(configs + "base_countdown.json", "e2e_cd_base", "", 1000));
  const SftResult s = run_sft(sft_stage(configs + "sft_countdown.json", "e2e_cd_sft", b.checkpoint, 0));

  TrainConfig t;
  config_load_file(t, configs + "grpo_countdown.json");
  t.run_dir = testing::scratch_dir("e2e_cd_grpo");
  t.init_from = s.checkpoint;
  t.steps = 50;
  t.save_every = 0;
  t.eval.every = 0;
  t.eval.pass_k_samples = 0;
  t.eval.save_samples = true;
  t.threads = 1;
  const TrainResult r = run_train(t, false);
  const EvalResult& e0 = r.initial_eval;
  const EvalResult& e1 = r.final_eval;
  ASSERT_EQ(e0.n, 500);
  ASSERT_EQ(e1.n, 500);
  ASSERT_EQ(e0.samples.size(), 500u);
  ASSERT_EQ(e1.samples.size(), 500u);
  const double a0 = mean_attempts(e0), a1 = mean_attempts(e1);
  std::printf("held-out greedy: pass@1 %.3f -> %.3f, mean tokens %.1f -> %.1f, attempts %.2f -> %.2f "
              "(%.0f s of GRPO)\n",
              e0.pass_at_1, e1.pass_at_1, e0.mean_tokens, e1.mean_tokens, a0, a1, r.seconds);
  EXPECT_GE(e1.pass_at_1 - e0.pass_at_1, 0.04) << "GRPO did not raise held-out pass@1";
  EXPECT_GE(e1.mean_tokens, 1.45 * e0.mean_tokens) << "the chain of thought did not grow by 1.45x";
  EXPECT_GE(a1, a0 + 0.65) << "the responses do not make more attempts";
}

}  // namespace
}  // namespace reasonrl::train

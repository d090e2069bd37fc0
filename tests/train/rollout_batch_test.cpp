// The RL step's batch (rl/train/rollout_batch.h), driven directly with hand-made samples whose expected views are
// written out by hand: kept groups and their positions, loss masks, the flat per-token views the loss reads,
// mini-batches (also with the position gaps another rank's groups leave), token counts, the rollout/trainer log-prob
// gap, advantages and store rows. Then a small SFT + RL run: the trainer's log-probs of the sampled tokens agree with
// the sampler's (metrics rollout/logp_max_abs_diff < 1e-4 every step).
#include "rl/train/rollout_batch.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "rl/train/sft.h"
#include "rl/train/trainer.h"
#include "tests/train/train_test_util.h"

namespace reasonrl::train {
namespace {

// A scored sample of prompt `pid` with response tokens `resp` (log-probs -0.1 * (j + 1)), reward `r`.
RolloutSample sample(int64_t pid, int index, std::vector<int32_t> resp, double r, bool correct = false) {
  RolloutSample s;
  s.traj.prompt_id = pid;
  s.traj.group_index = index;
  s.traj.prompt = {1, int32_t(pid)};
  s.traj.tokens = std::move(resp);
  for (size_t j = 0; j < s.traj.tokens.size(); ++j) s.traj.logp.push_back(-0.1f * float(j + 1));
  s.traj.finish = policy::FinishReason::Stop;
  s.text = "p" + std::to_string(pid) + "s" + std::to_string(index);
  s.reward.total = r;
  s.reward.correct = correct;
  s.reward.components["accuracy"] = r;
  return s;
}

// One round of 3 groups of G = 2 (prompts 10, 11, 12).
std::vector<RolloutSample> round3() {
  std::vector<RolloutSample> v;
  v.push_back(sample(10, 0, {5, 6, 7}, 1.0, true));
  v.push_back(sample(10, 1, {5}, 0.0));
  v.push_back(sample(11, 0, {8, 9}, 1.0, true));
  v.push_back(sample(11, 1, {8, 9, 9, 9}, 1.0, true));
  v.push_back(sample(12, 0, {4, 4}, 0.0));
  v.push_back(sample(12, 1, {3}, 1.0, true));
  v[1].traj.loss_mask = {0};           // e.g. a truncated response left out of the loss
  v[3].traj.loss_mask = {1, 1, 0, 1};  // a masked token inside
  return v;
}

TEST(RolloutBatch, KeepsGroupsInKeptOrderWithPositionsAndMasks) {
  RolloutBatch b(2);
  auto r = round3();
  b.add_kept(r, {2, 0});  // dynamic sampling kept group 2 first, then group 0; group 1 dropped
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(b.groups_all_ranks(), 2);
  EXPECT_EQ(b[0].traj.prompt_id, 12);
  EXPECT_EQ(b[1].traj.group_index, 1);
  EXPECT_EQ(b[2].traj.prompt_id, 10);
  EXPECT_EQ(b[0].group_pos, 0);
  EXPECT_EQ(b[3].group_pos, 1);
  EXPECT_EQ(b[2].mask, (std::vector<float>{1, 1, 1}));
  EXPECT_EQ(b[3].mask, (std::vector<float>{0}));
  EXPECT_EQ(b[2].text, "p10s0");
  EXPECT_EQ(b.rewards(), (std::vector<double>{0.0, 1.0, 1.0, 0.0}));
  auto r2 = round3();
  b.add_kept(r2, {1});  // a second round: the next position
  EXPECT_EQ(b.groups_all_ranks(), 3);
  EXPECT_EQ(b[5].group_pos, 2);
  EXPECT_EQ(b[5].mask, (std::vector<float>{1, 1, 0, 1}));
  EXPECT_EQ(b.seqs(4, 6)[1].response.size(), 4u);
  EXPECT_EQ(b.seqs(4, 6)[1].prompt[1], 11);
}

TEST(RolloutBatch, RoundGroupsCountCorrectSamplesPerGroup) {
  const RoundGroups g = RoundGroups::gather(round3(), 2);
  EXPECT_EQ(g.prompt_ids, (std::vector<int>{10, 11, 12}));
  EXPECT_EQ(g.n_correct, (std::vector<int>{1, 2, 1}));
  EXPECT_EQ(g.rewards, (std::vector<double>{1, 0, 1, 1, 0, 1}));
}

TEST(RolloutBatch, FlatViewsConcatenateInSampleOrder) {
  RolloutBatch b(2);
  auto r = round3();
  b.add_kept(r, {0, 1});
  for (size_t i = 0; i < b.size(); ++i) {
    b[i].old_logp.assign(size_t(b[i].resp_len()), -0.5f - float(i));
    b[i].advantage = 0.25 * double(i) - 0.3;
  }
  const FlatTokens f = b.flat(1, 4);  // samples 1, 2, 3: 1 + 2 + 4 tokens
  EXPECT_EQ(f.offsets, (std::vector<int64_t>{0, 1, 3, 7}));
  EXPECT_EQ(f.mask, (std::vector<float>{0, 1, 1, 1, 1, 0, 1}));
  EXPECT_EQ(f.old_logp, (std::vector<float>{-1.5f, -2.5f, -2.5f, -3.5f, -3.5f, -3.5f, -3.5f}));
  EXPECT_EQ(f.rollout_logp, (std::vector<float>{-0.1f, -0.1f, -0.2f, -0.1f, -0.2f, -0.3f, -0.4f}));
  EXPECT_EQ(f.seq_advantages, (std::vector<float>{-0.05f, 0.2f, 0.45f}));
  EXPECT_TRUE(f.ref_logp.empty());
  const std::vector<float> logp(7, -1.0f);
  const rl::TokenInputs in = f.inputs(logp, false);
  EXPECT_EQ(in.logp.data(), logp.data());
  EXPECT_TRUE(in.ref_logp.empty());
  EXPECT_TRUE(in.rollout_logp.empty());
  EXPECT_EQ(in.seq_offsets.size(), 4u);
  EXPECT_EQ(f.inputs(logp, true).rollout_logp.size(), 7u);
  // token counts of samples [0, 4): 3 + 0 + 2 + 3 unmasked tokens; sample 1 has none, so 3 sequences
  const rl::BatchCounts c = b.token_counts(0, 4);
  EXPECT_EQ(c.tokens, 8);
  EXPECT_EQ(c.sequences, 3);
  EXPECT_EQ(b.count_samples(1, 4), 3);
  // the largest |old - rollout| log-prob gap: sample 3's first token, |-3.5 - (-0.1)|
  EXPECT_NEAR(b.logp_max_abs_diff(), 3.4, 1e-6);
}

TEST(RolloutBatch, MiniBatchesFollowGroupPositionsAcrossRanks) {
  RolloutBatch b(2);
  auto r = round3();
  b.add_kept(r, {0, 1, 2});
  using R = std::vector<std::pair<size_t, size_t>>;
  EXPECT_EQ(b.mini_batches(3), (R{{0, 6}}));
  EXPECT_EQ(b.mini_batches(2), (R{{0, 4}, {4, 6}}));
  EXPECT_EQ(b.mini_batches(1), (R{{0, 2}, {2, 4}, {4, 6}}));
  // As rank 1 of 2 sees it: it holds the kept groups at positions 1 and 2 only (group 0 was another rank's).
  b.samples().erase(b.samples().begin(), b.samples().begin() + 2);
  EXPECT_EQ(b.mini_batches(2), (R{{0, 2}, {2, 4}}));
  EXPECT_EQ(b.mini_batches(1), (R{{0, 0}, {0, 2}, {2, 4}}));
}

TEST(RolloutBatch, AdvantagesAreGroupNormalisedRewards) {
  RolloutBatch b(2);
  auto r = round3();
  b.add_kept(r, {0, 1});  // rewards (1, 0) and (1, 1)
  rl::RlConfig rc;  // the group size comes from the batch (RolloutBatch(2))
  // group 0: mean 0.5, unbiased std sqrt(0.5); group 1 has zero variance
  const double a = 0.5 / (std::sqrt(0.5) + rc.adv_std_eps);
  const auto adv = b.advantages(rc, b.rewards());
  ASSERT_EQ(adv.size(), 4u);
  EXPECT_NEAR(adv[0], a, 1e-12);
  EXPECT_NEAR(adv[1], -a, 1e-12);
  EXPECT_EQ(adv[2], 0.0);
  EXPECT_EQ(adv[3], 0.0);
  rc.scale_rewards = rl::ScaleRewards::None;  // Dr.GRPO
  EXPECT_NEAR(b.advantages(rc, b.rewards())[1], -0.5, 1e-12);
  EXPECT_THROW(b.advantages(rc, {1.0}), Error);
}

TEST(RolloutBatch, StoreRowsCarryTheRecord) {
  RolloutBatch b(2);
  auto r = round3();
  r[4].traj.segments = {{0, 1, 3}, {1, 2, 5}};  // a partial rollout continued by a newer policy
  r[4].advantage = 0.75;
  b.add_kept(r, {2, 0});
  const auto rows = b.store_rows(7, 6);
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0].step, 7);
  EXPECT_EQ(rows[0].prompt_id, 12);
  EXPECT_EQ(rows[0].group_id, 0);
  EXPECT_EQ(rows[3].group_id, 1);
  EXPECT_EQ(rows[3].group_index, 1);
  EXPECT_EQ(rows[0].text, "p12s0");
  EXPECT_EQ(rows[0].n_tokens, 2);
  EXPECT_EQ(rows[0].finish_reason, "stop");
  EXPECT_EQ(rows[0].advantage, 0.75);
  EXPECT_EQ(rows[1].reward, 1.0);
  EXPECT_TRUE(rows[1].correct);
  EXPECT_EQ(rows[1].reward_components.at("accuracy"), 1.0);
  EXPECT_EQ(rows[0].policy_version_min, 3);
  EXPECT_EQ(rows[0].policy_version_max, 5);
  ASSERT_EQ(rows[0].segments.size(), 2u);
  EXPECT_EQ(rows[0].segments[1].policy_version, 5);
  EXPECT_EQ(rows[0].segments[1].n_tokens, 1);
  EXPECT_EQ(rows[1].policy_version_min, 6);  // no segments: all by the step's policy
  EXPECT_EQ(rows[1].policy_version_max, 6);
}

// A small run: SFT, then RL steps whose trainer log-probs must reproduce the sampler's (same weights at step start).
TEST(RolloutBatch, TrainerLogprobsMatchTheSamplersInASmallRun) {
  const std::string sft = run_sft(testing::tiny_sft_config(testing::scratch_dir("rollout_batch_sft"), 20)).checkpoint;
  TrainConfig c = testing::tiny_train_config(testing::scratch_dir("rollout_batch_rl"), sft, 2);
  c.rollout.sampling_params.temperature = 0.9f;
  c.rollout.sampling_params.top_k = 20;  // the trainer must apply the sampler's truncation too
  run_train(c, false);
  const auto m = testing::read_metrics(c.run_dir + "/metrics.jsonl");
  ASSERT_EQ(m.size(), 2u);
  for (const auto& [step, kv] : m) {
    ASSERT_TRUE(kv.count("rollout/logp_max_abs_diff")) << "step " << step;
    EXPECT_LT(kv.at("rollout/logp_max_abs_diff"), 1e-4) << "step " << step;
    EXPECT_EQ(kv.at("samples"), 12) << "step " << step;  // 3 prompts x 4
  }
}

}  // namespace
}  // namespace reasonrl::train

// Tests of `reasonrl difficulty` (rl/long2short/difficulty.h): the pass-rate table against an independent grading of
// the same sampled answers, curation at the threshold, the curated JSONL read back by the loader, reproducibility.
#include "rl/long2short/difficulty.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "datasets/jsonl_loader.h"
#include "rewards/reward.h"
#include "rl/train/sft.h"
#include "rl/train/task_data.h"
#include "tests/train/train_test_util.h"

namespace reasonrl::long2short {
namespace {

using train::testing::scratch_dir;

Candidate cand(bool correct) {
  Candidate c;
  c.text = correct ? "<think>x</think><answer>1</answer>" : "no";
  c.n_tokens = 3;
  c.correct = correct;
  return c;
}

// Key order does not matter (meta keys may come back in another order).
nlohmann::json unordered(const json& j) { return nlohmann::json::parse(j.dump()); }

std::vector<datasets::Example> numbered_examples(int n) {
  std::vector<datasets::Example> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    v[size_t(i)].id = "q" + std::to_string(i);
    v[size_t(i)].prompt = "question " + std::to_string(i);
    v[size_t(i)].answer = "1";
  }
  return v;
}

// Prompt i gets correct[i] right answers out of k.
std::vector<PromptSamples> samples_with(const std::vector<int>& correct, int k) {
  std::vector<PromptSamples> ps(correct.size());
  for (size_t i = 0; i < correct.size(); ++i) {
    ps[i].example = i;
    for (int j = 0; j < k; ++j) ps[i].samples.push_back(cand(j < correct[i]));
  }
  return ps;
}

TEST(DifficultyTally, CurationDropsExactlyThePromptsAboveTheThreshold) {
  const auto ex = numbered_examples(6);  // q0..q4 measured, q5 not
  sampler::CurationConfig c;
  c.max_pass_rate = 0.75;  // 6/8 is kept (not above), 7/8 and 8/8 are dropped
  const auto r = tally_difficulty(ex, samples_with({0, 6, 7, 8, 3}, 8), 8, c);
  EXPECT_EQ(r.measured, 5);
  EXPECT_EQ(r.examples, 6);
  EXPECT_EQ(r.n_correct, (std::vector<int>{0, 6, 7, 8, 3}));
  EXPECT_EQ(r.histogram, (std::vector<int>{1, 0, 0, 1, 0, 0, 1, 1, 1}));
  EXPECT_DOUBLE_EQ(r.mean_pass_rate, (0 + 6 + 7 + 8 + 3) / 40.0);
  EXPECT_DOUBLE_EQ(*r.table.rate("q1"), 0.75);
  EXPECT_FALSE(r.table.rate("q5").has_value());
  ASSERT_EQ(r.curated.size(), 4u);  // q0, q1, q4, and q5 (not measured, keep_unknown)
  EXPECT_EQ(r.curated[0].id, "q0");
  EXPECT_EQ(r.curated[1].id, "q1");
  EXPECT_EQ(r.curated[2].id, "q4");
  EXPECT_EQ(r.curated[3].id, "q5");
  EXPECT_EQ(r.kept, 4);
  EXPECT_EQ(r.dropped_easy, 2);
  EXPECT_EQ(r.dropped_hard, 0);
  EXPECT_EQ(r.dropped_unknown, 0);

  c.min_pass_rate = 0.1;  // 0/8 is now too hard; the unmeasured prompt goes too
  c.keep_unknown = false;
  const auto s = tally_difficulty(ex, samples_with({0, 6, 7, 8, 3}, 8), 8, c);
  ASSERT_EQ(s.curated.size(), 2u);
  EXPECT_EQ(s.curated[0].id, "q1");
  EXPECT_EQ(s.curated[1].id, "q4");
  EXPECT_EQ(s.dropped_easy, 2);
  EXPECT_EQ(s.dropped_hard, 1);
  EXPECT_EQ(s.dropped_unknown, 1);

  const std::string text = difficulty_summary(r, sampler::CurationConfig{});
  EXPECT_NE(text.find("mean pass rate:   0.600"), std::string::npos) << text;
  EXPECT_NE(text.find("2 too easy"), std::string::npos) << text;
}

TEST(DifficultyConfig, UnknownKeysAndBadValuesAreRejected) {
  DifficultyConfig c;
  EXPECT_EQ(c.num_samples, 8);
  EXPECT_DOUBLE_EQ(c.temperature, 1.0);
  EXPECT_DOUBLE_EQ(c.curation.max_pass_rate, 0.9);
  for (const char* bad : {R"({"num_sample": 4})", R"({"curation": {"max_rate": 0.5}})",
                          R"({"curation": {"max_pass_rate": 1.5}})", R"({"num_samples": 0})", R"({"seed": "x"})"}) {
    DifficultyConfig d;  // a failed apply may leave fields half-set: a fresh config each time
    EXPECT_THROW(config_apply_json(d, json::parse(bad), "test"), ConfigError) << bad;
  }
  config_apply_json(c, json::parse(R"({"num_samples": 4, "data": {"train_size": 3}})"), "test");
  EXPECT_EQ(c.num_samples, 4);
  EXPECT_EQ(c.data.train_size, 3);
  EXPECT_THROW(run_difficulty(c), ConfigError);  // no checkpoint
  c.checkpoint = scratch_dir("difficulty_empty");
  EXPECT_THROW(run_difficulty(c), IoError);  // not a checkpoint
}

// A tiny model that memorised the first 16 of 32 arithmetic prompts (300 SFT steps, about 2 s): those are answered
// right nearly always, the 16 it never saw rarely. Synthetic generation is prefix-stable, so the 16 are the first 16.
class DifficultyRun : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // ctest runs each case as its own process, maybe in parallel: one scratch SFT per process
    sft_dir_ = new std::string(scratch_dir("difficulty_sft_" + std::to_string(::getpid())));
    auto sc = train::testing::tiny_sft_config(*sft_dir_, kSftSteps);
    sc.data.train_size = kSeen;
    sc.data.heldout_size = 0;
    sc.threads = 1;
    checkpoint_ = new std::string(train::run_sft(sc).checkpoint);
    data_ = new train::DataConfig(sc.data);
    data_->train_size = kMeasured;
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(*sft_dir_, ec);
    delete sft_dir_;
    delete data_;
    delete checkpoint_;
  }
  static DifficultyConfig config(const std::string& name, uint64_t seed) {
    DifficultyConfig c;
    c.checkpoint = *checkpoint_;
    c.run_dir = scratch_dir(name);
    c.threads = 1;
    c.data = *data_;
    c.max_completion_length = 24;
    c.seed = seed;
    c.curation.max_pass_rate = 0.5;
    return c;
  }
  static constexpr int kSftSteps = 300, kSeen = 16, kMeasured = 32;
  static inline train::DataConfig* data_ = nullptr;
  static inline std::string* checkpoint_ = nullptr;
  static inline std::string* sft_dir_ = nullptr;
};

TEST_F(DifficultyRun, TableMatchesAnIndependentGradingOfTheSampledAnswers) {
  const auto c = config("difficulty_a", 11);
  const DifficultyResult r = run_difficulty(c);
  const auto ex = train::load_task_data(c.data).train;
  ASSERT_EQ(r.measured, kMeasured);
  ASSERT_EQ(r.samples.size(), size_t(kMeasured));
  const auto table = sampler::PassRateTable::load(c.run_dir + "/pass_rates.jsonl");
  EXPECT_EQ(table.size(), size_t(kMeasured));

  // Grade every sampled answer again with the accuracy reward itself (not through the command's grader).
  auto accuracy = rewards::make_reward("accuracy", json::object());
  int total_correct = 0, all_right = 0;
  double sum = 0;
  for (size_t i = 0; i < r.samples.size(); ++i) {
    const auto& p = r.samples[i];
    ASSERT_EQ(p.example, i);
    ASSERT_EQ(p.samples.size(), 8u);
    std::vector<rewards::RewardInput> group;
    for (const auto& s : p.samples) {
      rewards::RewardInput in;
      in.response = s.text;
      in.gold = ex[i].answer;
      group.push_back(in);
    }
    const auto scores = accuracy->score_group(group, rewards::GroupContext{});
    int correct = 0;
    for (const auto& s : scores) correct += s.correct.value_or(false);
    total_correct += correct;
    all_right += correct == 8;
    sum += correct / 8.0;
    ASSERT_TRUE(table.rate(ex[i].id).has_value()) << ex[i].id;
    EXPECT_DOUBLE_EQ(*table.rate(ex[i].id), correct / 8.0) << ex[i].id;
    EXPECT_EQ(r.n_correct[i], correct) << ex[i].id;
  }
  EXPECT_NEAR(r.mean_pass_rate, sum / kMeasured, 1e-12);
  // The comparison means something only if the model gets some answers right and some wrong.
  std::string hist;
  for (int h : r.histogram) hist += std::to_string(h) + " ";
  std::printf("correct-of-8 histogram: %s\n", hist.c_str());
  EXPECT_GT(total_correct, 0);
  EXPECT_LT(all_right, kMeasured);
}

TEST_F(DifficultyRun, CuratedJsonlHoldsExactlyThePromptsAtOrBelowTheThresholdAndRoundTrips) {
  const auto c = config("difficulty_b", 11);
  const DifficultyResult r = run_difficulty(c);
  const auto ex = train::load_task_data(c.data).train;
  std::vector<datasets::Example> expect;
  int easy = 0;
  for (size_t i = 0; i < ex.size(); ++i) {
    if (r.n_correct[i] / 8.0 > c.curation.max_pass_rate) ++easy;
    else expect.push_back(ex[i]);
  }
  EXPECT_EQ(r.dropped_easy, easy);
  EXPECT_EQ(r.kept, int(expect.size()));
  // The memorised prompts are too easy, the unseen ones are not: the filter has something to do both ways.
  EXPECT_GT(easy, kSeen / 2);
  EXPECT_GT(r.kept, kSeen / 2);

  const auto back = datasets::load_jsonl(c.run_dir + "/curated.jsonl", datasets::DatasetConfig{});
  ASSERT_EQ(back.size(), expect.size());
  for (size_t i = 0; i < back.size(); ++i)
    EXPECT_EQ(unordered(datasets::example_to_json(back[i])), unordered(datasets::example_to_json(expect[i]))) << i;
}

TEST_F(DifficultyRun, SameSeedSameTableOtherSeedOtherSamples) {
  const auto a = run_difficulty(config("difficulty_s1", 5));
  const auto b = run_difficulty(config("difficulty_s2", 5));
  const auto d = run_difficulty(config("difficulty_s3", 6));
  EXPECT_EQ(read_file(a.pass_rates_path), read_file(b.pass_rates_path));
  EXPECT_EQ(read_file(a.output_path), read_file(b.output_path));
  EXPECT_EQ(a.n_correct, b.n_correct);
  bool differ = false;
  for (size_t i = 0; i < a.samples.size(); ++i)
    for (size_t j = 0; j < a.samples[i].samples.size(); ++j)
      differ |= a.samples[i].samples[j].text != d.samples[i].samples[j].text;
  EXPECT_TRUE(differ);
}

}  // namespace
}  // namespace reasonrl::long2short

// Reward failures in real tiny runs (SFT, then RL with a shared-library plugin that fails on request, in its worker
// process): rewards.on_error fail (the default) stops the run naming the reward; skip_sample leaves the failed samples
// out of the loss (advantage 0, the group's others normalised among themselves, checked against GRPO computed here
// from the stored rewards); zero counts the failed component as 0; every mode counts reward/errors/<name> per step and
// stores each failure in sample_rewards.error; a plugin that segfaults on every call does not take the trainer down.
#include <unistd.h>

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <sstream>

#include "rl/store/inspect.h"
#include "rl/store/store.h"
#include "rl/train/sft.h"
#include "rl/train/trainer.h"
#include "rl/util/error.h"
#include "tests/train/train_test_util.h"

namespace reasonrl::train {
namespace {

using testing::scratch_dir;

struct Row {
  int64_t step, group;
  std::string text;
  double reward, advantage, accuracy;
  std::optional<double> plugin;
  std::optional<std::string> error;
};

std::vector<Row> stored_rows(const TrainConfig& c, const std::string& plugin) {
  auto st = store::RolloutStore::open(c.run_dir + "/" + c.store.file, true);
  store::Stmt q = st.db().prepare(
      "SELECT s.step, s.group_id, s.text, s.reward, s.advantage, a.value, p.value, p.error FROM samples s "
      "JOIN sample_rewards a ON a.sample_id = s.id AND a.component = 'accuracy' "
      "JOIN sample_rewards p ON p.sample_id = s.id AND p.component = ?1 ORDER BY s.id");
  q.bind(1, plugin);
  std::vector<Row> rows;
  while (q.step()) {
    Row r{q.i64(0), q.i64(1), q.text(2), q.f64(3), q.f64(4), q.f64(5), std::nullopt, std::nullopt};
    if (!q.is_null(6)) r.plugin = q.f64(6);
    if (!q.is_null(7)) r.error = q.text(7);
    rows.push_back(r);
  }
  return rows;
}

// GRPO's group-normalised advantages (TRL: (r - mean) / (unbiased std + 1e-4), 0 for a group of equal rewards),
// written out here independently of rl/core.
std::vector<double> grpo(const std::vector<double>& r) {
  if (r.size() < 2) return std::vector<double>(r.size(), 0.0);
  double m = 0;
  for (double x : r) m += x;
  m /= double(r.size());
  double ss = 0;
  for (double x : r) ss += (x - m) * (x - m);
  if (std::sqrt(ss / double(r.size())) <= 1e-9) return std::vector<double>(r.size(), 0.0);
  const double sd = std::sqrt(ss / double(r.size() - 1));
  std::vector<double> a;
  for (double x : r) a.push_back((x - m) / (sd + 1e-4));
  return a;
}

class RewardErrors : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sft_ = run_sft(testing::tiny_sft_config(scratch_dir("reward_errors_sft_" + std::to_string(::getpid())), 10)).checkpoint;
  }
  // GRPO with accuracy + "flaky" (an error for every response of even length, else its length in bytes).
  TrainConfig config(const std::string& name, rewards::RewardErrorMode mode, const std::string& options = R"({"flaky": true})") {
    TrainConfig c = testing::tiny_train_config(scratch_dir(name), sft_, 2);
    rewards::PluginSpec p;
    p.name = "flaky";
    p.kind = rewards::PluginKind::SharedLibrary;
    p.path = MISBEHAVING_PLUGIN_SO;
    p.options = options;
    p.max_restarts = 1;
    c.rewards.rewards = {"accuracy", "flaky"};
    c.rewards.weights = {{"flaky", 0.01}};
    c.rewards.plugins = {p};
    c.rewards.on_error = mode;
    c.rollout.sampling_params.temperature = 1.0f;
    return c;
  }
  static std::string sft_;
};
std::string RewardErrors::sft_;

TEST_F(RewardErrors, FailIsTheDefaultAndStopsTheRunNamingTheReward) {
  TrainConfig c = config("reward_errors_fail", rewards::RewardErrorMode::Fail);
  EXPECT_EQ(TrainConfig().rewards.on_error, rewards::RewardErrorMode::Fail);
  try {
    run_train(c, false);
    FAIL() << "a reward that failed on samples of step 1 went unnoticed";
  } catch (const RewardError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("step 1: the reward failed on"), std::string::npos) << m;
    EXPECT_NE(m.find("flaky"), std::string::npos) << m;
    EXPECT_NE(m.find("flaky: even length"), std::string::npos) << m;  // the first message
    EXPECT_NE(m.find("rewards.max_error_fraction"), std::string::npos) << m;
  }
  EXPECT_TRUE(testing::read_metrics(c.run_dir + "/metrics.jsonl").empty()) << "the failed step was recorded";
}

TEST_F(RewardErrors, SkipSampleLeavesFailedSamplesOutOfTheLoss) {
  TrainConfig c = config("reward_errors_skip", rewards::RewardErrorMode::SkipSample);
  run_train(c, false);
  const auto m = testing::read_metrics(c.run_dir + "/metrics.jsonl");
  const auto rows = stored_rows(c, "flaky");
  ASSERT_EQ(m.size(), 2u);
  ASSERT_EQ(rows.size(), 24u);
  std::map<int64_t, int> errors;
  std::map<std::pair<int64_t, int64_t>, std::vector<const Row*>> groups;
  // the plugin's view of the response's length (what make_reward_input gives it, not the stored text's length)
  auto seen_len = [](const Row& r) {
    if (r.plugin) return size_t(*r.plugin);
    return size_t(std::stoul(r.error->substr(r.error->rfind(' ') + 1)));
  };
  for (const auto& r : rows) {
    ASSERT_TRUE(r.plugin.has_value() != r.error.has_value()) << "a failed component must be NULL, a working one its value";
    const size_t len = seen_len(r);
    EXPECT_EQ(r.error.has_value(), len % 2 == 0) << r.text;
    if (r.error) {
      EXPECT_EQ(*r.error, "flaky: even length " + std::to_string(len));
      EXPECT_EQ(r.advantage, 0.0) << "a skipped sample must have no advantage";
      EXPECT_EQ(r.reward, r.accuracy);
      ++errors[r.step];
    } else {
      EXPECT_NEAR(r.reward, r.accuracy + 0.01 * double(len), 1e-12);
    }
    groups[{r.step, r.group}].push_back(&r);
  }
  int total_errors = 0;
  for (const auto& [step, kv] : m) {
    EXPECT_EQ(kv.at("reward/errors/flaky"), errors[step]) << "step " << step;
    EXPECT_EQ(kv.at("reward/errors/accuracy"), 0.0);
    EXPECT_NEAR(kv.at("reward/error_frac"), errors[step] / 12.0, 1e-12);
    total_errors += errors[step];
  }
  ASSERT_GT(total_errors, 0) << "no response of even length: the test saw no failure";
  {  // inspect show: the failure, not "n/a"
    auto st = store::RolloutStore::open(c.run_dir + "/" + c.store.file, true);
    const int64_t id = st.db().scalar_i64("SELECT sample_id FROM sample_rewards WHERE error IS NOT NULL LIMIT 1");
    const auto j = store::sample_json(st, id);
    ASSERT_TRUE(j["reward_errors"].contains("flaky")) << j.dump();
    EXPECT_TRUE(j["reward_components"]["flaky"].is_null());
    std::ostringstream os;
    store::print_sample(os, j);
    EXPECT_NE(os.str().find("flaky     failed: flaky: even length"), std::string::npos) << os.str();
  }
  // the others' advantages: GRPO over the group's samples whose reward did not fail
  for (const auto& [key, g] : groups) {
    std::vector<double> r;
    for (const Row* x : g)
      if (!x->error) r.push_back(x->reward);
    const auto a = grpo(r);
    size_t j = 0;
    for (const Row* x : g)
      if (!x->error) {
        EXPECT_NEAR(x->advantage, a[j++], 1e-9) << "step " << key.first << " group " << key.second;
      }
  }
}

TEST_F(RewardErrors, ZeroCountsTheFailedComponentAsZero) {
  TrainConfig c = config("reward_errors_zero", rewards::RewardErrorMode::Zero);
  c.steps = 1;
  run_train(c, false);
  const auto rows = stored_rows(c, "flaky");
  ASSERT_EQ(rows.size(), 12u);
  std::map<int64_t, std::vector<const Row*>> groups;
  int errors = 0;
  for (const auto& r : rows) {
    errors += r.error.has_value();
    EXPECT_NEAR(r.reward, r.accuracy + (r.plugin ? 0.01 * *r.plugin : 0.0), 1e-12);
    groups[r.group].push_back(&r);
  }
  ASSERT_GT(errors, 0);
  EXPECT_EQ(testing::read_metrics(c.run_dir + "/metrics.jsonl").at(1).at("reward/errors/flaky"), errors);
  for (const auto& [g, rs] : groups) {
    std::vector<double> r;
    for (const Row* x : rs) r.push_back(x->reward);
    const auto a = grpo(r);
    for (size_t i = 0; i < rs.size(); ++i) EXPECT_NEAR(rs[i]->advantage, a[i], 1e-9);
  }
}

TEST_F(RewardErrors, APluginThatSegfaultsDoesNotKillTheTrainer) {
  TrainConfig c = config("reward_errors_segv", rewards::RewardErrorMode::SkipSample, R"({"segv_always": true})");
  const TrainResult res = run_train(c, false);
  EXPECT_EQ(res.steps_done, 2);
  const auto m = testing::read_metrics(c.run_dir + "/metrics.jsonl");
  ASSERT_EQ(m.size(), 2u);
  for (const auto& [step, kv] : m) EXPECT_EQ(kv.at("reward/errors/flaky"), 12.0) << "step " << step;
  const auto rows = stored_rows(c, "flaky");
  ASSERT_EQ(rows.size(), 24u);
  for (const auto& r : rows) {
    ASSERT_TRUE(r.error.has_value());
    EXPECT_EQ(r.advantage, 0.0);
  }
  EXPECT_NE(rows.front().error->find("crashed (signal 11)"), std::string::npos) << *rows.front().error;
  EXPECT_NE(rows.back().error->find("disabled after 1 restarts"), std::string::npos) << *rows.back().error;
}

}  // namespace
}  // namespace reasonrl::train

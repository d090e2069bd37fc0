// Tests for pass-rate tables (save/load, accumulation) and Kimi-style curation of too-easy prompts.
#include "sampler/pass_rates.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "rl/util/error.h"

namespace reasonrl::sampler {
namespace {

std::vector<datasets::Example> examples() {
  std::vector<datasets::Example> v(4);
  for (int i = 0; i < 4; ++i) {
    v[size_t(i)].id = "p" + std::to_string(i);
    v[size_t(i)].difficulty = i;
  }
  return v;
}

TEST(PassRates, SaveLoadAndCurate) {
  PassRateTable t;
  t.add("p0", 10, 10);
  t.add("p1", 3, 10);
  t.add("p2", 0, 5);
  t.add("p2", 0, 5);
  EXPECT_DOUBLE_EQ(*t.rate("p1"), 0.3);
  EXPECT_FALSE(t.rate("p3").has_value());
  const std::string path = std::string(REASONRL_BINARY_DIR) + "/test_pass_rates.jsonl";
  t.save(path);
  const auto u = PassRateTable::load(path);
  EXPECT_EQ(u.size(), 3u);
  EXPECT_DOUBLE_EQ(*u.rate("p2"), 0.0);
  CurationConfig c;  // drop > 0.9
  EXPECT_EQ(curate_by_pass_rate(examples(), u, c), (std::vector<int>{1, 2, 3}));
  c.min_pass_rate = 0.1;
  c.keep_unknown = false;
  EXPECT_EQ(curate_by_pass_rate(examples(), u, c), (std::vector<int>{1}));
  const auto m = make_prompt_meta(examples(), &u);
  EXPECT_DOUBLE_EQ(m[0].pass_rate, 1.0);
  EXPECT_DOUBLE_EQ(m[3].pass_rate, -1.0);
  EXPECT_EQ(m[3].difficulty, 3);
  write_file_atomic(path, "{\"format\":\"reasonrl.pass_rates\",\"version\":1}\n{\"id\":\"x\",\"n_correct\":5,\"n_total\":2}\n");
  try {
    PassRateTable::load(path);
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(":2:"), std::string::npos) << e.what();
  }
  write_file_atomic(path, "{\"id\":\"x\",\"n_correct\":1,\"n_total\":2}\n");
  EXPECT_THROW(PassRateTable::load(path), FormatError);
  std::filesystem::remove(path);
}

// The pass rates measured by `reasonrl difficulty` reach the sampler as its starting success rates: the sampler
// config names the table (the key "pass_rates", parsed like any config file), the trainer's metadata call joins it to
// the training examples by id, and the prioritized weights follow max(1 - rate, floor) until a prompt has rollouts.
// Before this, no config key named a table and the trainer built the metadata from difficulty labels alone.
TEST(PassRates, ReachTheSamplerAsStartingSuccessRates) {
  PassRateTable t;
  t.add("p0", 8, 8);
  t.add("p1", 1, 4);
  t.add("p2", 0, 8);
  const std::string path = std::string(REASONRL_BINARY_DIR) + "/test_pass_rates_sampler.jsonl";
  t.save(path);
  SamplerConfig c;
  config_apply_json(c, json{{"type", "prioritized"}, {"floor", 0.05}, {"prior", 0.5}, {"pass_rates", path}}, "test");
  auto s = make_prompt_sampler(c, make_prompt_meta(examples(), c));
  EXPECT_DOUBLE_EQ(s->success_rate(0), 1.0);
  EXPECT_DOUBLE_EQ(s->success_rate(1), 0.25);
  EXPECT_DOUBLE_EQ(s->success_rate(2), 0.0);
  EXPECT_DOUBLE_EQ(s->success_rate(3), 0.5);  // not measured: the prior
  const double w[4] = {0.05, 0.75, 1.0, 0.5}, sum = 0.05 + 0.75 + 1.0 + 0.5;
  const auto p = s->probabilities();
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(p[size_t(i)], w[i] / sum, 1e-12) << i;
  // Rollouts take over from the offline rate.
  s->update(0, 0, 4, 0);
  EXPECT_DOUBLE_EQ(s->success_rate(0), 0.0);
  // The rates the run started from are part of the checkpoint: a resumed sampler has them even without the file.
  const json st = s->state();
  SamplerConfig plain = c;
  plain.pass_rates.clear();
  auto r = make_prompt_sampler(plain, make_prompt_meta(examples(), plain));
  EXPECT_DOUBLE_EQ(r->success_rate(1), 0.5);
  r->load_state(st);
  EXPECT_DOUBLE_EQ(r->success_rate(1), 0.25);
  EXPECT_DOUBLE_EQ(r->success_rate(0), 0.0);
  EXPECT_EQ(r->probabilities(), s->probabilities());
  // A table of another dataset (no id matches) is an error naming the file; a missing file too.
  PassRateTable other;
  other.add("q9", 1, 2);
  other.save(path);
  try {
    make_prompt_meta(examples(), c);
    FAIL() << "a table matching no example was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
  EXPECT_THROW(make_prompt_meta(examples(), c), IoError);
}

}  // namespace
}  // namespace reasonrl::sampler

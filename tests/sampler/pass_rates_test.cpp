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

}  // namespace
}  // namespace reasonrl::sampler

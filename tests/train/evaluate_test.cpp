// write_eval_samples (eval.save_samples): the file's header and one row per prompt, read back; an unwritable run
// directory is an IoError naming the path. pass_at_k against the definition by enumeration, and when it is due.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "rl/train/evaluate.h"
#include "rl/util/error.h"

namespace reasonrl::train {
namespace {

TEST(EvalSamples, WrittenAndReadBack) {
  const std::string dir = (std::filesystem::temp_directory_path() / ("eval_samples_" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(dir);
  std::vector<datasets::Example> ex(3);
  ex[0].id = "a";
  ex[1].id = "b";
  ex[2].id = "c";
  EvalResult r;
  r.samples = {{0, "<think>try 1+2=3 = 3</think><answer>1+2</answer>", 14, "stop", true},
               {2, "cut \xe2\x89", 3, "length", false}};  // a response cut inside a UTF-8 character
  write_eval_samples(dir, 250, ex, r);
  std::ifstream f(dir + "/eval_samples/step_250.jsonl");
  ASSERT_TRUE(f.good());
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(f, line)) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["format"], "reasonrl.eval_samples");
  EXPECT_EQ(rows[0]["version"], 1);
  EXPECT_EQ(rows[0]["step"], 250);
  EXPECT_EQ(rows[1]["id"], "a");
  EXPECT_EQ(rows[1]["response"], r.samples[0].response);
  EXPECT_EQ(rows[1]["n_tokens"], 14);
  EXPECT_EQ(rows[1]["finish_reason"], "stop");
  EXPECT_EQ(rows[1]["correct"], true);
  EXPECT_EQ(rows[2]["id"], "c");
  EXPECT_EQ(rows[2]["response"], "cut \xef\xbf\xbd");  // the broken byte is replaced, the line stays valid JSON
  EXPECT_EQ(rows[2]["correct"], false);
  std::filesystem::remove_all(dir);

  // a run directory that is a file: the samples cannot be written
  const std::string file = dir + "_file";
  std::ofstream(file) << "x";
  EXPECT_THROW(write_eval_samples(file, 1, ex, r), IoError);
  std::filesystem::remove(file);

  // sampled_correct is written only for prompts of an evaluation that measured pass@k
  r.samples[0].sampled_correct = 5;
  write_eval_samples(dir, 7, ex, r);
  std::ifstream g(dir + "/eval_samples/step_7.jsonl");
  rows.clear();
  while (std::getline(g, line)) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1]["sampled_correct"], 5);
  EXPECT_FALSE(rows[2].contains("sampled_correct"));
  std::filesystem::remove_all(dir);
}

// pass@k = the share of the k-subsets of the n samples (drawn without replacement) that hold a correct one: counted by
// enumerating every subset, independently of the product formula.
TEST(PassAtK, EqualsTheShareOfSubsetsWithACorrectSample) {
  for (int n = 1; n <= 12; ++n)
    for (int c = 0; c <= n; ++c)
      for (int k = 1; k <= n; ++k) {
        long long subsets = 0, hit = 0;
        for (unsigned mask = 0; mask < (1u << n); ++mask) {
          if (__builtin_popcount(mask) != k) continue;
          ++subsets;
          hit += (mask & ((1u << c) - 1)) != 0;  // samples 0..c-1 are the correct ones
        }
        EXPECT_NEAR(pass_at_k(n, c, k), double(hit) / double(subsets), 1e-12) << n << " " << c << " " << k;
      }
  EXPECT_DOUBLE_EQ(pass_at_k(8, 1, 1), 0.125);  // pass@1 is the sampled accuracy c / n
  EXPECT_THROW(pass_at_k(4, 1, 5), ConfigError);
  EXPECT_THROW(pass_at_k(4, 5, 2), ConfigError);
  EXPECT_THROW(pass_at_k(4, -1, 2), ConfigError);
}

TEST(PassAtK, DueAtTheEdgesAndEveryNSteps) {
  EvalConfig c;
  EXPECT_FALSE(pass_k_due(c, 0, true));  // off by default
  c.pass_k_samples = 8;
  EXPECT_TRUE(pass_k_due(c, 0, true));
  EXPECT_FALSE(pass_k_due(c, 100, false));
  c.pass_k_every = 100;
  EXPECT_TRUE(pass_k_due(c, 200, false));
  EXPECT_FALSE(pass_k_due(c, 150, false));
  c.pass_k_samples = 4;
  EXPECT_THROW(c.validate(), ConfigError);  // fewer samples than k
}

}  // namespace
}  // namespace reasonrl::train

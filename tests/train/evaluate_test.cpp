// write_eval_samples (eval.save_samples): the file's header and one row per prompt, read back; an unwritable run
// directory is an IoError naming the path.
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
}

}  // namespace
}  // namespace reasonrl::train

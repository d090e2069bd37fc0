// `reasonrl score` as a user runs it: --explain says how each row was graded; a row that is not valid JSON or UTF-8 is
// reported by line and counted while the rest is scored (exit 1), and --strict-input rejects the whole file; a reward
// that fails on a row is counted apart from n/a and bounded by --on_error / --max_error_fraction.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cli/cli_run.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

using Out = reasonrl::testing::CliOut;

class ScoreCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("reasonrl_score_cli_" + std::to_string(getpid()));
    fs::create_directories(dir_);
    input_ = (dir_ / "in.jsonl").string();
    std::ofstream f(input_, std::ios::binary);
    f << R"({"prompt":"a","response":"so \\boxed{1.5}","gold":"\\frac32"})" << "\n"
      << R"({"prompt":"b","response":"\\boxed{-5}","gold":"5"})" << "\n"
      << "this is not json\n"
      << "{\"prompt\":\"c\",\"response\":\"\xff\xfe\",\"gold\":\"1\"}\n"
      << R"({"prompt":"d","response":"The answer is 10:30 a.m.","gold":"10:30 a.m."})" << "\n";
  }
  void TearDown() override { fs::remove_all(dir_); }

  Out run(const std::string& args) {
    return reasonrl::testing::run_reasonrl("score --rewards accuracy --input " + input_ + " " + args, dir_);
  }

  fs::path dir_;
  std::string input_;
};

TEST_F(ScoreCli, BadRowsAreReportedAndTheRestIsScored) {
  const Out o = run("--jsonl --explain");
  EXPECT_EQ(o.rc, 1) << o.err;
  EXPECT_NE(o.err.find("2 row(s) could not be read (lines 3, 4)"), std::string::npos) << o.err;
  std::vector<json> rows, bad;
  std::istringstream in(o.out);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] != '{') continue;
    json j = json::parse(line);
    (j.contains("input_error") ? bad : rows).push_back(j);
  }
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_EQ(bad[0]["line"], 3);
  EXPECT_NE(bad[0]["input_error"].get<std::string>().find("invalid JSON"), std::string::npos);
  EXPECT_EQ(bad[1]["line"], 4);
  EXPECT_NE(bad[1]["input_error"].get<std::string>().find("not valid UTF-8"), std::string::npos);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["line"], 1);
  EXPECT_EQ(rows[0]["correct"], true);
  EXPECT_EQ(rows[0]["explain"]["prediction"]["extracted"], "1.5");
  EXPECT_EQ(rows[0]["explain"]["gold"]["value"], "3/2");
  EXPECT_EQ(rows[0]["explain"]["rule"], "exact");
  EXPECT_EQ(rows[1]["correct"], false);
  EXPECT_EQ(rows[1]["explain"]["prediction"]["canonical"], "(-5)");
  EXPECT_EQ(rows[1]["explain"]["verdict"], "not_equal");
  EXPECT_EQ(rows[2]["line"], 5);
  EXPECT_EQ(rows[2]["explain"]["rule"], "clock_time");
  EXPECT_EQ(rows[2]["correct"], true);
}

TEST_F(ScoreCli, StrictInputRejectsTheFile) {
  const Out o = run("--strict-input");
  EXPECT_EQ(o.rc, 1);
  EXPECT_NE(o.err.find(":3: invalid JSON"), std::string::npos) << o.err;
  EXPECT_EQ(o.out.find("row "), std::string::npos) << o.out;
}

TEST_F(ScoreCli, TextExplanation) {
  const Out o = run("--explain");
  EXPECT_NE(o.out.find("rule exact  verdict equal"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("line     4  input error"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("2 input error rows"), std::string::npos) << o.out;
}

// A token count past int's range is an input error naming the line and key (it used to wrap: 2^32 + 95 read as 95).
TEST_F(ScoreCli, ATokenCountOutOfRangeIsAnInputErrorNotAWrap) {
  const std::string in = (dir_ / "counts.jsonl").string();
  std::ofstream(in) << R"({"prompt":"a","response":"\\boxed{1}","gold":"1","response_tokens":10})" << "\n"
                    << R"({"prompt":"b","response":"\\boxed{1}","gold":"1","response_tokens":4294967391})" << "\n"
                    << R"({"prompt":"c","response":"\\boxed{1}","gold":"1","max_response_tokens":-3})" << "\n";
  const Out o = reasonrl::testing::run_reasonrl("score --rewards accuracy --input " + in, dir_);
  EXPECT_EQ(o.rc, 1) << o.err;  // unread rows fail the command after every row is printed
  EXPECT_NE(o.err.find("2 row(s) could not be read (lines 2, 3)"), std::string::npos) << o.err;
  EXPECT_NE(o.out.find("counts.jsonl:2: 'response_tokens' = 4294967391 is not a token count"), std::string::npos)
      << o.out;
  EXPECT_NE(o.out.find("counts.jsonl:3: 'max_response_tokens' = -3 is not a token count"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("2 input error rows"), std::string::npos) << o.out;
}

// overlong needs response_tokens: row 3 has none, so the component fails there (an error, not n/a, never a 0).
TEST_F(ScoreCli, RewardFailuresAreCountedAndBoundedByOnError) {
  const std::string in = (dir_ / "fail.jsonl").string();
  std::ofstream(in) << R"({"prompt":"a","response":"\\boxed{1}","gold":"1","response_tokens":10})" << "\n"
                    << R"({"prompt":"b","response":"\\boxed{2}","gold":"1","response_tokens":95})" << "\n"
                    << R"({"prompt":"c","response":"\\boxed{1}","gold":"1"})" << "\n";
  auto score = [&](const std::string& args) {
    return reasonrl::testing::run_reasonrl("score --rewards accuracy,overlong --overlong.max_completion_len 100 "
                                           "--overlong.soft_punish_cache 10 --input " + in + " " + args, dir_);
  };
  const Out fail = score("");
  EXPECT_EQ(fail.rc, 1) << fail.out << fail.err;  // on_error fail, max_error_fraction 0: any failure
  EXPECT_NE(fail.err.find("the reward failed on 1 of 3 samples (overlong 1"), std::string::npos) << fail.err;
  EXPECT_NE(fail.out.find("error: overlong:"), std::string::npos) << fail.out;  // every row is still printed
  EXPECT_NE(fail.out.find("1 rows with reward errors"), std::string::npos) << fail.out;
  EXPECT_NE(fail.out.find("(0 n/a, 1 errors)"), std::string::npos) << fail.out;
  EXPECT_NE(fail.out.find("accuracy 0.5000 (1/2) over the 2 rows whose reward did not fail"), std::string::npos)
      << fail.out;
  EXPECT_EQ(score("--max_error_fraction 0.5").rc, 0);  // 1 of 3 is within the bound
  const Out zero = score("--on_error zero");
  EXPECT_EQ(zero.rc, 0) << zero.err;
  EXPECT_NE(zero.out.find("accuracy 0.6667 (2/3)  0 input error rows  1 rows with reward errors"), std::string::npos)
      << zero.out;
  const Out skip = score("--on_error skip_sample");
  EXPECT_EQ(skip.rc, 0) << skip.err;
  EXPECT_NE(skip.out.find("over the 2 rows whose reward did not fail (rewards.on_error skip_sample)"), std::string::npos)
      << skip.out;
  const Out bad = score("--on_error ignore");
  EXPECT_EQ(bad.rc, 1);
  EXPECT_NE(bad.err.find("fail"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("skip_sample"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("zero"), std::string::npos) << bad.err;
}

}  // namespace

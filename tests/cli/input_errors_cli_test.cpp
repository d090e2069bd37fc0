// `reasonrl` as a user runs it with bad input (issue 18 §4) and with --resume against a saved config (issue 17 §2):
// every input error exits 1 with "error:" naming the file, line and key, never exit 2 "internal error" and never a
// silent acceptance; a resumed run keeps its saved config unless --override-resumed-config, which saves a new version
// and records the change in the store.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "rl/util/sanitizer.h"
#include "tests/cli/cli_run.h"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

using Out = reasonrl::testing::CliOut;
using reasonrl::testing::slurp;

class InputErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("reasonrl_input_errors_" + std::to_string(getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string file(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  Out run(const std::string& args) { return reasonrl::testing::run_reasonrl(args, dir_); }
  // Exit 1 with a message containing every needle (and no "internal error").
  void expect_error(const std::string& args, std::initializer_list<std::string> needles) {
    const Out o = run(args);
    EXPECT_EQ(o.rc, 1) << args << "\n" << o.err;
    EXPECT_EQ(o.err.find("internal error"), std::string::npos) << args << "\n" << o.err;
    for (const auto& n : needles) EXPECT_NE(o.err.find(n), std::string::npos) << args << ": no '" << n << "' in\n" << o.err;
  }
  fs::path dir_;
};

TEST_F(InputErrors, NumberOverflowInAConfigNamesFileAndLine) {
  const std::string cfg = file("c.json", "{\n  \"optim\": {\"learning_rate\": 1e999}\n}\n");
  expect_error("train --config " + cfg, {"c.json:2", "1e999"});
}

TEST_F(InputErrors, NumberOverflowOnTheCommandLineNamesTheKey) {
  expect_error("train --optim.learning_rate 1e999", {"--optim.learning_rate", "1e999"});
  expect_error("train --rollout.temperature abc", {"--rollout.temperature", "abc"});
}

TEST_F(InputErrors, IntegersThatWrapAreRefused) {
  const std::string cfg = file("c.json", "{\n  \"steps\": 3,\n  \"prompts_per_step\": 4294967297\n}\n");
  expect_error("train --config " + cfg, {"c.json:3", "prompts_per_step"});
}

TEST_F(InputErrors, OutOfRangeValuesAreRefusedWithTheirSection) {
  expect_error("train --eval.size -3", {"eval", "size must be >= 0"});
  expect_error("train --eval.max_batch 0", {"eval", "max_batch must be >= 1"});
  expect_error("train --threads -4", {"threads must be >= 0"});
  expect_error("sft --threads -4", {"threads must be >= 0"});
  expect_error("train --save_every -1", {"save_every must be >= 0"});
  expect_error("train --keep_checkpoints -1", {"keep_checkpoints must be >= 0"});
  const std::string cfg = file("c.json", "{\n  \"steps\": 3,\n  \"rollout\": {\n    \"max_completion_length\": 0\n  }\n}\n");
  expect_error("train --config " + cfg, {"c.json:4", "in 'rollout'", "max_completion_length must be >= 1"});
}

TEST_F(InputErrors, ExportRefusesATokenizerThatDoesNotExist) {
  // both formats check it before they read the checkpoint
  for (const std::string f : {"hf --dtype bf16", "gguf --dtype f32"})
    expect_error("export --checkpoint " + (dir_ / "ckpt").string() + " --format " + f + " --tokenizer " +
                     (dir_ / "missing.json").string() + " -o " + (dir_ / "out").string(),
                 {"missing.json", "does not exist"});
}

TEST_F(InputErrors, AnEmptyRewardListIsRefused) {
  const std::string cfg = file("c.json", "{\n  \"rewards\": {\"rewards\": []}\n}\n");
  expect_error("train --config " + cfg, {"c.json:2", "at least one reward"});
}

TEST_F(InputErrors, DuplicateKeysAreRefused) {
  const std::string cfg = file("c.json", "{\n  \"steps\": 3,\n  \"steps\": 4\n}\n");
  expect_error("train --config " + cfg, {"c.json:3", "duplicate key 'steps'", "line 2"});
}

// A model too large for memory ended as exit 2 "internal error: std::bad_alloc". The address space is limited to
// 3 GB (ulimit -v) so the 23 GiB model fails at allocation on any machine, without touching its memory.
TEST_F(InputErrors, AModelTooLargeForMemorySaysHowMuchItNeeds) {
  if (reasonrl::kAddressSanitizer)
    GTEST_SKIP() << "AddressSanitizer build: it reserves terabytes of address space, so ulimit -v cannot apply";
  const std::string out = (dir_ / "out.txt").string(), err = (dir_ / "err.txt").string();
  const std::string cmd = "ulimit -v 3000000; " + std::string(REASONRL_BIN) + " sft --run_dir " + (dir_ / "run").string() +
                          " --steps 1 --model.hidden_size 256 --model.intermediate_size 4000000 >" + out + " 2>" + err;
  const int st = std::system(("bash -c '" + cmd + "'").c_str());
  const std::string e = slurp(err);
  ASSERT_TRUE(WIFEXITED(st)) << e;
  EXPECT_EQ(WEXITSTATUS(st), 1) << e;
  EXPECT_EQ(e.find("internal error"), std::string::npos) << e;
  // about 3.07e9 parameters (an FFN of 4e6 x 256 x 3 per dense layer, more in the MoE ones): 2 x 4 bytes each
  const auto at = e.find("out of memory: the model's ");
  ASSERT_NE(at, std::string::npos) << e;
  const double params = std::atof(e.c_str() + at + 27);
  const auto need = e.find("parameters need ");
  ASSERT_NE(need, std::string::npos) << e;
  const double gib = std::atof(e.c_str() + need + 16);
  EXPECT_GT(params, 3.0e9) << e;
  EXPECT_NEAR(gib, params * 8 / double(1ull << 30), 0.01) << e;
  EXPECT_NE(e.find("model-info"), std::string::npos) << e;
}

TEST_F(InputErrors, ADirectoryAsConfigIsRefused) {
  expect_error("train --config " + dir_.string(), {"directory"});
}

TEST_F(InputErrors, NestedKeyErrorsPointAtTheFullPath) {
  // "seed" first appears at the top level (line 2); the bad one is data.seed on line 4
  const std::string cfg = file("c.json", "{\n  \"seed\": 1,\n  \"data\": {\n    \"seed\": \"x\"\n  }\n}\n");
  expect_error("train --config " + cfg, {"c.json:4", "data.seed"});
}

TEST_F(InputErrors, MovedKeysNameTheirNewPlace) {
  const std::string cfg = file("c.json", "{\n  \"rl\": {\"num_generations\": 8}\n}\n");
  expect_error("train --config " + cfg, {"c.json:2", "rl.num_generations", "rollout.num_generations"});
  expect_error("train --rl.max_completion_length 96", {"rl.max_completion_length"});
}

TEST_F(InputErrors, TokenizerJsonOverflowAndMissingKeysAreFormatErrors) {
  const std::string bad = file("tok_overflow.json", "{\"version\": \"1.0\", \"x\": 1e999}");
  expect_error("tokenizer encode --tokenizer " + bad + " hi", {"tok_overflow.json", "1e999"});
  // a well-formed tokenizer whose added token lacks its id
  const std::string missing = file(
      "tok_missing.json",
      R"({"version": "1.0", "added_tokens": [{"content": "<eos>"}], "pre_tokenizer": {"type": "ByteLevel",)"
      R"( "add_prefix_space": false, "trim_offsets": true, "use_regex": true}, "model": {"type": "BPE", "vocab": {"a": 0},)"
      R"( "merges": []}})");
  expect_error("tokenizer encode --tokenizer " + missing + " hi", {"tok_missing.json", "id"});
}

TEST_F(InputErrors, HelpShowsRealTypesAndPrintConfigPrintsEverything) {
  const Out h = run("train --help");
  EXPECT_EQ(h.rc, 0);
  EXPECT_EQ(h.out.find("TEXT"), std::string::npos) << h.out.substr(0, 2000);
  EXPECT_NE(h.out.find("--rollout.num_generations int"), std::string::npos);
  EXPECT_NE(h.out.find("--rl.beta float"), std::string::npos);
  const Out p = run("train --print-config --rl.beta 0.25");
  ASSERT_EQ(p.rc, 0) << p.err;
  const json j = json::parse(p.out);
  EXPECT_DOUBLE_EQ(j.at("rl").at("beta").get<double>(), 0.25);
  EXPECT_EQ(j.at("rollout").at("temperature").dump(), "1.0");
  EXPECT_FALSE(j.at("rl").contains("num_generations"));  // one fact, one field
}

TEST_F(InputErrors, AJsonlLineTooLongIsRefusedAndSkippedLinesAreLogged) {
  const std::string big(11 << 20, 'x');
  const std::string data = file("train.jsonl", "{\"prompt\": \"1+1\", \"answer\": \"2\"}\n{\"prompt\": \"" + big +
                                                   "\", \"answer\": \"3\"}\nnot json\n");
  expect_error("sft --data.source jsonl --data.train_file " + data + " --steps 0 --run_dir " + (dir_ / "r").string(),
               {"train.jsonl:2", "max_line_bytes"});
  // on_error skip: each dropped line is logged with its file and line (the run itself then stops on something else)
  const Out o = run("sft --data.source jsonl --data.train_file " + data + " --data.jsonl.on_error skip --steps 0 "
                    "--eval.size 0 --run_dir " + (dir_ / "r2").string() + " --tokenizer.train.vocab_size 300");
  EXPECT_NE(o.err.find("train.jsonl:2"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("train.jsonl:3"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("2 of 3 lines skipped"), std::string::npos) << o.err;
}

// ---- --resume against the saved config ----

class ResumeConfig : public InputErrors {
 protected:
  // A run directory whose config.json is what `train` would save for these arguments.
  std::string run_dir(const std::string& args) {
    const std::string rd = (dir_ / "run").string();
    const Out p = run("train --print-config --run_dir " + rd + " " + args);
    EXPECT_EQ(p.rc, 0) << p.err;
    fs::create_directories(rd);
    file("run/config.json", p.out);
    return rd;
  }
};

TEST_F(ResumeConfig, ResumeUsesTheSavedConfig) {
  const std::string rd = run_dir("--rl.beta 0.05 --steps 7");
  const Out p = run("train --resume --print-config --run_dir " + rd);
  ASSERT_EQ(p.rc, 0) << p.err;
  const json j = json::parse(p.out);
  EXPECT_DOUBLE_EQ(j.at("rl").at("beta").get<double>(), 0.05);  // not the default 0
  EXPECT_EQ(j.at("steps").get<int>(), 7);
}

TEST_F(ResumeConfig, AChangedKeyIsAnErrorListingTheDifferences) {
  const std::string rd = run_dir("--rl.beta 0.05");
  const std::string cfg = file("c.json", "{\"optim\": {\"learning_rate\": 0.5}}");
  expect_error("train --resume --run_dir " + rd + " --config " + cfg + " --rl.beta 0.1",
               {"rl.beta: 0.05 -> 0.1", "optim.learning_rate:", "-> 0.5", "--override-resumed-config"});
  // the same values again, and session keys (threads, stop_after), are not changes: the run goes on to its checkpoint
  const Out o = run("train --resume --run_dir " + rd + " --rl.beta 0.05 --threads 1 --stop_after 2");
  EXPECT_EQ(o.err.find("change the run's saved config"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find("no checkpoint"), std::string::npos) << o.err;
}

TEST_F(ResumeConfig, OverrideSavesANewConfigVersion) {
  const std::string rd = run_dir("--rl.beta 0.05");
  const std::string before = slurp(rd + "/config.json");
  const Out o = run("train --resume --override-resumed-config --run_dir " + rd + " --rl.beta 0.1");
  EXPECT_NE(o.err.find("rl.beta: 0.05 -> 0.1"), std::string::npos) << o.err;
  EXPECT_EQ(slurp(rd + "/config.v1.json"), before);
  EXPECT_DOUBLE_EQ(json::parse(slurp(rd + "/config.json")).at("rl").at("beta").get<double>(), 0.1);
  expect_error("train --override-resumed-config --run_dir " + rd, {"needs --resume"});
}

// sft and dpo resume under the same contract as train (one set of resume flags, resolve_run_config).
TEST_F(ResumeConfig, SftAndDpoResumeWithTheSavedConfigToo) {
  for (const auto& [cmd, key] : {std::pair<std::string, std::string>{"sft", "steps"}, {"dpo", "dpo.steps"}}) {
    const std::string rd = (dir_ / (cmd + "_run")).string();
    const Out p = run(cmd + " --print-config --run_dir " + rd + " --" + key + " 7");
    ASSERT_EQ(p.rc, 0) << cmd << ": " << p.err;
    fs::create_directories(rd);
    file(cmd + "_run/config.json", p.out);
    const Out q = run(cmd + " --resume --print-config --run_dir " + rd);
    ASSERT_EQ(q.rc, 0) << cmd << ": " << q.err;
    json j = json::parse(q.out);
    for (size_t dot = key.find('.'), start = 0; dot != std::string::npos; start = dot + 1, dot = key.find('.', start))
      j = j.at(key.substr(start, dot - start));
    EXPECT_EQ(j.at(key.substr(key.rfind('.') + 1)).get<int>(), 7) << cmd;  // the saved value, not the default
    expect_error(cmd + " --resume --run_dir " + rd + " --" + key + " 9", {key + ": 7 -> 9", "--override-resumed-config"});
  }
}

}  // namespace

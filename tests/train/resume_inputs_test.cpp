// A resume's inputs, through real tiny runs: a resume that changed the config (--override-resumed-config) is recorded
// with its changes in the store's run_sessions; a trainer_state.json with a key missing is a FormatError naming the
// file and the key, not an internal error; a held-out prompt too long for the context is named (file and line) at
// setup, before any evaluation.
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "rl/store/store.h"
#include "rl/train/sft.h"
#include "rl/train/trainer.h"
#include "rl/util/config.h"
#include "tests/train/train_test_util.h"

namespace reasonrl::train {
namespace {

using testing::scratch_dir;

class ResumeInputs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { sft_ckpt_ = run_sft(testing::tiny_sft_config(scratch_dir("resume_inputs_sft_" + std::to_string(::getpid())), 10)).checkpoint; }
  // A run of 3 steps stopped after 1 (checkpoint at step 1).
  TrainConfig stopped_run(const std::string& name) {
    TrainConfig c = testing::tiny_train_config(scratch_dir(name), sft_ckpt_, 3);
    c.save_every = 1;
    c.stop_after = 1;
    EXPECT_TRUE(run_train(c, false).interrupted);
    c.stop_after = 0;
    return c;
  }
  static std::string sft_ckpt_;
};
std::string ResumeInputs::sft_ckpt_;

TEST_F(ResumeInputs, AConfigChangeIsRecordedInRunSessions) {
  TrainConfig c = stopped_run("resume_inputs_changes");
  const std::string changes = R"([{"key":"optim.learning_rate","before":0.001,"after":0.002}])";
  run_train(c, true, changes);
  auto st = store::RolloutStore::open(c.run_dir + "/" + c.store.file, true);
  store::Stmt q = st.db().prepare("SELECT config_changes, config_json FROM run_sessions WHERE kind = 'resume'");
  ASSERT_TRUE(q.step());
  EXPECT_EQ(q.text(0), changes);
  EXPECT_NE(q.text(1).find("\"rollout\""), std::string::npos);
}

TEST_F(ResumeInputs, AMissingKeyInTrainerStateIsAFormatError) {
  const TrainConfig c = stopped_run("resume_inputs_state");
  const std::string path = c.run_dir + "/checkpoints/step_000001/trainer_state.json";
  json st = parse_json_text(read_file(path), path);
  st.erase("rng");
  write_file_atomic(path, st.dump());
  testing::expect_train_error<FormatError>(c, true, {"trainer_state.json", "rng"});
}

TEST_F(ResumeInputs, AHeldOutPromptTooLongIsNamedAtSetup) {
  const std::string dir = scratch_dir("resume_inputs_long_prompt");
  const std::string train = dir + "/train.jsonl", heldout = dir + "/heldout.jsonl";
  std::ofstream(train) << R"({"prompt": "1+1", "answer": "2"})" << "\n" << R"({"prompt": "2+2", "answer": "4"})" << "\n";
  std::ofstream(heldout) << R"({"prompt": "3+3", "answer": "6"})" << "\n"
                         << R"({"prompt": ")" << std::string(3000, '9') << R"(", "answer": "1"})" << "\n";
  TrainConfig c = testing::tiny_train_config(dir + "/run", sft_ckpt_, 1);
  c.data.source = "jsonl";
  c.data.train_file = train;
  c.data.heldout_file = heldout;
  c.eval.size = 2;
  c.eval.max_completion_length = 24;
  testing::expect_train_error<ConfigError>(c, false, {"heldout.jsonl:2", "eval.max_completion_length"});
  EXPECT_FALSE(std::filesystem::exists(dir + "/run/evals.jsonl") &&
               std::filesystem::file_size(dir + "/run/evals.jsonl") > 0);  // failed before the first evaluation
}

TEST_F(ResumeInputs, ATrainPromptTooLongIsNamedAtSetup) {
  const std::string dir = scratch_dir("resume_inputs_long_train_prompt");
  const std::string train = dir + "/train.jsonl";
  std::ofstream(train) << R"({"prompt": "1+1", "answer": "2"})" << "\n"
                       << R"({"prompt": ")" << std::string(3000, '9') << R"(", "answer": "1"})" << "\n";
  TrainConfig c = testing::tiny_train_config(dir + "/run", sft_ckpt_, 1);
  c.data.source = "jsonl";
  c.data.train_file = train;
  c.eval.size = 0;
  testing::expect_train_error<ConfigError>(c, false, {"train.jsonl:2", "rollout.max_completion_length"});
}

}  // namespace
}  // namespace reasonrl::train

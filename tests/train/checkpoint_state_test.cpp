// The run directory's guards and the checkpoint's proofs, piece by piece: the lock refuses a second holder; a fresh
// start refuses a directory that holds a run; metrics writes fail loudly on a full disk (/dev/full) and a resume cuts
// the files back to the checkpoint's step; a checkpoint's state records SHA-256 per file (checked against sha256sum,
// a program outside our code) and a flipped byte, a foreign tokenizer, a wrong or negative step, a NaN weight are each
// refused; a version-1 state (no checksums) still loads; the store never deletes steps for a negative step.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include "datasets/byte_level.h"
#include "datasets/tokenizer.h"
#include "model/checkpoint.h"
#include "rl/store/store.h"
#include "rl/train/checkpoint_state.h"
#include "rl/train/metrics.h"
#include "rl/train/run_dir.h"
#include "tests/model/test_util.h"

namespace reasonrl::train {
namespace {

namespace fs = std::filesystem;

std::string tmpdir(const std::string& name) {
  const std::string d = std::string(REASONRL_BINARY_DIR) + "/test_tmp/ckpt_state_" + name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

datasets::Tokenizer tiny_tokenizer(const std::vector<std::pair<std::string, std::string>>& merges) {
  std::vector<std::string> toks;
  for (int b = 0; b < 256; ++b) toks.push_back(datasets::byte_to_unicode(uint8_t(b)));
  for (const auto& [a, b] : merges) toks.push_back(a + b);
  return datasets::Tokenizer::from_parts(toks, merges, {}, datasets::PreTokenizer::digits_split());
}

std::unique_ptr<model::Model> tiny_model() {
  auto m = std::make_unique<model::Model>(model::testing::micro_config());
  m->init_weights(7);
  return m;
}

// A committed checkpoint <root>/checkpoints/step_<step, 6 digits> of `m` with tokenizer `tok`.
std::string commit(const std::string& root, const model::Model& m, const datasets::Tokenizer& tok, long step = 10) {
  const std::string dir = checkpoint_dir(root, step);
  json st;
  st["extra"] = 5;
  commit_checkpoint(dir, "test.state", step, st, {&m}, [&](const std::string& tmp) {
    model::save_checkpoint(m, tmp);
    tok.save(tmp + "/tokenizer.json");
  });
  return dir;
}

void flip_byte(const std::string& path, long from_end) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(-from_end, std::ios::end);
  char c = 0;
  f.read(&c, 1);
  c = char(c ^ 0x10);
  f.seekp(-from_end, std::ios::end);
  f.write(&c, 1);
}

void edit_state(const std::string& dir, const std::function<void(json&)>& f) {
  const std::string p = dir + "/" + kStateFile;
  json st = parse_json_text(read_file(p), p);
  f(st);
  write_file_atomic(p, st.dump());
}

TEST(RunDirLock, ASecondHolderIsRefusedUntilTheFirstLetsGo) {
  const std::string d = tmpdir("lock");
  {
    RunDirLock a(d);
    try {
      RunDirLock b(d);
      FAIL() << "a second lock on the same run directory was granted";
    } catch (const IoError& e) {
      EXPECT_NE(std::string(e.what()).find("in use by another reasonrl process"), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(RunDirLock c(d));  // released with the first holder
}

TEST(RunDir, AFreshStartRefusesADirectoryThatHoldsARun) {
  const std::string d = tmpdir("fresh");
  EXPECT_NO_THROW(require_fresh_run_dir(d, "train"));
  write_file_atomic(d + "/metrics.jsonl", "{\"step\":1}\n");
  try {
    require_fresh_run_dir(d, "train");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--resume"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("metrics.jsonl"), std::string::npos) << e.what();
  }
  const std::string e2 = tmpdir("fresh_store");
  write_file_atomic(e2 + "/rollouts.db", "x");
  EXPECT_THROW(require_fresh_run_dir(e2, "train", {"rollouts.db"}), ConfigError);
}

TEST(Metrics, AFullDiskIsAnErrorNotATornLine) {
  MetricsWriter w("/dev/full", false);
  Metrics m;
  m.set("loss", 1.5);
  EXPECT_THROW(w.write(1, m), IoError);
}

TEST(Metrics, ResumeCutsTheFileBackToTheCheckpointStep) {
  const std::string d = tmpdir("trunc");
  const std::string p = d + "/metrics.jsonl";
  write_file_atomic(p, "{\"step\":1,\"a\":1}\n{\"step\":2,\"a\":2}\n{\"step\":3,\"a\":3}\n{\"step\":4,\"a");
  truncate_metrics_file(p, 2);
  EXPECT_EQ(read_file(p), "{\"step\":1,\"a\":1}\n{\"step\":2,\"a\":2}\n");
}

TEST(CheckpointState, RecordsTheSha256OfEveryFile) {
  const std::string root = tmpdir("sha");
  auto m = tiny_model();
  const auto tok = tiny_tokenizer({{"a", "b"}});
  const std::string dir = commit(root, *m, tok);
  const json st = read_checkpoint_state(dir, "test.state");
  EXPECT_EQ(st.at("version").get<int>(), kStateVersion);
  EXPECT_EQ(st.at("extra").get<int>(), 5);
  ASSERT_TRUE(st.at("files").contains("model.safetensors"));
  ASSERT_TRUE(st.at("files").contains("tokenizer.json"));
  EXPECT_FALSE(st.at("files").contains(kStateFile));
  // against coreutils' sha256sum
  std::FILE* p = ::popen(("sha256sum '" + dir + "/model.safetensors'").c_str(), "r");
  ASSERT_NE(p, nullptr);
  char buf[65] = {0};
  ASSERT_EQ(std::fread(buf, 1, 64, p), 64u);
  ::pclose(p);
  EXPECT_EQ(st.at("files").at("model.safetensors").get<std::string>(), std::string(buf));
  EXPECT_FALSE(fs::exists(dir + ".tmp"));
}

TEST(CheckpointState, AFlippedByteInTensorDataIsRefusedUnlessVerificationIsOff) {
  const std::string root = tmpdir("flip");
  auto m = tiny_model();
  const auto tok = tiny_tokenizer({{"a", "b"}});
  const std::string dir = commit(root, *m, tok);
  flip_byte(dir + "/model.safetensors", 100);  // inside the last tensor's data: the file still parses
  EXPECT_NO_THROW(model::load_model(dir));     // what happened before: the damage loads silently
  try {
    read_checkpoint_state(dir, "test.state");
    FAIL() << "a damaged checkpoint file was accepted";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("model.safetensors is damaged"), std::string::npos) << e.what();
  }
  model::set_verify_checkpoints(false);
  EXPECT_NO_THROW(read_checkpoint_state(dir, "test.state"));
  model::set_verify_checkpoints(true);
}

TEST(CheckpointState, AnotherTokenizerWithTheSameVocabularySizeIsRefused) {
  const std::string root = tmpdir("tok");
  auto m = tiny_model();
  const auto tok = tiny_tokenizer({{"a", "b"}, {"c", "d"}});
  const auto other = tiny_tokenizer({{"c", "d"}, {"a", "b"}});  // same tokens, other merge order
  ASSERT_EQ(tok.vocab_size(), other.vocab_size());
  const std::string dir = commit(root, *m, tok);
  const json st = read_checkpoint_state(dir, "test.state");
  EXPECT_NO_THROW(check_tokenizer(st, dir));
  EXPECT_NO_THROW(verify_checkpoint_dir(dir));
  other.save(dir + "/tokenizer.json");  // swapped in: refused, also with --no-verify
  model::set_verify_checkpoints(false);
  EXPECT_THROW(check_tokenizer(st, dir), FormatError);
  EXPECT_THROW(verify_checkpoint_dir(dir), FormatError);
  model::set_verify_checkpoints(true);
  EXPECT_THROW(verify_checkpoint_dir(dir), FormatError);
}

TEST(CheckpointState, TheStepMustBeNonNegativeAndTheDirectorys) {
  const std::string root = tmpdir("step");
  auto m = tiny_model();
  const auto tok = tiny_tokenizer({{"a", "b"}});
  const std::string dir = commit(root, *m, tok);
  edit_state(dir, [](json& s) { s["step"] = -7; });
  EXPECT_THROW(read_checkpoint_state(dir, "test.state"), FormatError);
  edit_state(dir, [](json& s) { s["step"] = 12; });
  try {
    read_checkpoint_state(dir, "test.state");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("differs from the checkpoint directory's step 10"), std::string::npos) << e.what();
  }
  edit_state(dir, [](json& s) { s.erase("step"); });
  EXPECT_THROW(read_checkpoint_state(dir, "test.state"), FormatError);
}

TEST(CheckpointState, AVersion1StateWithoutChecksumsStillLoads) {
  const std::string root = tmpdir("v1");
  auto m = tiny_model();
  const auto tok = tiny_tokenizer({{"a", "b"}});
  const std::string dir = commit(root, *m, tok);
  edit_state(dir, [](json& s) {
    s["version"] = 1;
    s.erase("files");
    s.erase("tokenizer_sha256");
  });
  const json st = read_checkpoint_state(dir, "test.state");
  EXPECT_EQ(st.at("step").get<long>(), 10);
  tiny_tokenizer({{"x", "y"}}).save(dir + "/tokenizer.json");
  EXPECT_NO_THROW(check_tokenizer(st, dir));  // nothing recorded to compare with
  edit_state(dir, [](json& s) { s["version"] = 3; });
  EXPECT_THROW(read_checkpoint_state(dir, "test.state"), FormatError);
}

TEST(CheckpointState, NonFiniteWeightsAreNeitherSavedNorLoaded) {
  const std::string root = tmpdir("nan");
  auto m = tiny_model();
  const auto tok = tiny_tokenizer({{"a", "b"}});
  const std::string good = commit(root, *m, tok, 10);
  set_latest_checkpoint(root, 10);
  m->params()[m->tensors().back().offset] = std::nanf("");
  EXPECT_THROW(commit(root, *m, tok, 20), NumericError);
  EXPECT_FALSE(fs::exists(checkpoint_dir(root, 20)));
  // a NaN that reached the disk (written by hand: save_checkpoint itself does not look)
  const std::string bad = checkpoint_dir(root, 30);
  fs::create_directories(bad);
  model::save_checkpoint(*m, bad);
  try {
    model::load_model(bad);
    FAIL() << "a NaN weight loaded";
  } catch (const NumericError& e) {
    EXPECT_NE(std::string(e.what()).find(m->tensors().back().name), std::string::npos) << e.what();
  }
  EXPECT_EQ(last_good_checkpoint(root, "test.state"), good);
  try {
    with_last_good_checkpoint(root, "test.state", [&] { model::load_model(bad); });
    FAIL();
  } catch (const NumericError& e) {
    EXPECT_NE(std::string(e.what()).find("the last good checkpoint is " + good), std::string::npos) << e.what();
  }
}

TEST(Store, ResumeNeverDeletesStepsForANegativeCheckpointStep) {
  const std::string d = tmpdir("store");
  auto st = store::RolloutStore::open(d + "/rollouts.db", false);
  store::RunInfo info;
  info.name = "t";
  st.begin_run(info);
  store::StepRecord rec;
  rec.step = 1;
  st.write_step(rec, {});
  EXPECT_THROW(st.resume_run(-7, "v"), FormatError);
  EXPECT_EQ(st.last_step(), 1);
}

}  // namespace
}  // namespace reasonrl::train

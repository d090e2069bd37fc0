// Tests for the rollout store: schema and migrations, the per-step writer, resume truncation, read-only readers
// alongside a writer (WAL), identity and version errors, and the sample metrics.
#include "rl/store/store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "rl/store/synthetic.h"
#include "rl/util/error.h"
#include "rl/util/utf8.h"
#include "tests/store/old_store.h"

namespace reasonrl::store {
namespace {

namespace fs = std::filesystem;

// A fresh temporary directory per test, removed afterwards.
class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("reasonrl_store_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name = "run.db") const { return (dir_ / name).string(); }
  fs::path dir_;
};

std::vector<PromptRecord> two_prompts() {
  return {{0, "gsm8k", "g-0", "1+1?", "2", 1}, {1, "math", "m-7", "2*3?", "6", std::nullopt}};
}

SampleRecord sample(int64_t step, int64_t pid, int g, double reward) {
  SampleRecord s;
  s.step = step;
  s.prompt_id = pid;
  s.group_index = g;
  s.text = "answer " + std::to_string(g);
  s.n_tokens = 10 + g;
  s.finish_reason = g == 1 ? "length" : "stop";
  s.reward_components = {{"accuracy", reward}, {"format", std::nullopt}};
  s.reward = reward;
  s.correct = reward > 0.5;
  s.advantage = reward - 0.5;
  s.policy_version_min = static_cast<int>(step);
  s.policy_version_max = static_cast<int>(step);
  return s;
}

int64_t count(const RolloutStore& st, const std::string& sql) { return st.db().scalar_i64(sql); }

TEST_F(StoreTest, CreatesCurrentSchemaInWalModeWithApplicationId) {
  auto st = RolloutStore::open(path());
  EXPECT_EQ(st.schema_version(), kSchemaVersion);
  EXPECT_EQ(st.db().scalar_text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(count(st, "PRAGMA application_id"), kApplicationId);
  for (const char* t : {"run", "run_sessions", "steps", "step_metrics", "prompts", "samples", "sample_rewards",
                        "evaluations", "samples_view"})
    EXPECT_TRUE(st.db().has_table(t)) << t;
  EXPECT_EQ(st.last_step(), -1);
}

TEST_F(StoreTest, WritesAndReadsBackAStep) {
  auto st = RolloutStore::open(path());
  st.begin_run({"r1", R"({"lr": 1e-6})", "reasonrl 0.1.0", 42, ""});
  st.upsert_prompts(two_prompts());
  std::vector<SampleRecord> samples = {sample(0, 0, 0, 1.0), sample(0, 0, 1, 0.0), sample(0, 1, 0, 1.0)};
  samples[2].segments = {{3, 5}, {4, 7}};
  samples[2].policy_version_min = 3;
  samples[2].policy_version_max = 4;
  StepRecord rec{0, {{"kl", 0.25}, {"time/rollout_ms", 12.5}}};
  st.write_step(rec, samples);
  EXPECT_EQ(st.last_step(), 0);

  auto info = st.run_info();
  ASSERT_TRUE(info);
  EXPECT_EQ(info->name, "r1");
  EXPECT_EQ(info->seed, 42);
  EXPECT_EQ(info->config_json, R"({"lr": 1e-6})");
  EXPECT_FALSE(info->started_at.empty());

  EXPECT_EQ(count(st, "SELECT count(*) FROM samples WHERE step = 0"), 3);
  EXPECT_EQ(count(st, "SELECT n_samples FROM steps WHERE step = 0"), 3);
  EXPECT_EQ(count(st, "SELECT count(*) FROM sample_rewards"), 6);
  EXPECT_EQ(count(st, "SELECT count(*) FROM sample_rewards WHERE component = 'format' AND value IS NULL"), 3);
  EXPECT_DOUBLE_EQ(st.db().prepare("SELECT value FROM step_metrics WHERE step = 0 AND key = 'kl'").step() ? 0.25 : -1,
                   0.25);
  Stmt m = st.db().prepare("SELECT value FROM step_metrics WHERE step = 0 AND key = 'time/rollout_ms'");
  ASSERT_TRUE(m.step());
  EXPECT_DOUBLE_EQ(m.f64(0), 12.5);

  Stmt s = st.db().prepare(
      "SELECT text, n_tokens, finish_reason, reward, correct, advantage, policy_version_min, policy_version_max, "
      "n_segments, segments_json, dataset, difficulty FROM samples_view WHERE prompt_id = 1");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.text(0), "answer 0");
  EXPECT_EQ(s.i64(1), 10);
  EXPECT_EQ(s.text(2), "stop");
  EXPECT_DOUBLE_EQ(s.f64(3), 1.0);
  EXPECT_EQ(s.i64(4), 1);
  EXPECT_DOUBLE_EQ(s.f64(5), 0.5);
  EXPECT_EQ(s.i64(6), 3);
  EXPECT_EQ(s.i64(7), 4);
  EXPECT_EQ(s.i64(8), 2);
  auto seg = nlohmann::json::parse(s.text(9));
  ASSERT_EQ(seg.size(), 2u);
  EXPECT_EQ(seg[1]["policy_version"], 4);
  EXPECT_EQ(seg[1]["n_tokens"], 7);
  EXPECT_EQ(s.text(10), "math");
  EXPECT_TRUE(s.is_null(11));
  EXPECT_FALSE(s.step());
}

TEST_F(StoreTest, NonFiniteMetricIsStoredAsNull) {
  auto st = RolloutStore::open(path());
  st.begin_run({"r", "{}", "v", 1, ""});
  st.write_step({0, {{"kl", std::nan("")}, {"x", 1.0}}}, {});
  EXPECT_EQ(count(st, "SELECT count(*) FROM step_metrics WHERE key = 'kl' AND value IS NULL"), 1);
}

TEST_F(StoreTest, StepIsAllOrNothing) {
  auto st = RolloutStore::open(path());
  st.begin_run({"r", "{}", "v", 1, ""});
  st.upsert_prompts(two_prompts());
  // The third sample names a prompt that is not in the table: the whole step must be rolled back.
  std::vector<SampleRecord> bad = {sample(0, 0, 0, 1.0), sample(0, 1, 0, 0.0), sample(0, 99, 0, 1.0)};
  try {
    st.write_step({0, {{"kl", 0.1}}}, bad);
    FAIL() << "expected a FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("prompt id 99"), std::string::npos) << e.what();
  }
  EXPECT_EQ(count(st, "SELECT count(*) FROM steps"), 0);
  EXPECT_EQ(count(st, "SELECT count(*) FROM samples"), 0);
  EXPECT_EQ(count(st, "SELECT count(*) FROM step_metrics"), 0);
  EXPECT_EQ(count(st, "SELECT count(*) FROM sample_rewards"), 0);
  // A sample whose step differs from the record's is refused too.
  EXPECT_THROW(st.write_step({1, {}}, {sample(2, 0, 0, 1.0)}), FormatError);
  // The same step can then be written correctly.
  st.write_step({0, {{"kl", 0.1}}}, {sample(0, 0, 0, 1.0)});
  EXPECT_EQ(count(st, "SELECT count(*) FROM samples"), 1);
}

TEST_F(StoreTest, WritingAnExistingStepIsAnError) {
  auto st = RolloutStore::open(path());
  st.begin_run({"r", "{}", "v", 1, ""});
  st.upsert_prompts(two_prompts());
  st.write_step({0, {}}, {sample(0, 0, 0, 1.0)});
  EXPECT_THROW(st.write_step({0, {}}, {sample(0, 0, 1, 1.0)}), FormatError);
  EXPECT_EQ(count(st, "SELECT count(*) FROM samples"), 1);
}

TEST_F(StoreTest, BeginRunTwiceIsAnErrorAndResumeNeedsARun) {
  {
    auto st = RolloutStore::open(path());
    EXPECT_THROW(st.resume_run(3, "v"), FormatError);
    st.begin_run({"r", "{}", "v", 1, ""});
  }
  auto st = RolloutStore::open(path());
  EXPECT_THROW(st.begin_run({"r", "{}", "v", 1, ""}), FormatError);
}

TEST_F(StoreTest, ResumeDropsStepsAfterTheCheckpointSoRerunsDoNotDuplicate) {
  {
    auto st = RolloutStore::open(path());
    st.begin_run({"r", "{}", "v", 1, ""});
    st.upsert_prompts(two_prompts());
    for (int64_t step = 0; step < 5; ++step) {
      st.write_step({step, {{"kl", 0.1 * static_cast<double>(step)}}}, {sample(step, 0, 0, 1.0), sample(step, 1, 0, 0.0)});
      if (step == 2) st.write_eval({step, "test", "", {{"pass@1", 0.5}}});
      if (step == 4) st.write_eval({step, "test", "", {{"pass@1", 0.7}}});
    }
  }
  auto st = RolloutStore::open(path());
  EXPECT_EQ(st.resume_run(2, "v2"), 2);  // steps 3 and 4 were written after the checkpoint at step 2
  EXPECT_EQ(st.last_step(), 2);
  EXPECT_EQ(count(st, "SELECT count(*) FROM samples WHERE step > 2"), 0);
  EXPECT_EQ(count(st, "SELECT count(*) FROM step_metrics WHERE step > 2"), 0);
  EXPECT_EQ(count(st, "SELECT count(*) FROM evaluations WHERE step > 2"), 0);
  EXPECT_EQ(count(st, "SELECT count(*) FROM evaluations WHERE step = 2"), 1);
  EXPECT_EQ(count(st, "SELECT count(*) FROM sample_rewards WHERE sample_id NOT IN (SELECT id FROM samples)"), 0);
  for (int64_t step = 3; step < 5; ++step) st.write_step({step, {}}, {sample(step, 0, 0, 1.0), sample(step, 1, 0, 0.0)});
  EXPECT_EQ(count(st, "SELECT count(*) FROM samples"), 10);
  EXPECT_EQ(count(st, "SELECT count(*) FROM (SELECT 1 FROM samples GROUP BY step, prompt_id, group_id, group_index "
                      "HAVING count(*) > 1)"), 0);
  EXPECT_EQ(count(st, "SELECT count(*) FROM run_sessions WHERE kind = 'resume' AND from_step = 2 AND dropped_steps = 2"), 1);
  st.truncate_after(0);
  EXPECT_EQ(st.last_step(), 0);
  EXPECT_EQ(count(st, "SELECT count(*) FROM samples"), 2);
}

TEST_F(StoreTest, AResumeThatChangesTheConfigRecordsItInRunSessions) {
  auto st = RolloutStore::open(path());
  st.begin_run({"r", R"({"rl":{"beta":0.0}})", "v", 1, ""});
  st.resume_run(-1, "v");  // unchanged: NULL
  st.resume_run(-1, "v", R"({"rl":{"beta":0.1}})", R"([{"key":"rl.beta","before":0.0,"after":0.1}])");
  EXPECT_EQ(count(st, "SELECT count(*) FROM run_sessions WHERE kind = 'resume' AND config_json IS NULL AND config_changes IS NULL"), 1);
  Stmt q = st.db().prepare("SELECT config_json, config_changes FROM run_sessions WHERE config_changes IS NOT NULL");
  ASSERT_TRUE(q.step());
  EXPECT_EQ(q.text(0), R"({"rl":{"beta":0.1}})");
  EXPECT_NE(q.text(1).find("rl.beta"), std::string::npos);
}

TEST_F(StoreTest, UpsertPromptsUpdatesById) {
  auto st = RolloutStore::open(path());
  st.upsert_prompts(two_prompts());
  auto p = two_prompts();
  p[0].gold = "3";
  p[0].difficulty = 5;
  st.upsert_prompts({p[0]});
  EXPECT_EQ(count(st, "SELECT count(*) FROM prompts"), 2);
  EXPECT_EQ(st.db().scalar_text("SELECT gold FROM prompts WHERE id = 0"), "3");
  EXPECT_EQ(count(st, "SELECT difficulty FROM prompts WHERE id = 0"), 5);
}

TEST_F(StoreTest, EvaluationRewriteReplaces) {
  auto st = RolloutStore::open(path());
  st.write_eval({10, "math500", "before", {{"pass@1", 0.4}, {"mean_tokens", 800}}});
  st.write_eval({10, "math500", "before", {{"pass@1", 0.45}}});
  st.write_eval({10, "math500", "after", {{"pass@1", 0.42}}});
  EXPECT_EQ(count(st, "SELECT count(*) FROM evaluations"), 2);
  Stmt s = st.db().prepare("SELECT value FROM evaluations WHERE stage = 'before' AND key = 'pass@1'");
  ASSERT_TRUE(s.step());
  EXPECT_DOUBLE_EQ(s.f64(0), 0.45);
}

// A failed component: value NULL with its message in sample_rewards.error; "not applicable" is NULL with a NULL error.
TEST_F(StoreTest, AFailedRewardComponentKeepsItsErrorApartFromNotApplicable) {
  auto st = RolloutStore::open(path());
  st.begin_run({"r1", "{}", "reasonrl 0.1.0", 1, ""});
  st.upsert_prompts(two_prompts());
  std::vector<SampleRecord> samples = {sample(0, 0, 0, 1.0), sample(0, 0, 1, 0.0)};
  samples[1].reward_components["tidy"] = std::nullopt;
  samples[1].reward_errors = {{"tidy", "plugin 'tidy': crashed (signal 11)"}};
  st.write_step({0, {}}, samples);
  EXPECT_EQ(st.db().scalar_text("SELECT error FROM sample_rewards WHERE component = 'tidy'"),
            "plugin 'tidy': crashed (signal 11)");
  EXPECT_EQ(count(st, "SELECT count(*) FROM sample_rewards WHERE component = 'tidy' AND value IS NULL"), 1);
  EXPECT_EQ(count(st, "SELECT count(*) FROM sample_rewards WHERE error IS NULL AND value IS NULL"), 2);  // format: n/a
  // an error for a component without a value entry is refused, and the step is not written
  std::vector<SampleRecord> bad = {sample(1, 0, 0, 1.0)};
  bad[0].reward_errors = {{"ghost", "x"}};
  EXPECT_THROW(st.write_step({1, {}}, bad), FormatError);
  EXPECT_EQ(st.last_step(), 0);
}

TEST_F(StoreTest, MigratesAVersion1File) {
  {
    Db db(path(), false);
    db.exec("PRAGMA journal_mode = WAL");
    db.exec(migrations()[0]);
    db.exec("PRAGMA application_id = " + std::to_string(kApplicationId));
    db.exec("PRAGMA user_version = 1");
    db.exec("INSERT INTO run VALUES (1, 'old', '{}', 'v0', 7, '2026-01-01T00:00:00Z')");
    db.exec("INSERT INTO prompts (id, dataset, text, gold) VALUES (0, 'd', 't', 'g')");
    db.exec("INSERT INTO steps VALUES (0, '2026-01-01T00:00:00Z', 1)");
    db.exec("INSERT INTO samples (step, prompt_id, group_id, group_index, text, n_tokens, finish_reason, reward, "
            "correct, advantage, policy_version_min, policy_version_max, n_segments, segments_json) "
            "VALUES (0, 0, 0, 0, 'x', 1, 'stop', 1, 1, 0, 0, 0, 1, '[]')");
    db.exec("INSERT INTO sample_rewards VALUES (1, 'accuracy', 1)");
  }
  // A reader refuses to read an old file, naming the way out.
  try {
    RolloutStore::open(path(), true);
    FAIL() << "expected a FormatError";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("migrate"), std::string::npos) << e.what();
  }
  auto st = RolloutStore::open(path());
  EXPECT_EQ(st.schema_version(), kSchemaVersion);
  EXPECT_TRUE(st.db().has_table("evaluations"));
  EXPECT_EQ(st.run_info()->name, "old");
  EXPECT_EQ(count(st, "SELECT count(*) FROM samples_view"), 1);
  EXPECT_EQ(count(st, "SELECT count(*) FROM sample_rewards WHERE error IS NULL AND value = 1"), 1);  // version 4
  st.write_eval({0, "t", "", {{"pass@1", 1}}});
  auto ro = RolloutStore::open(path(), true);
  EXPECT_EQ(ro.schema_version(), kSchemaVersion);
}

// Every TEXT value of every table and of samples_view is valid UTF-8 (what JSON and Python's sqlite3 need).
void expect_all_text_valid(const RolloutStore& st) {
  Stmt t = st.db().prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')");
  int64_t n_text = 0;
  while (t.step()) {
    Stmt r = st.db().prepare("SELECT * FROM " + t.text(0));
    while (r.step())
      for (int i = 0; i < r.columns(); ++i)
        if (r.column_type(i) == SQLITE_TEXT) {
          ++n_text;
          EXPECT_TRUE(utf8_valid(r.text(i))) << t.text(0) << "." << r.column_name(i) << ": " << r.text(i);
        }
  }
  EXPECT_GT(n_text, 20);
}

// A byte-level model can emit bytes that are not UTF-8: text holds valid UTF-8 (U+FFFD in their place, as Python's
// decode(errors="replace") does), text_bytes the exact bytes, NULL when the text was valid.
TEST_F(StoreTest, TextThatIsNotUtf8IsStoredValidAndItsBytesExactly) {
  auto st = RolloutStore::open(path());
  st.begin_run({"r\xFF", "{}", "v", 1, ""});
  auto prompts = two_prompts();
  prompts[0].text = testing::kBadPrompt;
  prompts[0].gold = testing::kBadGold;
  st.upsert_prompts(prompts);
  std::vector<SampleRecord> samples = {sample(0, 0, 0, 1.0), sample(0, 0, 1, 0.0), sample(0, 1, 0, 1.0)};
  samples[0].text = testing::kBadText1;
  samples[1].text = testing::kBadText3;
  samples[1].finish_reason = testing::kBadFinish;
  samples[1].reward_components[testing::kBadComponent] = 0.5;
  st.write_step({0, {{"kl", 0.1}}}, samples);
  st.write_eval({0, "held\xC3", "", {{"pass@1", 0.5}}});

  Stmt s = st.db().prepare("SELECT text, text_bytes, finish_reason FROM samples ORDER BY id");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.text(0), "the answer is 4\uFFFD");  // Python: b"the answer is 4\xc3".decode("utf-8", "replace")
  EXPECT_EQ(s.column_type(1), SQLITE_BLOB);
  EXPECT_EQ(s.blob(1), testing::kBadText1);
  ASSERT_TRUE(s.step());
  // b"\xff\xfe x \xe2\x82 \xed\xa0\x80 y".decode("utf-8", "replace"): a cut sequence is one U+FFFD, a surrogate three.
  EXPECT_EQ(s.text(0), "\uFFFD\uFFFD x \uFFFD \uFFFD\uFFFD\uFFFD y");
  EXPECT_EQ(s.blob(1), testing::kBadText3);
  EXPECT_EQ(s.text(2), "stop\uFFFD");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(s.text(0), "answer 0");
  EXPECT_TRUE(s.is_null(1));  // valid: no copy
  Stmt p = st.db().prepare("SELECT text, text_bytes, gold, gold_bytes FROM prompts ORDER BY id");
  ASSERT_TRUE(p.step());
  EXPECT_EQ(p.text(0), "what is 2+2? \uFFFD");
  EXPECT_EQ(p.blob(1), testing::kBadPrompt);
  EXPECT_EQ(p.text(2), "4\uFFFD");
  EXPECT_EQ(p.blob(3), testing::kBadGold);
  ASSERT_TRUE(p.step());
  EXPECT_TRUE(p.is_null(1));
  EXPECT_TRUE(p.is_null(3));
  EXPECT_EQ(count(st, "SELECT count(*) FROM sample_rewards WHERE component = 'acc\uFFFD'"), 1);
  EXPECT_EQ(count(st, "SELECT count(*) FROM evaluations WHERE split = 'held\uFFFD'"), 1);
  st.write_eval({0, "held\xC3", "", {{"pass@1", 0.75}}});  // the same (step, split, stage) replaces
  EXPECT_EQ(count(st, "SELECT count(*) FROM evaluations"), 1);
  expect_all_text_valid(st);
}

// A version-3 file with bytes that are not UTF-8 in its text columns is migrated: text made valid, exact bytes kept.
TEST_F(StoreTest, MigratesAVersion3FileWithTextThatIsNotUtf8) {
  testing::make_version3_store_with_bad_utf8(path());
  auto st = RolloutStore::open(path());
  EXPECT_EQ(st.schema_version(), kSchemaVersion);
  Stmt s = st.db().prepare("SELECT id, text, text_bytes FROM samples ORDER BY id");
  const std::string bytes[3] = {testing::kBadText1, testing::kGoodText2, testing::kBadText3};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(s.step());
    EXPECT_EQ(s.text(1), utf8_replace_invalid(bytes[i]));
    if (i == 1) EXPECT_TRUE(s.is_null(2));
    else EXPECT_EQ(s.blob(2), bytes[i]);
  }
  EXPECT_EQ(count(st, "SELECT count(*) FROM samples WHERE text = 'the answer is 4\uFFFD'"), 1);
  EXPECT_EQ(st.db().scalar_text("SELECT gold FROM prompts WHERE id = 0"), "4\uFFFD");
  Stmt g = st.db().prepare("SELECT text_bytes, gold_bytes FROM prompts WHERE id = 0");
  ASSERT_TRUE(g.step());
  EXPECT_EQ(g.blob(0), testing::kBadPrompt);
  EXPECT_EQ(g.blob(1), testing::kBadGold);
  EXPECT_EQ(count(st, "SELECT count(*) FROM samples WHERE finish_reason = 'stop\uFFFD'"), 1);
  EXPECT_EQ(count(st, "SELECT count(*) FROM sample_rewards WHERE component = 'acc\uFFFD'"), 1);
  EXPECT_EQ(count(st, "SELECT count(*) FROM samples_view WHERE text_bytes IS NOT NULL"), 2);
  expect_all_text_valid(st);
  // The run goes on in the migrated file.
  st.resume_run(0, "v1");
  std::vector<SampleRecord> more = {sample(1, 1, 0, 1.0)};
  more[0].text = "\xC3";
  st.write_step({1, {}}, more);
  EXPECT_EQ(count(st, "SELECT count(*) FROM samples WHERE text_bytes = x'C3' AND text = '\uFFFD'"), 1);
}

TEST_F(StoreTest, NewerSchemaIsAClearError) {
  { auto st = RolloutStore::open(path()); }
  { Db db(path(), false); db.exec("PRAGMA user_version = 99"); }
  for (bool ro : {false, true}) {
    try {
      RolloutStore::open(path(), ro);
      FAIL() << "expected a FormatError";
    } catch (const FormatError& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("99"), std::string::npos) << m;
      EXPECT_NE(m.find("newer"), std::string::npos) << m;
    }
  }
}

TEST_F(StoreTest, ForeignSqliteFileIsRefused) {
  { Db db(path(), false); db.exec("CREATE TABLE t (x)"); }
  EXPECT_THROW(RolloutStore::open(path()), FormatError);
  { Db db(path("other.db"), false); db.exec("PRAGMA application_id = 1234"); }
  EXPECT_THROW(RolloutStore::open(path("other.db")), FormatError);
}

TEST_F(StoreTest, ReadOnlyOpenOfAMissingFileIsAnIoError) {
  EXPECT_THROW(RolloutStore::open(path("nope.db"), true), IoError);
  EXPECT_FALSE(fs::exists(path("nope.db")));
}

TEST_F(StoreTest, ReadOnlyConnectionCannotWrite) {
  { auto st = RolloutStore::open(path()); st.begin_run({"r", "{}", "v", 1, ""}); }
  auto ro = RolloutStore::open(path(), true);
  EXPECT_THROW(ro.begin_run({"r", "{}", "v", 1, ""}), IoError);
  Stmt s = ro.db().prepare("DELETE FROM run");
  EXPECT_FALSE(s.readonly());
  EXPECT_THROW(s.step(), Error);
  EXPECT_EQ(count(ro, "SELECT count(*) FROM run"), 1);
}

TEST_F(StoreTest, ReaderSeesCommittedStepsWhileAWriterHasOneInFlight) {
  auto st = RolloutStore::open(path());
  st.begin_run({"r", "{}", "v", 1, ""});
  st.upsert_prompts(two_prompts());
  st.write_step({0, {}}, {sample(0, 0, 0, 1.0)});
  // The writer opens a transaction and writes half a step, as if killed mid-step.
  sqlite3_exec(st.db().raw(), "BEGIN IMMEDIATE; INSERT INTO steps VALUES (1, 'x', 1);", nullptr, nullptr, nullptr);
  auto ro = RolloutStore::open(path(), true);
  EXPECT_EQ(ro.last_step(), 0);  // not blocked, and sees only the committed step
  EXPECT_EQ(count(ro, "SELECT count(*) FROM samples"), 1);
  sqlite3_exec(st.db().raw(), "ROLLBACK", nullptr, nullptr, nullptr);
  st.write_step({1, {}}, {sample(1, 0, 0, 1.0)});
  EXPECT_EQ(ro.last_step(), 1);  // a new read transaction sees the new step
}

TEST_F(StoreTest, QuantileMatchesNumpyLinearInterpolation) {
  // numpy.percentile([1, 2, 3, 4, 10], 90) == 7.6 and ([5], 90) == 5; (n-1)*p = 3.6 -> 4 + 0.6 * (10 - 4).
  EXPECT_NEAR(quantile({10, 1, 3, 2, 4}, 0.9), 7.6, 1e-12);
  EXPECT_DOUBLE_EQ(quantile({5}, 0.9), 5);
  EXPECT_DOUBLE_EQ(quantile({1, 2}, 0.5), 1.5);
  EXPECT_TRUE(std::isnan(quantile({}, 0.5)));
}

TEST(SampleMetrics, ComputedFromSamples) {
  std::vector<SampleRecord> s = {sample(0, 0, 0, 1.0), sample(0, 0, 1, 0.0), sample(0, 1, 0, 0.0), sample(0, 1, 2, 0.0)};
  s[0].n_tokens = 10;
  s[1].n_tokens = 20;
  s[2].n_tokens = 30;
  s[3].n_tokens = 100;
  s[0].policy_version_min = 1;  // staleness: (3-1) + 3*3 over 4 samples at policy version 3
  s[1].policy_version_min = s[2].policy_version_min = s[3].policy_version_min = 0;
  s[3].reward_components["format"] = 0.5;
  StepRecord r{0, {{"kl", 0.3}, {"accuracy", -1}}};
  add_sample_metrics(r, s, 3);
  EXPECT_DOUBLE_EQ(r.metrics.at("kl"), 0.3);
  EXPECT_DOUBLE_EQ(r.metrics.at("accuracy"), -1);  // present keys are kept
  EXPECT_DOUBLE_EQ(r.metrics.at(metric::kRewardMean), 0.25);
  EXPECT_DOUBLE_EQ(r.metrics.at(metric::kRewardStd), std::sqrt(0.25 * 0.75));
  EXPECT_DOUBLE_EQ(r.metrics.at("reward/accuracy"), 0.25);
  EXPECT_DOUBLE_EQ(r.metrics.at("reward/format"), 0.5);  // mean over the one sample where it applied
  EXPECT_DOUBLE_EQ(r.metrics.at(metric::kPassRate), 0.5);  // prompt 0 has a correct sample, prompt 1 none
  EXPECT_DOUBLE_EQ(r.metrics.at(metric::kLenMean), 40);
  EXPECT_NEAR(r.metrics.at(metric::kLenP90), 30 + 0.7 * 70, 1e-12);
  EXPECT_DOUBLE_EQ(r.metrics.at(metric::kLenMax), 100);
  EXPECT_DOUBLE_EQ(r.metrics.at(metric::kTruncatedFrac), 0.25);  // group_index 1 finishes by length
  EXPECT_DOUBLE_EQ(r.metrics.at(metric::kStaleness), (2.0 + 9.0) / 4.0);
}

TEST_F(StoreTest, SyntheticRunIsDeterministicAndConsistent) {
  SyntheticSpec spec;
  spec.n_steps = 12;
  auto st = RolloutStore::open(path());
  write_synthetic_run(st, spec);
  EXPECT_EQ(st.last_step(), 11);
  EXPECT_EQ(count(st, "SELECT count(*) FROM samples"), 12 * spec.prompts_per_step * spec.group_size);
  EXPECT_EQ(st.db().scalar_text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(count(st, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
  auto a = synthetic_samples(spec, 5), b = synthetic_samples(spec, 5);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].text, b[i].text);
  // The stored reward mean equals the mean of the stored rewards.
  Stmt m = st.db().prepare(
      "SELECT m.value, (SELECT avg(reward) FROM samples s WHERE s.step = m.step) FROM step_metrics m "
      "WHERE m.key = 'reward/mean'");
  int n = 0;
  while (m.step()) {
    EXPECT_NEAR(m.f64(0), m.f64(1), 1e-12);
    ++n;
  }
  EXPECT_EQ(n, 12);
}

TEST(StoreConfig, Validates) {
  StoreConfig c;
  c.file = "";
  EXPECT_THROW(c.validate(), ConfigError);
  StoreConfig d;
  config_apply_json(d, json::parse(R"({"synchronous": "full"})"), "test");
  EXPECT_EQ(d.synchronous, Synchronous::Full);
  EXPECT_THROW(config_apply_json(d, json::parse(R"({"synchronous": "sometimes"})"), "test"), ConfigError);
}

}  // namespace
}  // namespace reasonrl::store

// Tests for reward plugins: the example shared library (in a worker process and in-process) and subprocess, ABI
// version mismatch, missing symbols, subprocess plugins that crash or hang (errors per sample, restart, disable after
// max_restarts), a subprocess that writes an extra line (request ids: never a shifted reply), and shared libraries
// that segfault, hang, spin or allocate too much in their worker (errors, restart; the test process survives).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "rewards/manager.h"
#include "rewards/plugin.h"
#include "rl/util/error.h"

namespace reasonrl::rewards {
namespace {

RewardInput sample(std::string response, nlohmann::ordered_json meta = nlohmann::ordered_json::object()) {
  RewardInput x;
  x.prompt = "p";
  x.response = std::move(response);
  x.gold = "1";
  x.meta = std::move(meta);
  return x;
}

PluginSpec so_spec(const std::string& path) {
  PluginSpec s;
  s.name = "keyword";
  s.kind = PluginKind::SharedLibrary;
  s.path = path;
  s.options = R"({"keyword": "therefore"})";
  return s;
}

PluginSpec py_spec() {
  PluginSpec s;
  s.name = "tidy";
  s.kind = PluginKind::Subprocess;
  s.path = std::string(REASONRL_SOURCE_DIR) + "/rewards/examples/example_plugin.py";
  s.timeout_s = 5;
  s.max_restarts = 2;
  return s;
}

TEST(SharedLibraryPlugin, ScoresABatchThroughTheManager) {
  RewardConfig c;
  c.rewards = {"keyword", "accuracy"};
  c.plugins = {so_spec(EXAMPLE_PLUGIN_SO)};
  c.weights = {{"keyword", 0.5}};
  RewardManager m(c);
  auto r = m.score_group({sample("therefore \\boxed{1}"), sample("so \\boxed{1}"), sample(""),
                          sample("therefore", {{"fail", true}})});
  EXPECT_DOUBLE_EQ(*r[0].components["keyword"], 1.0);
  EXPECT_DOUBLE_EQ(r[0].total, 1.5);
  EXPECT_DOUBLE_EQ(*r[1].components["keyword"], 0.0);
  EXPECT_FALSE(r[2].components["keyword"].has_value());  // not applicable
  EXPECT_FALSE(r[3].components["keyword"].has_value());  // error, recorded, not 0
  EXPECT_NE(r[3].error.find("sample asked to fail"), std::string::npos) << r[3].error;
}

TEST(SharedLibraryPlugin, VersionMismatchAndMissingSymbolAreClearErrors) {
  try {
    make_plugin_reward(so_spec(BAD_VERSION_PLUGIN_SO));
    FAIL();
  } catch (const PluginError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("version 99"), std::string::npos) << m;
    EXPECT_NE(m.find("version 1"), std::string::npos) << m;
  }
  try {
    make_plugin_reward(so_spec(MISSING_SYMBOL_PLUGIN_SO));
    FAIL();
  } catch (const PluginError& e) {
    EXPECT_NE(std::string(e.what()).find("reasonrl_reward_score"), std::string::npos) << e.what();
  }
  EXPECT_THROW(make_plugin_reward(so_spec("/nonexistent/plugin.so")), PluginError);
  auto bad = so_spec(EXAMPLE_PLUGIN_SO);
  bad.options = R"({"keyword": 5})";
  EXPECT_THROW(make_plugin_reward(bad), PluginError);
}

TEST(SharedLibraryPlugin, InProcessIsolationNoneScoresTheSameAsTheWorker) {
  RewardConfig c;
  c.rewards = {"keyword"};
  c.plugins = {so_spec(EXAMPLE_PLUGIN_SO)};
  const std::vector<RewardInput> g = {sample("therefore \\boxed{1}"), sample("so"), sample(""),
                                      sample("therefore", {{"fail", true}})};
  RewardManager worker(c);
  c.plugins[0].isolation = PluginIsolation::None;
  RewardManager inproc(c);
  const auto a = worker.score_group(g), b = inproc.score_group(g);
  for (size_t i = 0; i < g.size(); ++i) {
    EXPECT_EQ(a[i].components.at("keyword"), b[i].components.at("keyword")) << i;
    EXPECT_EQ(a[i].errors, b[i].errors) << i;
  }
  EXPECT_EQ(a[3].errors.at("keyword"), "sample asked to fail");
  EXPECT_TRUE(a[2].errors.empty());  // n/a is not an error
  // load errors are PluginErrors at construction in-process too
  auto bad = so_spec(BAD_VERSION_PLUGIN_SO);
  bad.isolation = PluginIsolation::None;
  EXPECT_THROW(make_plugin_reward(bad), PluginError);
}

// ---- a shared library in its worker process: it misbehaves, the host survives ----

PluginSpec worker_spec() {
  PluginSpec s;
  s.name = "bad";
  s.kind = PluginKind::SharedLibrary;
  s.path = MISBEHAVING_PLUGIN_SO;
  s.timeout_s = 20;
  s.max_restarts = 5;
  return s;
}

// Scores one sample (response "abc", meta {key: true}) and then a healthy one, which must work again (restarted).
std::pair<RewardScore, double> misbehave_then_recover(Reward& r, const std::string& key) {
  GroupContext ctx;
  const auto t0 = std::chrono::steady_clock::now();
  auto s = r.score_group({sample("abc", {{key, true}}), sample("abcd")}, ctx);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].error, s[1].error);  // the whole batch failed together
  auto ok = r.score_group({sample("hello")}, ctx);
  EXPECT_TRUE(ok[0].value.has_value()) << ok[0].error;
  if (ok[0].value) {
    EXPECT_EQ(*ok[0].value, 5.0);
  }
  return {s[0], sec};
}

TEST(SharedLibraryWorker, ASegfaultIsAnErrorAndTheWorkerRestarts) {
  auto r = make_plugin_reward(worker_spec());
  GroupContext ctx;
  EXPECT_EQ(*r->score_group({sample("abc")}, ctx)[0].value, 3.0);
  auto [s, sec] = misbehave_then_recover(*r, "segv");
  EXPECT_FALSE(s.value.has_value());
  EXPECT_NE(s.error.find("crashed (signal 11)"), std::string::npos) << s.error;
}

TEST(SharedLibraryWorker, AHangIsKilledAtTimeout) {
  auto spec = worker_spec();
  spec.timeout_s = 1.0;
  auto r = make_plugin_reward(spec);
  auto [s, sec] = misbehave_then_recover(*r, "hang");
  EXPECT_NE(s.error.find("timed out"), std::string::npos) << s.error;
  EXPECT_GE(sec, 0.9);
  EXPECT_LT(sec, 5.0);
}

TEST(SharedLibraryWorker, ASpinIsStoppedByTheCpuLimitPerCall) {
  auto spec = worker_spec();
  spec.timeout_s = 60;  // the wall-clock limit is far: the CPU limit must act
  spec.max_cpu_s = 1;
  auto r = make_plugin_reward(spec);
  auto [s, sec] = misbehave_then_recover(*r, "spin");
  EXPECT_NE(s.error.find("CPU limit"), std::string::npos) << s.error;
  EXPECT_LT(sec, 30.0);
}

TEST(SharedLibraryWorker, AnAllocationPastTheMemoryLimitIsAnError) {
  if (!plugin_memory_limit_enforced()) GTEST_SKIP() << "AddressSanitizer build: RLIMIT_AS cannot apply (plugin.h)";
  auto spec = worker_spec();
  spec.max_memory_mb = 256;
  auto r = make_plugin_reward(spec);
  auto [s, sec] = misbehave_then_recover(*r, "hog");
  EXPECT_FALSE(s.value.has_value()) << "the plugin allocated 3 GiB under a 256 MiB limit";
  EXPECT_NE(s.error.find("max_memory_mb 256"), std::string::npos) << s.error;
}

TEST(SharedLibraryWorker, PrintsGoToStderrAndNanIsAnError) {
  RewardConfig c;
  c.rewards = {"bad"};
  c.plugins = {worker_spec()};
  RewardManager m(c);
  const auto r = m.score_group({sample("abc", {{"print", true}}), sample("abcd", {{"nan", true}})});
  ASSERT_TRUE(r[0].components.at("bad").has_value()) << r[0].error;
  EXPECT_EQ(*r[0].components.at("bad"), 3.0);
  EXPECT_FALSE(r[1].components.at("bad").has_value());
  EXPECT_EQ(r[1].errors.at("bad"), "non-finite value");
}

TEST(SharedLibraryWorker, DisabledAfterMaxRestarts) {
  auto spec = worker_spec();
  spec.max_restarts = 1;
  spec.options = R"({"segv_always": true})";
  auto r = make_plugin_reward(spec);
  GroupContext ctx;
  EXPECT_NE(r->score_group({sample("a")}, ctx)[0].error.find("signal 11"), std::string::npos);
  EXPECT_NE(r->score_group({sample("a")}, ctx)[0].error.find("signal 11"), std::string::npos);  // restart 1
  EXPECT_NE(r->score_group({sample("a")}, ctx)[0].error.find("disabled after 1 restarts"), std::string::npos);
}

TEST(SubprocessPlugin, ScoresABatch) {
  auto r = make_plugin_reward(py_spec());
  GroupContext ctx;
  auto s = r->score_group({sample("One.\nTwo"), sample("All done."), sample(""), sample("x", {{"fail", true}})}, ctx);
  ASSERT_EQ(s.size(), 4u);
  EXPECT_DOUBLE_EQ(*s[0].value, 0.5);
  EXPECT_DOUBLE_EQ(*s[1].value, 1.0);
  EXPECT_FALSE(s[2].value.has_value());
  EXPECT_TRUE(s[2].error.empty());
  EXPECT_FALSE(s[3].value.has_value());
  EXPECT_EQ(s[3].error, "sample asked to fail");
  // the process stays up between calls
  s = r->score_group({sample("Yes.")}, ctx);
  EXPECT_DOUBLE_EQ(*s[0].value, 1.0);
}

TEST(SubprocessPlugin, CrashIsRecordedPerSampleAndTheProcessRestarts) {
  auto r = make_plugin_reward(py_spec());
  GroupContext ctx;
  auto s = r->score_group({sample("A."), sample("B.", {{"crash", true}})}, ctx);
  for (const auto& x : s) {
    EXPECT_FALSE(x.value.has_value());  // never a silent 0
    EXPECT_NE(x.error.find("exited with status 3"), std::string::npos) << x.error;
  }
  s = r->score_group({sample("C.")}, ctx);  // restarted
  ASSERT_TRUE(s[0].value.has_value()) << s[0].error;
  EXPECT_DOUBLE_EQ(*s[0].value, 1.0);
}

TEST(SubprocessPlugin, HangTimesOutAndIsKilled) {
  auto spec = py_spec();
  spec.timeout_s = 1.0;
  auto r = make_plugin_reward(spec);
  GroupContext ctx;
  const auto t0 = std::chrono::steady_clock::now();
  auto s = r->score_group({sample("A.", {{"hang", true}})}, ctx);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(sec, 3.0);
  EXPECT_GE(sec, 0.9);
  EXPECT_NE(s[0].error.find("timed out"), std::string::npos) << s[0].error;
  s = r->score_group({sample("B.")}, ctx);
  ASSERT_TRUE(s[0].value.has_value()) << s[0].error;
}

TEST(SubprocessPlugin, DisabledAfterMaxRestarts) {
  auto spec = py_spec();
  spec.max_restarts = 1;
  auto r = make_plugin_reward(spec);
  GroupContext ctx;
  r->score_group({sample("x", {{"crash", true}})}, ctx);  // first start, crash
  r->score_group({sample("x", {{"crash", true}})}, ctx);  // restart 1, crash
  auto s = r->score_group({sample("x.")}, ctx);           // no restarts left
  EXPECT_NE(s[0].error.find("disabled"), std::string::npos) << s[0].error;
}

// A plugin that writes its reply twice: with protocol 1 (no ids) every later batch read the previous batch's reply.
// Now each value is the right one or an error, the misbehaviour is named, and the plugin is restarted.
TEST(SubprocessPlugin, AnExtraLineNeverShiftsRewards) {
  PluginSpec spec = py_spec();
  spec.path = std::string(REASONRL_SOURCE_DIR) + "/tests/rewards/extra_line_plugin.py";
  spec.max_restarts = 100;
  auto r = make_plugin_reward(spec);
  GroupContext ctx;
  int right = 0, errors = 0, named = 0;
  for (int b = 0; b < 8; ++b) {
    std::vector<RewardInput> g;
    for (int i = 0; i < 3; ++i) g.push_back(sample(std::string(size_t(10 * b + i + 1), 'x')));
    const auto s = r->score_group(g, ctx);
    ASSERT_EQ(s.size(), 3u);
    for (int i = 0; i < 3; ++i) {
      if (s[i].value) {
        EXPECT_EQ(*s[i].value, double(10 * b + i + 1)) << "batch " << b << " sample " << i << ": a shifted reply";
        ++right;
      } else {
        ++errors;
        EXPECT_FALSE(s[i].error.empty());
        named += s[i].error.find("does not echo the request id") != std::string::npos ||
                 s[i].error.find("more than one line") != std::string::npos ||
                 s[i].error.find("outside a reply") != std::string::npos;
      }
    }
  }
  EXPECT_GT(errors, 0) << "the extra line went unnoticed";
  EXPECT_EQ(named, errors);
  EXPECT_GT(right, 0) << "the plugin was not restarted";
}

TEST(SubprocessPlugin, AReplyWithoutTheRequestIdIsAnError) {
  PluginSpec spec = py_spec();
  spec.path = "/bin/sh";
  spec.args = {"-c", "read line; echo '{\"version\": 2, \"results\": [{\"score\": 1}]}'; sleep 5"};
  auto r = make_plugin_reward(spec);
  GroupContext ctx;
  auto s = r->score_group({sample("x")}, ctx);
  EXPECT_FALSE(s[0].value.has_value());
  EXPECT_NE(s[0].error.find("reply id missing does not echo the request id 1"), std::string::npos) << s[0].error;
}

TEST(SubprocessPlugin, ProtocolVersionMismatchIsAnError) {
  PluginSpec spec = py_spec();
  spec.path = "/bin/sh";
  spec.args = {"-c", "read line; echo '{\"version\": 7, \"results\": [{\"score\": 1}]}'"};
  auto r = make_plugin_reward(spec);
  GroupContext ctx;
  auto s = r->score_group({sample("x")}, ctx);
  EXPECT_NE(s[0].error.find("protocol version mismatch"), std::string::npos) << s[0].error;
  spec.path = "/nonexistent/program";
  EXPECT_THROW(make_plugin_reward(spec), PluginError);
}

}  // namespace
}  // namespace reasonrl::rewards

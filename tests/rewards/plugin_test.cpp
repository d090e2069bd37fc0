// Tests for reward plugins: the example shared library (in a worker process and in-process) and subprocess, ABI
// version mismatch, missing symbols, subprocess plugins that crash or hang (errors per sample, restart, disable after
// max_restarts), a subprocess that writes an extra line (request ids: never a shifted reply), and shared libraries
// that segfault, hang, spin or allocate too much in their worker (errors, restart; the test process survives); pools
// of workers (plugins[].workers): the same rewards as one process, every worker used, a crash costs its groups only.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <set>

#include <unistd.h>

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

// A plugin that writes one extra line per request (its previous reply, just before the new one): with protocol 1 (no
// ids) every later batch read the previous batch's reply. Now each value is the right one or an error, the
// misbehaviour is named, and the plugin is restarted (each fresh process's first batch is right).
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

// ---- pools: plugins[].workers processes score a batch's groups in parallel ----

// Five groups of different sizes, applicable, not applicable and failing samples, for the example plugins.
std::vector<std::vector<RewardInput>> pool_batch() {
  std::vector<std::vector<RewardInput>> b;
  for (int g = 0; g < 5; ++g) {
    auto& grp = b.emplace_back();
    for (int i = 0; i <= g % 3; ++i)
      grp.push_back(sample((i + g) % 2 ? "therefore \\boxed{1}. Done." : "so it is \\boxed{2}\nmaybe"));
    if (g == 3) grp.push_back(sample("therefore", {{"fail", true}}));
    if (g == 4) grp.push_back(sample(""));
  }
  return b;
}

void expect_same_results(const std::vector<std::vector<RewardResult>>& a, const std::vector<std::vector<RewardResult>>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t g = 0; g < a.size(); ++g) {
    ASSERT_EQ(a[g].size(), b[g].size()) << g;
    for (size_t i = 0; i < a[g].size(); ++i) {
      EXPECT_EQ(a[g][i].components, b[g][i].components) << g << "/" << i;
      EXPECT_EQ(a[g][i].errors, b[g][i].errors) << g << "/" << i;
      EXPECT_EQ(a[g][i].total, b[g][i].total) << g << "/" << i;
      EXPECT_EQ(a[g][i].correct, b[g][i].correct) << g << "/" << i;
    }
  }
}

TEST(PluginWorkers, TwoWorkersScoreABatchAsOneProcessDoes) {
  for (PluginSpec spec : {so_spec(EXAMPLE_PLUGIN_SO), py_spec()}) {
    RewardConfig c;
    c.rewards = {spec.name, "accuracy"};
    c.plugins = {spec};
    const auto batch = pool_batch();
    RewardManager one(c);
    std::vector<std::vector<RewardResult>> by_group;  // one process, group by group (the trainer before pools)
    for (const auto& g : batch) by_group.push_back(one.score_group(g));
    c.plugins[0].workers = 2;
    RewardManager two(c);
    const auto pooled = two.score_groups(batch);
    expect_same_results(pooled, by_group);
    c.plugins[0].workers = 3;
    RewardManager three(c);
    expect_same_results(three.score_groups(batch), by_group);
    // the batch's values are really there: applicable, not applicable and failed samples
    int applicable = 0, failed = 0;
    for (const auto& g : pooled)
      for (const auto& r : g) {
        applicable += r.components.at(spec.name).has_value();
        failed += r.errors.count(spec.name) != 0;
      }
    EXPECT_GT(applicable, 5) << spec.name;
    EXPECT_EQ(failed, 1) << spec.name;
  }
}

// Four groups, each with one "pid" sample (scored with the id of the process that scored it); `crash` adds a sample
// that segfaults its worker to group 1.
std::vector<std::vector<RewardInput>> pid_batch(bool crash) {
  std::vector<std::vector<RewardInput>> b(4);
  for (auto& g : b) g.push_back(sample("x", {{"pid", true}}));
  if (crash) b[1].push_back(sample("y", {{"segv", true}}));
  return b;
}

double pid_of(const std::vector<RewardScore>& s) {
  EXPECT_TRUE(s[0].value.has_value()) << s[0].error;
  return s[0].value.value_or(-1);
}

TEST(PluginWorkers, EveryWorkerIsUsedAndACrashCostsOnlyItsWorkersGroups) {
  PluginSpec spec = worker_spec();
  spec.workers = 2;
  auto r = make_plugin_reward(spec);
  const std::vector<GroupContext> ctx(4);
  auto b = pid_batch(false);
  auto s = r->score_groups(b, ctx);
  const double p0 = pid_of(s[0]), p1 = pid_of(s[1]);
  EXPECT_NE(p0, p1) << "both groups went to one process";
  EXPECT_NE(p0, double(getpid()));
  EXPECT_NE(p1, double(getpid()));
  EXPECT_EQ(pid_of(s[2]), p0);  // round robin: groups 0, 2 -> worker 1; 1, 3 -> worker 2
  EXPECT_EQ(pid_of(s[3]), p1);

  b = pid_batch(true);  // worker 2 crashes on group 1
  s = r->score_groups(b, ctx);
  for (const auto& x : s[1]) {
    EXPECT_FALSE(x.value.has_value());
    EXPECT_NE(x.error.find("plugin 'bad' (worker 2 of 2): plugin crashed (signal 11)"), std::string::npos) << x.error;
  }
  for (size_t g : {0, 2, 3}) EXPECT_TRUE(s[g][0].error.empty()) << g << ": " << s[g][0].error;
  EXPECT_EQ(pid_of(s[0]), p0);  // worker 1 untouched
  EXPECT_EQ(pid_of(s[2]), p0);
  const double p1b = pid_of(s[3]);  // worker 2 restarted for its next group
  EXPECT_NE(p1b, p1);
  EXPECT_NE(p1b, p0);
}

TEST(PluginWorkers, ADisabledWorkersGroupsGoToTheOthers) {
  PluginSpec spec = worker_spec();
  spec.workers = 2;
  spec.max_restarts = 0;
  auto r = make_plugin_reward(spec);
  const std::vector<GroupContext> ctx(4);
  auto b = pid_batch(true);
  auto s = r->score_groups(b, ctx);
  const double p0 = pid_of(s[0]);
  EXPECT_NE(s[1][0].error.find("worker 2 of 2"), std::string::npos) << s[1][0].error;
  EXPECT_NE(s[3][0].error.find("(worker 2 of 2) disabled after 0 restarts"), std::string::npos) << s[3][0].error;
  b = pid_batch(false);
  s = r->score_groups(b, ctx);  // worker 2 is out of restarts: worker 1 scores every group
  for (size_t g = 0; g < 4; ++g) EXPECT_EQ(pid_of(s[g]), p0) << g;
}

TEST(PluginWorkers, SubprocessPoolCrashCostsOnlyItsGroups) {
  PluginSpec spec = py_spec();
  spec.workers = 2;
  auto r = make_plugin_reward(spec);
  const std::vector<GroupContext> ctx(4);
  std::vector<std::vector<RewardInput>> b = {{sample("A.")}, {sample("B.", {{"crash", true}})}, {sample("C.")}, {sample("D.")}};
  auto s = r->score_groups(b, ctx);
  EXPECT_NE(s[1][0].error.find("plugin 'tidy' (worker 2 of 2): plugin exited with status 3"), std::string::npos)
      << s[1][0].error;
  for (size_t g : {0, 2, 3}) {
    ASSERT_TRUE(s[g][0].value.has_value()) << g << ": " << s[g][0].error;
    EXPECT_DOUBLE_EQ(*s[g][0].value, 1.0);
  }
}

TEST(PluginWorkers, WorkersMustBePositiveAndNeedIsolationProcess) {
  PluginSpec spec = so_spec(EXAMPLE_PLUGIN_SO);
  for (int w : {0, -2, 257}) {
    spec.workers = w;
    EXPECT_THROW(spec.validate(), ConfigError) << w;
  }
  spec.workers = 2;
  spec.isolation = PluginIsolation::None;
  try {
    spec.validate();
    FAIL() << "workers 2 with isolation none accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("needs isolation process"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace reasonrl::rewards

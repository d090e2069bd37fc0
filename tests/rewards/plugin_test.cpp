// Tests for reward plugins: the example shared library and subprocess, ABI version mismatch, missing symbols,
// and subprocess plugins that crash or hang (errors per sample, restart, disable after max_restarts).
#include <gtest/gtest.h>

#include <chrono>

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

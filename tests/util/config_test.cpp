// Tests for the config system: JSON round trip, unknown keys, wrong types, enums, CLI overrides.
#include "rl/cli/config_cli.h"
#include "rl/util/config.h"

#include <gtest/gtest.h>

namespace reasonrl {
namespace {

enum class Mode { Alpha, Beta };
REASONRL_ENUM_NAMES(Mode, {Mode::Alpha, "alpha"}, {Mode::Beta, "beta"})

struct Inner {
  int n = 3;
  double x = 0.5;
  template <class V>
  void visit(V& v) {
    v("n", n, "a count");
    v("x", x, "a real");
  }
  void validate() const {
    if (n < 0) throw ConfigError("inner.n must be >= 0");
  }
};

struct Outer {
  std::string name = "tiny";
  bool flag = false;
  Mode mode = Mode::Alpha;
  std::vector<std::string> names = {"a", "b"};
  std::map<std::string, double> weights = {{"acc", 1.0}};
  Inner inner;
  template <class V>
  void visit(V& v) {
    v("name", name, "the name");
    v("flag", flag, "a flag");
    v("mode", mode, "the mode");
    v("names", names, "names");
    v("weights", weights, "weights");
    v("inner", inner, "nested");
  }
};

TEST(Config, RoundTripThroughJson) {
  Outer a;
  a.name = "x";
  a.flag = true;
  a.mode = Mode::Beta;
  a.names = {"q"};
  a.weights = {{"f", 0.25}};
  a.inner.n = 7;
  a.inner.x = -1.5;
  Outer b;
  config_apply_json(b, config_to_json(a), "test");
  EXPECT_EQ(config_to_json(a).dump(), config_to_json(b).dump());
  EXPECT_EQ(b.mode, Mode::Beta);
  EXPECT_EQ(b.inner.n, 7);
}

TEST(Config, UnknownKeyNamesKeyLineAndValidKeys) {
  const std::string text = "{\n  \"name\": \"a\",\n  \"inner\": {\n    \"m\": 1\n  }\n}\n";
  Outer c;
  try {
    config_apply_json(c, parse_json_text(text, "f.json"), "f.json", text);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("f.json:4"), std::string::npos) << msg;
    EXPECT_NE(msg.find("inner.m"), std::string::npos) << msg;
    EXPECT_NE(msg.find("n, x"), std::string::npos) << msg;
  }
}

TEST(Config, WrongTypeIsAnError) {
  Outer c;
  EXPECT_THROW(config_apply_json(c, json::parse(R"({"inner":{"n":1.5}})"), "t"), ConfigError);
  EXPECT_THROW(config_apply_json(c, json::parse(R"({"flag":1})"), "t"), ConfigError);
  EXPECT_THROW(config_apply_json(c, json::parse(R"({"name":3})"), "t"), ConfigError);
}

TEST(Config, UnknownEnumListsValidModes) {
  Outer c;
  try {
    config_apply_json(c, json::parse(R"({"mode":"gamma"})"), "t");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("alpha, beta"), std::string::npos) << e.what();
  }
}

TEST(Config, ValidateRuns) {
  Outer c;
  EXPECT_THROW(config_apply_json(c, json::parse(R"({"inner":{"n":-1}})"), "t"), ConfigError);
}

TEST(Config, InvalidJsonNamesLine) {
  try {
    parse_json_text("{\n\"a\": 1,\n\"b\": }\n", "bad.json");
    FAIL();
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json:3"), std::string::npos) << e.what();
  }
}

TEST(Config, CliOverridesBeatDefaults) {
  CLI::App app;
  ConfigCli<Outer> cli(&app);
  const char* argv[] = {"x", "--inner.n", "9", "--mode", "beta", "--names", "u,v,w", "--weights", "a=1,b=2", "--flag", "true"};
  app.parse(11, const_cast<char**>(argv));
  Outer c = cli.resolve();
  EXPECT_EQ(c.inner.n, 9);
  EXPECT_EQ(c.mode, Mode::Beta);
  EXPECT_EQ(c.names.size(), 3u);
  EXPECT_DOUBLE_EQ(c.weights.at("b"), 2.0);
  EXPECT_TRUE(c.flag);
  EXPECT_EQ(c.name, "tiny");
}

TEST(Config, HelpListsEveryLeaf) {
  const std::string h = config_help(Outer{});
  for (const char* k : {"name", "flag", "mode", "inner.n", "inner.x", "weights"}) EXPECT_NE(h.find(k), std::string::npos) << k;
}

}  // namespace
}  // namespace reasonrl

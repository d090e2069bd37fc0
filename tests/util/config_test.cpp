// Tests for the config system: JSON round trip, unknown keys, wrong types, enums, CLI overrides; errors name the file,
// the line of the key's full path and the key; overflow, wrapping integers, duplicate keys and moved keys are errors.
#include "rl/cli/config_cli.h"
#include "rl/util/config.h"

#include <gtest/gtest.h>

#include <cstdint>

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

// ---- issue 17 §2 / issue 18 §4: every input error is a clear error naming file, line and key ----

std::string apply_error(const std::string& text, const std::string& file = "f.json") {
  Outer c;
  try {
    config_apply_json(c, parse_json_text(text, file), file, text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Config, NestedKeyErrorIsReportedAtTheLineOfItsFullPath) {
  // "n" appears first at the top level (line 2, inside a string key "n" of weights); the bad one is inner.n on line 5
  const std::string text = "{\n  \"weights\": {\"n\": 1},\n  \"name\": \"a\",\n  \"inner\": {\n    \"n\": 1.5\n  }\n}\n";
  const std::string msg = apply_error(text);
  EXPECT_NE(msg.find("f.json:5:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("inner.n"), std::string::npos) << msg;
}

TEST(Config, ValidationErrorNamesFileLineAndSection) {
  const std::string text = "{\n  \"name\": \"a\",\n  \"inner\": {\n    \"x\": 1,\n    \"n\": -1\n  }\n}\n";
  const std::string msg = apply_error(text);
  EXPECT_NE(msg.find("f.json:5:"), std::string::npos) << msg;  // the line of inner.n, which the message names
  EXPECT_NE(msg.find("in 'inner'"), std::string::npos) << msg;
}

struct Ints {
  int n = 1;
  uint32_t u = 1;
  template <class V>
  void visit(V& v) {
    v("n", n, "int");
    v("u", u, "uint32");
  }
};

TEST(Config, IntegerThatDoesNotFitIsAnErrorNotAWrap) {
  for (const char* text : {R"({"n": 4294967297})", R"({"n": -2147483649})", R"({"u": 4294967296})"}) {
    Ints c;
    try {
      config_apply_json(c, parse_json_text(text, "i.json"), "i.json", text);
      ADD_FAILURE() << text << " was accepted: n=" << c.n << " u=" << c.u;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("i.json:1"), std::string::npos) << e.what();
    }
  }
}

TEST(Config, FloatOverflowIsAFormatErrorWithTheLine) {
  const std::string msg = apply_error("{\n  \"inner\": {\"x\": 1e999}\n}\n");
  EXPECT_NE(msg.find("f.json:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1e999"), std::string::npos) << msg;
}

TEST(Config, DuplicateKeysAreAnError) {
  const std::string msg = apply_error("{\n  \"inner\": {\"n\": 1,\n  \"n\": 2}\n}\n");
  EXPECT_NE(msg.find("f.json:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("duplicate key 'inner.n'"), std::string::npos) << msg;
  EXPECT_EQ(apply_error("{\"inner\": {\"n\": 1}, \"weights\": {\"n\": 2}}"), "");  // same name, other object
}

TEST(Config, ADirectoryIsNotAConfigFile) {
  Outer c;
  try {
    config_load_file(c, ::testing::TempDir());
    FAIL() << "a directory was read as a config";
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("directory"), std::string::npos) << e.what();
  }
}

struct Moved {
  int g = 8;
  template <class V>
  void visit(V& v) {
    v("g", g, "group size");
  }
  static constexpr MovedKey kMovedKeys[] = {{"num_generations", "'rollout.num_generations'"}};
};

TEST(Config, AMovedKeyNamesTheNewOne) {
  const std::string text = "{\"g\": 2,\n\"num_generations\": 4}";
  Moved c;
  try {
    config_apply_json(c, parse_json_text(text, "m.json"), "m.json", text);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("m.json:2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("rollout.num_generations"), std::string::npos) << e.what();
  }
}

TEST(Config, CommandLineParseErrorsNameTheKey) {
  for (const char* value : {"abc", "1e999"}) {
    CLI::App app;
    ConfigCli<Outer> cli(&app);
    const char* argv[] = {"x", "--inner.x", value};
    app.parse(3, const_cast<char**>(argv));
    try {
      cli.resolve();
      FAIL() << value;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("--inner.x"), std::string::npos) << e.what();
    }
  }
}

// fuzz_config: a string value with an ill-formed UTF-8 byte was accepted, then config.json could not be written
// (nlohmann type_error 316: "internal error"). Refused at the command line now, for every type (a map key too).
TEST(Config, CommandLineValuesMustBeUtf8) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"--name", "ab\xdf c"}, {"--names", "a,\xff"}, {"--weights", "\xc3=1"}, {"--inner.n", "\xe2\x82"}}) {
    CLI::App app;
    ConfigCli<Outer> cli(&app);
    const char* argv[] = {"x", key.c_str(), value.c_str()};
    app.parse(3, const_cast<char**>(argv));
    try {
      const Outer c = cli.resolve();
      ADD_FAILURE() << key << " accepted; config.json: " << config_to_json(c).dump(-1, ' ', false, json::error_handler_t::replace);
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(key + ": "), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("not valid UTF-8"), std::string::npos) << e.what();
    }
  }
}

TEST(Config, HelpShowsTheRealTypes) {
  CLI::App app;
  ConfigCli<Outer> cli(&app);
  const std::string help = app.help();
  EXPECT_NE(help.find("--inner.n int"), std::string::npos) << help;
  EXPECT_NE(help.find("--inner.x float"), std::string::npos) << help;
  EXPECT_NE(help.find("--mode enum{alpha, beta}"), std::string::npos) << help;
  EXPECT_EQ(help.find("TEXT"), std::string::npos) << help;
}

TEST(Config, DiffListsChangedLeavesOnly) {
  Outer a, b;
  b.inner.n = 9;
  b.mode = Mode::Beta;
  const auto d = config_diff(config_to_json(a), config_to_json(b));
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].path, "mode");
  EXPECT_EQ(format_change(d[1]), "inner.n: 3 -> 9");
}

TEST(Config, FloatsAreWrittenAsTheirShortestDecimal) {
  EXPECT_EQ(cfg_detail::to_j(0.7f).dump(), "0.7");
  EXPECT_EQ(cfg_detail::to_j(0.95f).get<float>(), 0.95f);
}

TEST(Config, HelpListsEveryLeaf) {
  const std::string h = config_help(Outer{});
  for (const char* k : {"name", "flag", "mode", "inner.n", "inner.x", "weights"}) EXPECT_NE(h.find(k), std::string::npos) << k;
}

// json_int_in decides before any narrowing, for unsigned, signed and non-integer values, in both JSON flavours.
TEST(JsonIntIn, ChecksTheValueBeforeNarrowing) {
  EXPECT_TRUE(json_int_in(nlohmann::json(5), 0, 5));
  EXPECT_FALSE(json_int_in(nlohmann::json(6), 0, 5));
  EXPECT_FALSE(json_int_in(nlohmann::json(4294967301ULL), 0, 5));  // get<int>() would read 5
  EXPECT_FALSE(json_int_in(nlohmann::json(18446744073709551615ULL), -1, 1'000'000));  // not -1
  EXPECT_TRUE(json_int_in(json::parse("-3"), -3, 0));
  EXPECT_FALSE(json_int_in(json::parse("-4"), -3, 0));
  EXPECT_FALSE(json_int_in(json::parse("1.0"), 0, 5));
  EXPECT_FALSE(json_int_in(json::parse("\"1\""), 0, 5));
  EXPECT_TRUE(json_int_in(json::parse("9223372036854775807"), 0, std::numeric_limits<int64_t>::max()));
}

}  // namespace
}  // namespace reasonrl

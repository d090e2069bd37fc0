// Unit tests for rewards/: registry, manager composition, accuracy (math + synthetic tasks), format, tag count,
// Kimi length, DAPO overlong, repetition, countdown, language consistency, robustness on pathological input.
#include <gtest/gtest.h>

#include <chrono>

#include "rewards/countdown.h"
#include "rewards/extract.h"
#include "rewards/language.h"
#include "rewards/length_rewards.h"
#include "rewards/manager.h"
#include "rewards/math_verify.h"
#include "rewards/text_rewards.h"
#include "rl/util/error.h"

namespace reasonrl::rewards {
namespace {

RewardInput in(std::string response, std::string gold = "", std::string task = "math") {
  RewardInput x;
  x.prompt = "What is 2+3?";
  x.response = std::move(response);
  x.gold = std::move(gold);
  x.task = std::move(task);
  return x;
}

TEST(Registry, UnknownRewardListsRegisteredOnes) {
  try {
    make_reward("no_such_reward", nlohmann::ordered_json::object());
    FAIL();
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("accuracy"), std::string::npos) << m;
    EXPECT_NE(m.find("language_consistency"), std::string::npos) << m;
  }
  for (const char* n : {"accuracy", "format", "tag_count", "length", "overlong", "repetition", "countdown", "countdown_trace", "countdown_grounded", "language_consistency"})
    EXPECT_TRUE(reward_registered(n)) << n;
}

TEST(Registry, UserRewardCanBeRegistered) {
  register_reward("test_len_parity", [](const nlohmann::ordered_json&) {
    return make_simple_reward([](const RewardInput& x) -> std::optional<double> { return x.response.size() % 2 ? 1.0 : 0.0; });
  }, "test");
  RewardConfig c;
  c.rewards = {"test_len_parity"};
  RewardManager m(c);
  EXPECT_EQ(m.score_one(in("abc")).total, 1.0);
  EXPECT_EQ(m.score_one(in("ab")).total, 0.0);
}

TEST(Manager, WeightsAndNotApplicableAreDistinctFromZero) {
  RewardConfig c;
  c.rewards = {"accuracy", "format"};
  c.weights = {{"accuracy", 1.0}, {"format", 0.5}};
  RewardManager m(c);
  // correct + well formed (strict open-r1 template)
  auto r = m.score_one(in("<think>\n2+3=5\n</think>\n<answer>\n5\n</answer>", "5"));
  EXPECT_TRUE(r.correct);
  EXPECT_DOUBLE_EQ(r.total, 1.5);
  ASSERT_TRUE(r.components.at("format").has_value());
  EXPECT_DOUBLE_EQ(*r.components.at("format"), 1.0);
  // wrong, malformed: 0, not n/a
  r = m.score_one(in("it is 6", "5"));
  EXPECT_FALSE(r.correct);
  ASSERT_TRUE(r.components.at("accuracy").has_value());
  EXPECT_DOUBLE_EQ(*r.components.at("accuracy"), 0.0);
  // gold that cannot be parsed: accuracy is n/a (never a reward), left out of the total
  r = m.score_one(in("\\boxed{5}", ""));
  EXPECT_FALSE(r.components.at("accuracy").has_value());
  EXPECT_FALSE(r.correct);
  EXPECT_DOUBLE_EQ(r.total, 0.0);
}

TEST(Manager, ConfigErrors) {
  RewardConfig c;
  c.rewards = {"accuracy", "accuracy"};
  EXPECT_THROW(RewardManager{c}, ConfigError);
  c.rewards = {"accuracy"};
  c.weights = {{"format", 1.0}};
  EXPECT_THROW(RewardManager{c}, ConfigError);
  RewardConfig d;
  EXPECT_THROW(config_apply_json(d, json::parse(R"({"format":{"mode":"loose"}})"), "t"), ConfigError);
  EXPECT_THROW(config_apply_json(d, json::parse(R"({"repetition":{"max_penalty":0.5}})"), "t"), ConfigError);
  d.rewards = {"length"};  // needs a verifier
  EXPECT_THROW(RewardManager{d}, ConfigError);
}

// A target language the counter has no words for ("eng", "sv", "klingon") scored 0 on every sample, silently; each
// known code, and each alias, is one the counter really finds words of.
TEST(Language, AnUnknownTargetLanguageIsAConfigError) {
  RewardConfig d;
  for (const char* code : {"eng", "sv", "klingon"}) {
    try {
      config_apply_json(d, json::parse(std::string(R"({"language_consistency":{"target_language":")") + code + "\"}}"), "t.json");
      ADD_FAILURE() << code << " accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("target_language '" + std::string(code) + "'"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("en, es"), std::string::npos) << e.what();
    }
  }
  const std::map<std::string, std::string> text = {
      {"en", "the answer is the sum of the two numbers"}, {"zh", "这是用中文写的回答"}, {"ru", "Ответ равен пяти"},
      {"de", "der Hund und die Katze"}, {"fr", "le chat et les chiens"}, {"ja", "ひらがなのぶん"}};
  for (const auto& [code, t] : text) {
    EXPECT_TRUE(language_code_known(code)) << code;
    EXPECT_GT(language_consistency(t, code), 0.5) << code;
  }
  for (const char* alias : {"Chinese", "zh-CN", "cn", "english", "EN"}) EXPECT_TRUE(language_code_known(alias)) << alias;
  const auto codes = known_language_codes();
  EXPECT_GE(codes.size(), 20u);
  config_apply_json(d, json::parse(R"({"language_consistency":{"target_language":"zh"}})"), "t.json");
  EXPECT_EQ(d.language_consistency.target_language, "zh");
}

TEST(MathVerify, GoldFirstAndTriState) {
  EXPECT_EQ(math_verify("\\frac{1}{2}", "The answer is $\\boxed{0.5}$"), Verdict::Equal);
  EXPECT_EQ(math_verify("\\frac{1}{2}", "\\boxed{\\frac{1}{3}}"), Verdict::NotEqual);
  EXPECT_EQ(math_verify("", "\\boxed{3}"), Verdict::GoldUnparseable);
  // asymmetric on purpose: a gold equation with a non-label lhs is not reduced to its rhs, a prediction's is
  EXPECT_EQ(math_verify("7 = 11a+c", "$11a+c$"), Verdict::NotEqual);
  EXPECT_EQ(math_verify("$1$", "$k=1$"), Verdict::Equal);
}

TEST(MathVerify, Normalisation) {
  EXPECT_TRUE(math_equal("\\frac{3}{4}", "\\boxed{\\dfrac34}"));
  EXPECT_TRUE(math_equal("90", "\\boxed{90^\\circ}"));
  EXPECT_TRUE(math_equal("25", "\\boxed{25\\%}"));
  EXPECT_TRUE(math_equal("1234567", "\\boxed{1,234,567}"));
  EXPECT_TRUE(math_equal("12", "\\boxed{\\$12.00}"));
  EXPECT_TRUE(math_equal("5", "\\boxed{5 \\text{ cm}}"));
  EXPECT_TRUE(math_equal("\\sqrt{2}/2", "\\boxed{\\frac{1}{\\sqrt{2}}}"));
  EXPECT_TRUE(math_equal("2\\pi", "\\boxed{\\pi \\cdot 2}"));
  EXPECT_TRUE(math_equal("(x+1)^2", "\\boxed{x^2+2x+1}"));
  EXPECT_FALSE(math_equal("(x+1)^2", "\\boxed{x^2+1}"));
  EXPECT_TRUE(math_equal("\\{1,2\\}", "\\boxed{\\{2,1\\}}"));
  EXPECT_FALSE(math_equal("(1,2)", "\\boxed{(2,1)}"));
  EXPECT_TRUE(math_equal("[0,1)", "\\boxed{[0,1)}"));
  EXPECT_FALSE(math_equal("[0,1)", "\\boxed{[0,1]}"));
  EXPECT_TRUE(math_equal("x=3", "\\boxed{3}"));
  EXPECT_TRUE(math_equal("\\begin{pmatrix}6 & 8 \\\\ 10 & 12\\end{pmatrix}",
                         "$\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix} + \\begin{pmatrix}5 & 6 \\\\ 7 & 8\\end{pmatrix}$"));
  EXPECT_FALSE(math_equal("\\begin{pmatrix}6 & 8 \\\\ 10 & 12\\end{pmatrix}",
                          "$\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix} \\begin{pmatrix}5 & 6 \\\\ 7 & 8\\end{pmatrix}$"));
  EXPECT_TRUE(math_equal("\\begin{pmatrix}19 & 22 \\\\ 43 & 50\\end{pmatrix}",
                         "$\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix} \\begin{pmatrix}5 & 6 \\\\ 7 & 8\\end{pmatrix}$"));
  EXPECT_TRUE(math_equal("B", "The answer is (B)."));
  EXPECT_FALSE(math_equal("B", "The answer is (C)."));
}

// Wrong answers that an earlier grader paid (issue #16): a text shortcut that kept only letters and digits, and a
// 1e-9 relative tolerance on exact integers and rationals.
TEST(MathVerify, NeverPaysAWrongAnswer) {
  const std::vector<std::pair<std::string, std::string>> wrong = {
      {"-5", "\\boxed{5}"},
      {"1.5", "\\boxed{15}"},
      {"x+1", "\\boxed{x-1}"},
      {"10^{-3}", "\\boxed{10^3}"},
      {"(1,-2)", "\\boxed{(1,2)}"},
      {"2147483647", "\\boxed{2147483648}"},
      {"12345678901234567890", "\\boxed{12345678901234567891}"},
      {"(2147483647, 1)", "\\boxed{(2147483648, 1)}"},
      {"x = 2147483647", "\\boxed{x = 2147483648}"},
      {"0", "\\boxed{10^{-12}}"},
      {"10^{-300}", "\\boxed{10^{-301}}"},
      {"e^{-1000}", "\\boxed{0}"},
      {"e^{-1000}", "\\boxed{0.0}"},
      {"10^{400}", "\\boxed{10^{400}+1}"},
      {"10^{10^{10}}", "\\boxed{10^{10^{10}}+1}"},
      {"\\frac{1}{23}", "\\boxed{\\frac{12}{3}}"},
      {"1-\\frac{1}{e}", "\\boxed{1+\\frac{1}{e}}"},
      {"10^{100}+\\sqrt{2}", "\\boxed{10^{100}+\\sqrt{3}}"},
      {"\\infty", "\\boxed{-\\infty}"},
      {"1.0000001", "\\boxed{1.0000002}"},
      {"\\frac{2}{3}", "\\boxed{\\frac{3}{2}}"},
      {"[1,2)", "\\boxed{(1,2)}"},
      {"x^2+2x+1", "\\boxed{x^2+2x+2}"},
      {"3.14159", "\\boxed{3.14}"},
      {"\\sqrt{2}", "\\boxed{1.41}"},
      {"50\\%", "\\boxed{5\\%}"},
      {"10:30 a.m.", "\\boxed{10:30 p.m.}"},
      {"5", "\\boxed{5} and \\boxed{6}"},
  };
  for (const auto& [g, p] : wrong) EXPECT_EQ(math_verify(g, p), Verdict::NotEqual) << g << " vs " << p;
}

TEST(MathVerify, ExactAndApproximateEquality) {
  const std::vector<std::pair<std::string, std::string>> same = {
      {"12345678901234567890", "\\boxed{12345678901234567890}"},
      {"2^{100}", "\\boxed{1267650600228229401496703205376}"},
      {"0.5", "\\boxed{\\frac12}"},
      {"\\frac{1}{3}", "\\boxed{0.333333}"},
      {"\\sqrt{2}", "\\boxed{1.414214}"},
      {"\\sqrt{8}", "\\boxed{2\\sqrt{2}}"},
      {"\\sin(\\pi)", "\\boxed{0}"},
      {"0.1+0.2", "\\boxed{0.3}"},
      {"10^{-300}", "\\boxed{10^{-300}}"},
      {"\\frac{\\pi}{4}", "\\boxed{\\frac{\\pi}{4}}"},
      {"0.066666793", "\\boxed{0.0666668}"},
      {"\\frac{1}{x+1}", "\\boxed{\\frac{2}{2x+2}}"},
      {"\\sqrt[3]{-8}", "\\boxed{-2}"},
      {"10!", "\\boxed{3628800}"},
  };
  for (const auto& [g, p] : same) EXPECT_EQ(math_verify(g, p), Verdict::Equal) << g << " vs " << p;
}

TEST(MathVerify, RecallOnRealOutputs) {
  EXPECT_TRUE(math_equal("5", "So the answer is \\boxed{5}.\n\nFinal answer: \\boxed{5}"));
  EXPECT_TRUE(math_equal("5", "\\boxed{5} \\boxed{5}"));
  EXPECT_TRUE(math_equal("\\frac{1}{3}", "\\boxed{0.\\overline{3}}"));
  EXPECT_TRUE(math_equal("\\frac{1}{6}", "\\boxed{0.1\\overline{6}}"));
  EXPECT_TRUE(math_equal("\\frac{15}{7}", "\\boxed{2.\\overline{142857}}"));
  EXPECT_FALSE(math_equal("\\frac{1}{3}", "\\boxed{0.\\overline{6}}"));
  EXPECT_TRUE(math_equal("48", "Answer: Mrs. Sherman fed 48 cookies."));
  EXPECT_TRUE(math_equal("10:30 a.m.", "The meeting starts at \\boxed{10:30 \\text{ a.m.}}"));
  EXPECT_TRUE(math_equal("10:30 p.m.", "\\boxed{22:30}"));
  EXPECT_FALSE(math_equal("10:30 p.m.", "\\boxed{10:30}"));
  // percent: "50\%" is both 50 (the sign as a unit, as "what percent" golds are written) and its value 1/2
  EXPECT_TRUE(math_equal("\\frac{1}{2}", "\\boxed{50\\%}"));
  EXPECT_TRUE(math_equal("50", "\\boxed{50\\%}"));
  EXPECT_TRUE(math_equal("50\\%", "\\boxed{0.5}"));
  EXPECT_FALSE(math_equal("\\frac{1}{2}", "\\boxed{5\\%}"));
  EXPECT_TRUE(math_equal("14{,}916", "\\boxed{14{, }916}"));
  EXPECT_TRUE(math_equal("Paris", "\\boxed{\\text{paris}}"));
}

TEST(MathVerify, ExplainsItsVerdict) {
  VerifyExplanation why;
  EXPECT_EQ(math_verify("\\frac{3}{2}", "so \\boxed{1.5}", {}, &why), Verdict::Equal);
  EXPECT_EQ(why.pred_extracted, "1.5");
  EXPECT_EQ(why.gold_value, "3/2");
  EXPECT_EQ(why.pred_value, "3/2");
  EXPECT_EQ(why.rule, "exact");
  EXPECT_EQ(math_verify("\\pi", "\\boxed{3.14}", {}, &why), Verdict::NotEqual);
  EXPECT_EQ(why.rule, "decimal_rounding");
  EXPECT_EQ(math_verify("5", "no number here", {}, &why), Verdict::NotEqual);
  EXPECT_EQ(why.rule, "no_answer");
}

TEST(Accuracy, SyntheticArithmeticFormats) {
  RewardConfig c;
  c.rewards = {"accuracy"};
  RewardManager m(c);
  EXPECT_TRUE(m.score_one(in("<think>12*3=36, 36+7=43</think>\\boxed{43}", "43")).correct);
  EXPECT_TRUE(m.score_one(in("<think>12*3=36, 36+7=43</think><answer>43</answer>", "43")).correct);
  EXPECT_TRUE(m.score_one(in("<think>先算 12*3=36，再加 7 得 43。</think>答案是 \\boxed{43}", "43")).correct);
  EXPECT_TRUE(m.score_one(in("<think>...</think>\n#### -17", "-17")).correct);
  EXPECT_FALSE(m.score_one(in("<think>12*3=36, 36+7=43</think>\\boxed{44}", "43")).correct);
  EXPECT_FALSE(m.score_one(in("<think>43</think>\\boxed{4}3", "43")).correct);  // the box is the answer
  // the answer after </think> wins over a box inside the chain of thought
  EXPECT_FALSE(m.score_one(in("<think>maybe \\boxed{43}</think> The answer is 42.", "43")).correct);
  EXPECT_TRUE(m.score_one(in("<think>maybe \\boxed{42}</think> The answer is 43.", "43")).correct);
  EXPECT_TRUE(m.score_one(in("<think>so \\boxed{43}</think>", "43")).correct);  // nothing after: whole response
  // flexible mode falls back to the last number; strict does not
  EXPECT_TRUE(m.score_one(in("so the result is 43", "43")).correct);
  c.accuracy.extraction = ExtractionMode::Strict;
  RewardManager s(c);
  EXPECT_FALSE(s.score_one(in("so the result is 43", "43")).correct);
  EXPECT_TRUE(s.score_one(in("so the answer is 43", "43")).correct);
  EXPECT_TRUE(s.score_one(in("<think>x</think><answer>43</answer>", "43")).correct);
  EXPECT_FALSE(s.score_one(in("<think>x</think><answer>42</answer> 43", "43")).correct);
}

TEST(Accuracy, RequireThinkCloseReadsOnlyTheAnswerPart) {
  RewardConfig c;
  c.rewards = {"accuracy"};
  c.accuracy.require_think_close = true;
  c.accuracy.wrong_reward = -1.0;
  RewardManager m(c);
  auto r = m.score_one(in("<think>\\boxed{43}</think> no answer here", "43"));
  EXPECT_FALSE(r.correct);
  EXPECT_DOUBLE_EQ(r.total, -1.0);
  EXPECT_FALSE(m.score_one(in("\\boxed{43}", "43")).correct);
  EXPECT_TRUE(m.score_one(in("<think>x</think> \\boxed{43}", "43")).correct);
}

TEST(Format, StrictLenientThinkAnswer) {
  const std::string ok = "<think>\nreason\n</think>\n<answer>\n5\n</answer>";
  EXPECT_EQ(format_reward(ok, FormatMode::Strict), 1.0);
  EXPECT_EQ(format_reward("<think>reason</think><answer>5</answer>", FormatMode::Strict), 0.0);
  EXPECT_EQ(format_reward("<think>reason</think> 5", FormatMode::Lenient), 1.0);
  EXPECT_EQ(format_reward("<think>a<think>b</think>", FormatMode::Lenient), 0.0);
  EXPECT_EQ(format_reward("reason</think> 5", FormatMode::Lenient), 0.0);
  EXPECT_EQ(format_reward("<think>1+2=3</think>\\boxed{3}", FormatMode::ThinkAnswer), 1.0);
  EXPECT_EQ(format_reward("<think>1+2=3</think><answer>3</answer>", FormatMode::ThinkAnswer), 1.0);
  EXPECT_EQ(format_reward("<think>1+2=3</think> it is 3", FormatMode::ThinkAnswer), 0.0);
  EXPECT_EQ(format_reward("\\boxed{3}", FormatMode::ThinkAnswer), 0.0);
}

TEST(TagCount, QuarterPerTag) {
  EXPECT_EQ(tag_count_reward("<think>\nx\n</think>\n<answer>\ny\n</answer>"), 1.0);
  EXPECT_EQ(tag_count_reward("x\n</think>\n<answer>\ny\n</answer>"), 0.75);
  EXPECT_EQ(tag_count_reward("nothing"), 0.0);
  EXPECT_EQ(tag_count_reward("<think>\n<think>\n"), 0.0);
}

TEST(KimiLength, MatchesTheFormula) {
  // lengths 10, 20, 30: lambda = 0.5, 0, -0.5
  auto r = kimi_length_rewards({10, 20, 30}, {true, true, false});
  EXPECT_DOUBLE_EQ(r[0], 0.5);
  EXPECT_DOUBLE_EQ(r[1], 0.0);
  EXPECT_DOUBLE_EQ(r[2], -0.5);
  r = kimi_length_rewards({10, 30}, {false, false});
  EXPECT_DOUBLE_EQ(r[0], 0.0);  // wrong answers are never rewarded
  EXPECT_DOUBLE_EQ(r[1], -0.5);
  r = kimi_length_rewards({7, 7, 7}, {true, false, true});
  for (double x : r) EXPECT_DOUBLE_EQ(x, 0.0);
}

TEST(KimiLength, ManagerUsesGroupAndVerdicts) {
  RewardConfig c;
  c.rewards = {"length", "accuracy"};  // order in the config does not matter: verifiers run first
  RewardManager m(c);
  std::vector<RewardInput> g = {in("\\boxed{5}", "5"), in("\\boxed{5}", "5"), in("\\boxed{6}", "5")};
  g[0].response_tokens = 10;
  g[1].response_tokens = 30;
  g[2].response_tokens = 20;
  auto r = m.score_group(g);
  EXPECT_DOUBLE_EQ(*r[0].components["length"], 0.5);
  EXPECT_DOUBLE_EQ(*r[1].components["length"], -0.5);
  EXPECT_DOUBLE_EQ(*r[2].components["length"], 0.0);  // min(0, 0) for the wrong one
  EXPECT_DOUBLE_EQ(r[0].total, 1.5);
}

// correct_only: lambda over the correct responses only, wrong ones 0 (Kimi's mode on the same group for contrast).
TEST(KimiLength, CorrectOnlyRanksCorrectResponsesAmongThemselvesAndLeavesWrongOnesAt0) {
  const std::vector<int64_t> len = {10, 20, 30, 5, 40, 12};
  const std::vector<std::optional<bool>> ok = {true, true, true, false, false, std::nullopt};
  auto r = correct_only_length_rewards(len, ok);
  EXPECT_DOUBLE_EQ(r[0], 0.5);
  EXPECT_DOUBLE_EQ(r[1], 0.0);
  EXPECT_DOUBLE_EQ(r[2], -0.5);
  for (size_t i : {3, 4, 5}) EXPECT_DOUBLE_EQ(r[i], 0.0) << i;  // wrong or unknown: neither rewarded nor penalised
  auto k = kimi_length_rewards(len, ok);  // range over all six: 5 .. 40
  EXPECT_DOUBLE_EQ(k[0], 0.5 - 5.0 / 35.0);
  EXPECT_DOUBLE_EQ(k[4], -0.5);  // Kimi penalises the long wrong one
  EXPECT_DOUBLE_EQ(k[5], 0.0);   // min(0, 0.5 - 7/35)
  for (double x : correct_only_length_rewards({10, 30}, {true, false})) EXPECT_DOUBLE_EQ(x, 0.0);  // one correct
  for (double x : correct_only_length_rewards({10, 10, 30}, {true, true, false})) EXPECT_DOUBLE_EQ(x, 0.0);
  EXPECT_TRUE(correct_only_length_rewards({}, {}).empty());
  // Through the manager, from a config's "length": {"mode": "correct_only"}.
  RewardConfig c;
  config_apply_json(c, json::parse(R"({"rewards": ["length", "accuracy"], "length": {"mode": "correct_only"}})"), "t.json");
  RewardManager m(c);
  std::vector<RewardInput> g = {in("\\boxed{5}", "5"), in("\\boxed{5}", "5"), in("\\boxed{6}", "5")};
  g[0].response_tokens = 10;
  g[1].response_tokens = 30;
  g[2].response_tokens = 50;
  auto s = m.score_group(g);
  EXPECT_DOUBLE_EQ(*s[0].components["length"], 0.5);
  EXPECT_DOUBLE_EQ(*s[1].components["length"], -0.5);
  EXPECT_DOUBLE_EQ(*s[2].components["length"], 0.0);  // kimi mode: -0.5
  RewardConfig d;
  EXPECT_THROW(config_apply_json(d, json::parse(R"({"length": {"mode": "short"}})"), "t.json"), ConfigError);
}

TEST(Overlong, DapoEquation13) {
  EXPECT_DOUBLE_EQ(soft_overlong_punishment(50, 100, 20), 0.0);
  EXPECT_DOUBLE_EQ(soft_overlong_punishment(80, 100, 20), 0.0);
  EXPECT_DOUBLE_EQ(soft_overlong_punishment(90, 100, 20), -0.5);
  EXPECT_DOUBLE_EQ(soft_overlong_punishment(100, 100, 20), -1.0);
  EXPECT_DOUBLE_EQ(soft_overlong_punishment(101, 100, 20), -1.0);
  RewardConfig c;
  c.rewards = {"overlong"};
  c.overlong.soft_punish_cache = 20;
  RewardManager m(c);
  auto x = in("a");
  x.response_tokens = 90;
  x.max_response_tokens = 100;
  EXPECT_DOUBLE_EQ(m.score_one(x).total, -0.5);
  x.response_tokens = -1;  // unknown: an error, not a silent 0
  auto r = m.score_one(x);
  EXPECT_FALSE(r.components.at("overlong").has_value());
  EXPECT_NE(r.error.find("overlong"), std::string::npos);
}

TEST(Repetition, OpenR1Values) {
  EXPECT_DOUBLE_EQ(repetition_penalty("this this this this this", 2, -1.0, "en"), -0.75);
  EXPECT_NEAR(repetition_penalty("this is a this is a test", 2, -1.0, "en"), -1.0 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(repetition_penalty("two words", 3, -1.0, "en"), 0.0);
  EXPECT_DOUBLE_EQ(repetition_penalty("", 3, -1.0, "en"), 0.0);
  EXPECT_DOUBLE_EQ(repetition_penalty("这个这个这个这个这个", 2, -1.0, "zh"), -0.75);  // ICU dictionary segmentation
}

TEST(Countdown, EachNumberOnceAndTarget) {
  EXPECT_TRUE(check_countdown("<answer>(100 - 93) * 30</answer>", {30, 100, 93}, 210).correct);
  EXPECT_TRUE(check_countdown("<answer>30*(100-93) = 210</answer>", {30, 100, 93}, 210).correct);
  auto c = check_countdown("<answer>30*7</answer>", {30, 100, 93}, 210);
  EXPECT_FALSE(c.correct);
  EXPECT_FALSE(c.valid);
  c = check_countdown("<answer>30 + 100 + 93</answer>", {30, 100, 93}, 210);
  EXPECT_TRUE(c.valid);
  EXPECT_FALSE(c.correct);
  EXPECT_FALSE(check_countdown("<answer>30*(100-93)+30-30</answer>", {30, 100, 93}, 210).correct);
  EXPECT_TRUE(check_countdown("<answer>(6/4)*8</answer>", {6, 4, 8}, 12).correct);  // exact rationals
  RewardConfig cfg;
  cfg.rewards = {"countdown"};
  RewardManager m(cfg);
  auto x = in("<answer>(100 - 93) * 30</answer>", "210", "countdown");
  x.meta = {{"numbers", {30, 100, 93}}};
  auto r = m.score_one(x);
  EXPECT_TRUE(r.correct);
  EXPECT_DOUBLE_EQ(r.total, 1.0);
  // accuracy on a countdown task uses the same check
  cfg.rewards = {"accuracy"};
  RewardManager a(cfg);
  EXPECT_TRUE(a.score_one(x).correct);
}

// Every case below was checked by hand (the arithmetic, the numbers used and the verdict of each attempt).
TEST(CountdownTrace, AttemptsCheckedByHand) {
  auto tr = [](const char* r, std::vector<int64_t> nums, int64_t target) {
    const CountdownTrace t = check_countdown_trace(r, nums, target);
    return std::pair<int, int>(t.consistent, t.attempts);
  };
  using P = std::pair<int, int>;
  // 8+7 is 15, so "≠ 15" is a false verdict; 7+5=12, 12+3=15 reaches 15 and says so
  EXPECT_EQ(tr("<think>try 3+5=8, 8+7=15 \u2260 15; try 7+5=12, 12+3=15 = 15</think><answer>7+5+3</answer>", {3, 5, 7}, 15),
            P(1, 2));
  EXPECT_EQ(tr("<think>try 3+5=8, 8+7=15 = 15; try 7+5=12, 12+3=15 = 15</think>", {3, 5, 7}, 15), P(2, 2));
  EXPECT_EQ(tr("<think>try 3*5=15, 15-7=8 \u2260 15; try 7+5=12, 12+3=15 = 15</think>", {3, 5, 7}, 15), P(2, 2));
  // the GRPO model's own responses: 12+3 is 15 not 18; 12-3 is 9 not 15 (a false "= target")
  EXPECT_EQ(tr("<think>try 7+5=12, 12+3=18 \u2260 15; try 7+5=12, 12-3=15 = 15</think>", {3, 5, 7}, 15), P(0, 2));
  // 23-14 is 9 and 14 is used twice; 14-10=4, 4+9=13 misses 5 and says so
  EXPECT_EQ(tr("<think>try 14+9=23, 23-14=2 \u2260 5; try 14-10=4, 4+9=13 \u2260 5</think>", {10, 9, 14}, 5), P(1, 2));
  // verdicts: the right number with the wrong relation, the wrong number, the ASCII "!="
  EXPECT_EQ(tr("try 9+13=22, 22+6=28 \u2260 28", {9, 13, 6}, 28), P(0, 1));
  EXPECT_EQ(tr("try 9+13=22, 22+6=28 = 24", {9, 13, 6}, 28), P(0, 1));
  EXPECT_EQ(tr("try 9+13=22, 22+6=28 = 28", {9, 13, 6}, 28), P(1, 1));
  EXPECT_EQ(tr("try 9+13=22, 22-6=16 != 28", {9, 13, 6}, 28), P(1, 1));
  EXPECT_EQ(tr("try 9+13=22, 22+6=28 != 28", {9, 13, 6}, 28), P(0, 1));
  // numbers: a given number twice, one not given, the previous result on either side
  EXPECT_EQ(tr("try 9+9=18, 18+6=24 \u2260 28", {9, 13, 6}, 28), P(0, 1));
  EXPECT_EQ(tr("try 2+13=15, 15+6=21 \u2260 28", {9, 13, 6}, 28), P(0, 1));
  EXPECT_EQ(tr("try 9+9=18, 18+6=24 \u2260 28", {9, 9, 6}, 28), P(1, 1));  // 9 given twice
  EXPECT_EQ(tr("try 6*4=24, 3+24=27 \u2260 30", {6, 4, 3}, 30), P(1, 1));
  EXPECT_EQ(tr("try 6*4=24, 3+6=9 \u2260 30", {6, 4, 3}, 30), P(0, 1));   // the second step drops the result
  // exact division only; negative intermediate results are arithmetic too
  EXPECT_EQ(tr("try 12/4=3, 3*5=15 = 15", {12, 4, 5}, 15), P(1, 1));
  EXPECT_EQ(tr("try 13/4=3, 3*5=15 = 15", {13, 4, 5}, 15), P(0, 1));
  EXPECT_EQ(tr("try 3-5=-2, -2+7=5 = 5", {3, 5, 7}, 5), P(1, 1));
  // cut off mid-attempt, no verdict, text after the verdict, no attempt at all
  EXPECT_EQ(tr("<think>try 3*5=15, 15-7=8 \u2260 15; try 7+", {3, 5, 7}, 15), P(1, 2));
  EXPECT_EQ(tr("<think>try 7+5=12, 12+3=15</think>", {3, 5, 7}, 15), P(0, 1));
  EXPECT_EQ(tr("<think>try 7+5=12, 12+3=15 = 15 done</think>", {3, 5, 7}, 15), P(0, 1));
  EXPECT_EQ(tr("<think></think><answer>7+5+3</answer>", {3, 5, 7}, 15), P(0, 0));
  EXPECT_EQ(tr("<answer>7+5+3</answer>", {3, 5, 7}, 15), P(0, 1));  // no tag: the whole response is the trace
}

TEST(CountdownTrace, RewardIsTheConsistentShareWeighted) {
  RewardConfig cfg;
  cfg.rewards = {"countdown_trace"};
  cfg.weights = {{"countdown_trace", 0.5}};
  RewardManager m(cfg);
  auto x = in("<think>try 7+5=12, 12+3=18 \u2260 15; try 7+5=12, 12+3=15 = 15</think><answer>7+5+3</answer>", "15", "countdown");
  x.meta = {{"nums", {3, 5, 7}}, {"target", 15}};
  EXPECT_DOUBLE_EQ(m.score_one(x).total, 0.5 * 0.5);  // one of two attempts consistent, weight 0.5
  x.response = "<think></think><answer>7+5+3</answer>";
  EXPECT_DOUBLE_EQ(m.score_one(x).total, 0.0);
  x.meta = nlohmann::ordered_json::object();  // no numbers: an error, not a 0
  EXPECT_NE(m.score_one(x).error.find("countdown_trace"), std::string::npos);
}

// A consistent attempt solves the problem when it uses every given number and ends at the target (checked by hand).
TEST(CountdownTrace, SolvingAttemptsUseEveryNumberAndReachTheTarget) {
  auto solving = [](const char* r, std::vector<int64_t> nums, int64_t target) {
    return check_countdown_trace(r, nums, target).solving;
  };
  EXPECT_EQ(solving("try 7+5=12, 12+3=15 = 15", {3, 5, 7}, 15), 1);
  EXPECT_EQ(solving("try 3+5=8, 8+7=15 \u2260 15; try 7+5=12, 12+3=15 = 15", {3, 5, 7}, 15), 1);  // false miss, then a hit
  EXPECT_EQ(solving("try 3*5=15, 15-7=8 \u2260 15", {3, 5, 7}, 15), 0);      // a consistent miss
  EXPECT_EQ(solving("try 7+5=12, 12+3=18 \u2260 15", {3, 5, 7}, 15), 0);     // wrong arithmetic
  EXPECT_EQ(solving("try 7+5=12, 12-3=15 = 15", {3, 5, 7}, 15), 0);          // a false "= target"
  EXPECT_EQ(solving("try 10+5=15 = 15", {3, 5, 10}, 15), 0);                  // reaches 15 but leaves the 3 unused
  EXPECT_EQ(solving("try 10+5=15, 15*1=15 = 15", {1, 5, 10}, 15), 1);
  EXPECT_EQ(solving("try 9+9=18, 18-3=15 = 15", {9, 9, 3}, 15), 1);          // 9 given twice, used twice
  EXPECT_EQ(solving("try 9+9=18, 18-3=15 = 15", {9, 3, 4}, 15), 0);          // 9 given once
  EXPECT_EQ(solving("try 7+5=12, 12+3=15 = 15; try 3+7=10, 10+5=15 = 15", {3, 5, 7}, 15), 2);
}

TEST(CountdownGrounded, PaysOnlyARightAnswerThatAnAttemptReached) {
  RewardConfig cfg;
  cfg.rewards = {"accuracy", "countdown_grounded"};
  cfg.weights = {{"accuracy", 0.0}, {"countdown_grounded", 1.0}};
  RewardManager m(cfg);
  auto x = in("<think>try 3*5=15, 15-7=8 \u2260 15; try 7+5=12, 12+3=15 = 15</think><answer>7+5+3</answer>", "15", "countdown");
  x.meta = {{"nums", {3, 5, 7}}, {"target", 15}};
  auto r = m.score_one(x);
  EXPECT_TRUE(r.correct);
  EXPECT_DOUBLE_EQ(r.total, 1.0);
  // the same right answer after a trace with no hit: a guess, correct but unpaid
  x.response = "<think>try 3*5=15, 15-7=8 \u2260 15</think><answer>7+5+3</answer>";
  r = m.score_one(x);
  EXPECT_TRUE(r.correct);
  EXPECT_DOUBLE_EQ(r.total, 0.0);
  // a hit whose arithmetic is wrong does not ground the answer
  x.response = "<think>try 7+5=12, 12-3=15 = 15</think><answer>7+5+3</answer>";
  EXPECT_DOUBLE_EQ(m.score_one(x).total, 0.0);
  // a real hit and a wrong answer: nothing
  x.response = "<think>try 7+5=12, 12+3=15 = 15</think><answer>7+5-3</answer>";
  r = m.score_one(x);
  EXPECT_FALSE(r.correct);
  EXPECT_DOUBLE_EQ(r.total, 0.0);
  x.meta = nlohmann::ordered_json::object();  // no numbers: an error, not a 0
  EXPECT_NE(m.score_one(x).error.find("countdown_grounded"), std::string::npos);
}

TEST(Language, ScriptsAndLatinWords) {
  EXPECT_NEAR(language_consistency("这是用中文写的回答", "zh"), 1.0, 1e-12);
  EXPECT_NEAR(language_consistency("这是 the answer", "zh"), 2.0 / 4.0, 1e-12);
  EXPECT_GT(language_consistency("The answer is the sum of the two numbers.", "en"), 0.99);
  EXPECT_LT(language_consistency("The answer is the sum, pero el número es grande y la suma también.", "en"), 0.7);
  EXPECT_NEAR(language_consistency("Ответ равен пяти", "ru"), 1.0, 1e-12);
  EXPECT_NEAR(language_consistency("الجواب خمسة", "ar"), 1.0, 1e-12);
  EXPECT_EQ(language_consistency("", "en"), 0.0);
  // math and code are excluded
  EXPECT_NEAR(language_consistency("所以 $x^2 + y = \\frac{a}{b}$ 成立 `code here`", "zh"), 1.0, 1e-12);
  EXPECT_EQ(detect_dominant_language("快速的棕色狐狸跳过懒狗 这是用中文写的句子"), "zh");
  EXPECT_EQ(target_language_from_prompt("请用中文回答：2+3=?"), "zh");
  EXPECT_EQ(target_language_from_prompt("Answer in English please"), "en");
  const auto w = split_words("上海大学 this is");
  ASSERT_EQ(w.size(), 6u);
  EXPECT_EQ(w[0], "上");
  EXPECT_EQ(w[4], "this");
}

TEST(Language, RewardTargetFromMetaOrPrompt) {
  RewardConfig c;
  c.rewards = {"language_consistency"};
  RewardManager m(c);
  auto x = in("<think>先算乘法 then add</think>\\boxed{5}");
  x.prompt = "请用中文回答";
  // 4 Han characters (one word each) + "then", "add": 4 of 6 words are Chinese; the boxed answer is outside the CoT
  EXPECT_NEAR(m.score_one(x).total, 4.0 / 6.0, 1e-12);
  x.prompt = "Answer the question";
  x.meta = {{"language", "en"}};
  EXPECT_NEAR(m.score_one(x).total, 2.0 / 6.0, 1e-12);
  x.response = "<think>12*3=36, 36+7=43</think>\\boxed{43}";  // no words: not applicable rather than 0
  EXPECT_FALSE(m.score_one(x).components.at("language_consistency").has_value());
}

TEST(Robustness, PathologicalInputIsBounded) {
  using clock = std::chrono::steady_clock;
  std::vector<std::string> inputs;
  inputs.push_back(std::string(10000, '{') + "1" + std::string(10000, '}'));
  inputs.push_back("\\boxed{" + std::string(10000, '{') + "1" + std::string(10000, '}') + "}");
  std::string nested;
  for (int i = 0; i < 5000; ++i) nested += "\\boxed{";
  inputs.push_back(nested + "1" + std::string(5000, '}'));
  std::string big;
  while (big.size() < (1 << 20)) big += "Let x = 12345 and $y^2 = \\frac{a}{b}$ so 3/4 of it. ";
  inputs.push_back(big);
  inputs.push_back(std::string("\\boxed{\xff\xfe\xc3\x28 \xe2\x82}") + std::string(1000, '\x80'));
  inputs.push_back("\\boxed{10^{10^{10^{10^{999999}}}}}");
  inputs.push_back("\\boxed{" + std::string(3000, '(') + "1" + std::string(3000, ')') + "}");
  inputs.push_back("\\boxed{99999999999999999999999999999999999!}");
  std::string repeated;  // grew superlinearly in the candidate extraction (3.3 s at 3 MB, over 10 s under ASan)
  while (repeated.size() < (1 << 20)) repeated += "\\boxed{1} and ";
  inputs.push_back(repeated);
  inputs.push_back("\\boxed{2^{2^{2^{2^{2^{2^{2}}}}}}}");
  inputs.push_back("\\boxed{\\sin(10^{10^{5}})}");
  for (const auto& s : inputs) {
    const auto t0 = clock::now();
    (void)math_verify("5", s);
    (void)language_consistency(s, "en");
    (void)repetition_penalty(s, 3, -1.0, "en");
    (void)format_reward(s, FormatMode::Strict);
    const double sec = std::chrono::duration<double>(clock::now() - t0).count();
    EXPECT_LT(sec, 2.0) << s.substr(0, 60);
  }
}

// Found by fuzz_rewards (libFuzzer): a \\pm inside a union recursed without end in the comparison.
TEST(Robustness, FuzzRegressionPlusMinusInsideUnion) {
  static const char kInput[] =
      "3\001If $n \134equiv 2 \134pmod{7}$, then $(n + 2)(n + 4)(n +\377\377\3778\134$[-1, -\134frac{1}{2})"
      " \134cup (-\134frac{1}{2}, 0) \134cup (0, 1) \134cu\001\000\000\000\001\000\000\000p (1, \134infty)$"
      "\001The solution set is $\134boxed{[-1, -\134tfequiv 4 \134cdot 6 \134cdotr!ac12) \134 8 \134equiv 4"
      " \134phrase \134cdcup (-\134tfrac12, 0) \134cuot 1 \134equp (0, iv 24 \134equiv \134boxed{3} \134pm1"
      ") \134cup (1, \134inftyod{7})}$.$.";
  const std::string in(kInput, sizeof kInput - 1);
  const size_t sep = in.find('\001');
  const std::string gold = in.substr(0, sep), pred = in.substr(sep + 1);
  (void)math_verify(gold, pred);
  (void)math_verify(pred, gold);
  EXPECT_EQ(math_verify("\\{1 \\pm 2\\} \\cup (3, 4)", "\\{1 \\pm 2\\} \\cup (3, 4)"), Verdict::Equal);
}

}  // namespace
}  // namespace reasonrl::rewards

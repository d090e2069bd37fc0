// Tests for the synthetic tasks: determinism, disjoint splits, correct chains of thought, knobs, Chinese variant.
#include "datasets/synthetic.h"

#include <gtest/gtest.h>

#include <set>

#include "rl/util/error.h"

namespace reasonrl::datasets {
namespace {

// An evaluator written independently of the generator: + - * / with the usual precedence, parentheses, integers.
struct Eval {
  const std::string& s;
  size_t i = 0;
  long long expr() {
    long long v = term();
    while (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      char op = s[i++];
      long long r = term();
      v = op == '+' ? v + r : v - r;
    }
    return v;
  }
  long long term() {
    long long v = atom();
    while (i < s.size() && (s[i] == '*' || s[i] == '/')) {
      char op = s[i++];
      long long r = atom();
      if (op == '*') v *= r;
      else {
        EXPECT_NE(r, 0);
        EXPECT_EQ(v % r, 0) << s;
        v /= r;
      }
    }
    return v;
  }
  long long atom() {
    if (s[i] == '(') {
      ++i;
      long long v = expr();
      EXPECT_EQ(s[i], ')');
      ++i;
      return v;
    }
    size_t j = i;
    while (j < s.size() && isdigit(uint8_t(s[j]))) ++j;
    EXPECT_GT(j, i) << "number expected in " << s << " at " << i;
    long long v = std::stoll(s.substr(i, j - i));
    i = j;
    return v;
  }
};
long long eval(const std::string& s) {
  Eval e{s};
  long long v = e.expr();
  EXPECT_EQ(e.i, s.size()) << s;
  return v;
}

std::vector<std::string> split(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t p = 0;
  for (size_t q; (q = s.find(sep, p)) != std::string::npos; p = q + sep.size()) out.push_back(s.substr(p, q - p));
  out.push_back(s.substr(p));
  return out;
}

TEST(Synthetic, ArithmeticIsCorrectStepByStep) {
  SyntheticConfig c;
  c.operators = "+-*";
  const auto ex = SyntheticTask(c).generate(Split::Train, 500, 7);
  ASSERT_EQ(ex.size(), 500u);
  for (const auto& e : ex) {
    const std::string expr = e.meta["expression"];
    EXPECT_EQ(e.prompt, "Compute " + expr + ".");
    EXPECT_EQ(std::to_string(eval(expr)), e.answer) << expr;
    // every step "a op b=r" is right, and the last result is the answer
    std::string last;
    for (const auto& step : split(e.cot, ", ")) {
      const auto eq = step.find('=');
      ASSERT_NE(eq, std::string::npos) << e.cot;
      EXPECT_EQ(eval(step.substr(0, eq)), std::stoll(step.substr(eq + 1))) << step;
      last = step.substr(eq + 1);
    }
    EXPECT_EQ(last, e.answer) << e.cot;
    EXPECT_GE(e.difficulty, 1);
  }
}

TEST(Synthetic, KnobsBoundTheProblems) {
  SyntheticConfig c;
  c.min_operands = 3;
  c.max_operands = 3;
  c.min_digits = 2;
  c.max_digits = 2;
  c.max_value = 150;
  std::set<int> ops_seen;
  for (const auto& e : SyntheticTask(c).generate(Split::Train, 300, 3)) {
    const std::string expr = e.meta["expression"];
    int nums = 0;
    for (const auto& part : split(expr, "+"))
      for (const auto& num : split(part, "-")) {
        ++nums;
        EXPECT_EQ(num.size(), 2u) << expr;
      }
    EXPECT_EQ(nums, 3) << expr;
    for (const auto& step : split(e.cot, ", ")) {
      const long long r = std::stoll(step.substr(step.find('=') + 1));
      EXPECT_GE(r, 0);
      EXPECT_LE(r, 150);
    }
  }
}

TEST(Synthetic, DeterministicBySeed) {
  SyntheticTask t{SyntheticConfig{}};
  const auto a = t.generate(Split::Train, 50, 11), b = t.generate(Split::Train, 50, 11), c = t.generate(Split::Train, 50, 12);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].prompt, b[i].prompt);
    EXPECT_EQ(a[i].id, b[i].id);
  }
  int same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i].prompt == c[i].prompt;
  EXPECT_LT(same, 10);
}

TEST(Synthetic, TrainAndHeldoutAreDisjointAcrossSeedsAndLanguages) {
  SyntheticConfig c;
  SyntheticTask en(c);
  c.task = SyntheticKind::ArithmeticZh;
  SyntheticTask zh(c);
  std::set<std::string> train;
  for (const auto& e : en.generate(Split::Train, 3000, 1)) train.insert(e.meta["expression"].get<std::string>());
  for (const auto& e : zh.generate(Split::Train, 1000, 2)) train.insert(e.meta["expression"].get<std::string>());
  const auto held = en.generate(Split::Heldout, 500, 3);
  const auto held_zh = zh.generate(Split::Heldout, 200, 4);
  std::set<std::string> hs;
  for (const auto* v : {&held, &held_zh})
    for (const auto& e : *v) {
      EXPECT_EQ(train.count(e.meta["expression"].get<std::string>()), 0u) << e.prompt;
      hs.insert(e.id);
    }
  EXPECT_EQ(hs.size(), 700u);  // ids unique
  // The held-out share of random problems is close to heldout_fraction (0.1): 2000 draws, 5 sigma ~ 0.034.
  Rng rng(5);
  int n_held = 0;
  for (int i = 0; i < 2000; ++i) n_held += en.split_of(en.make(rng)) == Split::Heldout;
  EXPECT_NEAR(n_held / 2000.0, 0.1, 0.034);
}

TEST(Synthetic, ChineseVariantUsesChineseWords) {
  SyntheticConfig c;
  c.task = SyntheticKind::ArithmeticZh;
  for (const auto& e : SyntheticTask(c).generate(Split::Train, 100, 1)) {
    EXPECT_EQ(e.prompt.rfind("计算", 0), 0u) << e.prompt;
    EXPECT_EQ(e.cot.find('='), std::string::npos) << e.cot;
    EXPECT_NE(e.cot.find("得"), std::string::npos) << e.cot;
    EXPECT_EQ(e.meta["language"], "zh");
    // The steps translate back to the same arithmetic.
    std::string last;
    for (auto step : split(e.cot, "，")) {
      for (auto [zh, op] : {std::pair<std::string, std::string>{"加", "+"}, {"减", "-"}, {"乘", "*"}}) {
        const size_t p = step.find(zh);
        if (p != std::string::npos) step.replace(p, zh.size(), op);
      }
      const size_t d = step.find("得");
      ASSERT_NE(d, std::string::npos);
      EXPECT_EQ(eval(step.substr(0, d)), std::stoll(step.substr(d + 3)));
      last = step.substr(d + 3);
    }
    EXPECT_EQ(last, e.answer);
  }
}

TEST(Synthetic, CountdownSolutionUsesEachNumberOnceAndHitsTarget) {
  SyntheticConfig c;
  c.task = SyntheticKind::Countdown;
  c.operators = "+-*/";
  for (const auto& e : SyntheticTask(c).generate(Split::Train, 300, 9)) {
    EXPECT_EQ(eval(e.solution), std::stoll(e.answer)) << e.solution;
    std::multiset<long long> used, given;
    std::string num;
    for (char ch : e.solution + "+") {
      if (isdigit(uint8_t(ch))) num += ch;
      else if (!num.empty()) {
        used.insert(std::stoll(num));
        num.clear();
      }
    }
    for (const auto& v : e.meta["nums"]) given.insert(v.get<long long>());
    EXPECT_EQ(used, given) << e.solution;
    EXPECT_EQ(e.meta["target"].get<long long>(), std::stoll(e.answer));
    EXPECT_NE(e.prompt.find("make " + e.answer + "."), std::string::npos);
  }
}

TEST(Synthetic, TooSmallSpaceIsAConfigError) {
  SyntheticConfig c;
  c.max_operands = 2;
  c.max_digits = 1;
  c.operators = "+";
  EXPECT_THROW(SyntheticTask(c).generate(Split::Train, 1000, 1), ConfigError);  // only 81 distinct problems
  c.operators = "+%";
  EXPECT_THROW(SyntheticTask{c}, ConfigError);
}

}  // namespace
}  // namespace reasonrl::datasets

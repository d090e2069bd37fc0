// Tests for the synthetic tasks: determinism, disjoint splits, correct chains of thought, knobs, Chinese variant.
#include "datasets/synthetic.h"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "rewards/countdown.h"

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

// Countdown search traces (the countdown demo's cold start): every attempt's arithmetic is right and uses each number
// once, each attempt says "= target" exactly when its last result is the target, only the last attempt reaches it,
// the number of failed attempts respects the cap and the geometric law, the answer passes rewards/countdown's check,
// and the problems are those of the `chain` mode.
TEST(Synthetic, CountdownSearchTracesAreRightAndCapped) {
  SyntheticConfig c;
  c.task = SyntheticKind::Countdown;
  c.operators = "+-*/";
  c.countdown_min_numbers = 3;
  c.countdown_max_numbers = 4;
  const auto chain = SyntheticTask(c).generate(Split::Train, 500, 3);
  c.countdown_cot = CountdownCot::Search;
  for (int cap : {1, 3}) {
    c.search_max_failed = cap;
    c.search_fail_prob = 0.5;
    const auto ex = SyntheticTask(c).generate(Split::Train, 2000, 3);
    std::vector<int> counts(size_t(cap) + 1, 0);
    for (size_t n = 0; n < ex.size(); ++n) {
      const Example& e = ex[n];
      if (n < chain.size()) {
        EXPECT_EQ(e.prompt, chain[n].prompt);
        EXPECT_EQ(e.solution, chain[n].solution);
      }
      const long long target = e.meta["target"].get<long long>();
      std::multiset<long long> given;
      for (const auto& v : e.meta["nums"]) given.insert(v.get<long long>());
      const auto attempts = split(e.cot, "; ");
      ASSERT_GE(attempts.size(), 1u);
      ASSERT_LE(int(attempts.size()) - 1, cap) << e.cot;
      EXPECT_EQ(e.meta["attempts"].get<int>(), int(attempts.size()));
      ++counts[attempts.size() - 1];
      for (size_t a = 0; a < attempts.size(); ++a) {
        const std::string& at = attempts[a];
        ASSERT_EQ(at.rfind("try ", 0), 0u) << at;
        const bool last = a + 1 == attempts.size();
        const std::string verdict = last ? " = " : " \u2260 ";
        const size_t v = at.rfind(verdict);
        ASSERT_NE(v, std::string::npos) << at;
        EXPECT_EQ(std::stoll(at.substr(v + verdict.size())), target) << at;
        // the steps: a op b = r, each step's first operand is the previous result, every number used once
        std::multiset<long long> used;
        long long prev = -1;
        const auto steps = split(at.substr(4, v - 4), ", ");
        ASSERT_EQ(steps.size(), given.size() - 1) << at;
        for (size_t k = 0; k < steps.size(); ++k) {
          const std::string& st = steps[k];
          const size_t eq = st.find('=');
          const size_t op = st.find_first_of("+-*/", 1);
          ASSERT_TRUE(eq != std::string::npos && op != std::string::npos && op < eq) << st;
          const long long lhs = std::stoll(st.substr(0, op)), rhs = std::stoll(st.substr(op + 1, eq - op - 1));
          const long long r = std::stoll(st.substr(eq + 1));
          EXPECT_EQ(eval(st.substr(0, eq)), r) << st;
          if (st[op] == '/') {
            EXPECT_EQ(lhs % rhs, 0) << st;
          }
          EXPECT_GT(r, 0) << st;
          if (k == 0) {
            used.insert(lhs);
          } else {
            EXPECT_EQ(lhs, prev) << at;
          }
          used.insert(rhs);
          prev = r;
        }
        EXPECT_EQ(used, given) << at;
        EXPECT_EQ(prev == target, last) << at;
      }
      const std::string response = "<think>" + e.cot + "</think><answer>" + e.solution + "</answer>";
      std::vector<int64_t> nums(given.begin(), given.end());
      EXPECT_TRUE(rewards::check_countdown(response, nums, target).correct) << response;
    }
    // P(k failed) = 0.5^(k+1), the cap taking the rest; 2000 draws, 5 sigma <= 0.056
    for (int k = 0; k <= cap; ++k)
      EXPECT_NEAR(counts[size_t(k)] / 2000.0, k < cap ? std::pow(0.5, k + 1) : std::pow(0.5, cap), 0.056) << k;
  }
  c.search_max_failed = 9;
  EXPECT_THROW(SyntheticTask{c}, ConfigError);
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

// Verification passes: each "check" segment undoes the chain step by step from the answer back to the first operand,
// every step is right, the number of passes follows the geometric law, and verify_prob 0 leaves the data unchanged.
TEST(Synthetic, VerificationPassesUndoTheChain) {
  SyntheticConfig c;
  c.operators = "+-*";
  const auto plain = SyntheticTask(c).generate(Split::Train, 400, 5);
  c.verify_prob = 0.6;
  c.max_verify_passes = 2;
  const auto ex = SyntheticTask(c).generate(Split::Train, 2000, 5);
  int counts[3] = {0, 0, 0};
  for (const auto& e : ex) {
    const auto parts = split(e.cot, "; check ");
    const int passes = int(parts.size()) - 1;
    ASSERT_LE(passes, 2) << e.cot;
    EXPECT_EQ(e.meta["verify_passes"].get<int>(), passes);
    ++counts[passes];
    const auto fwd = split(parts[0], ", ");
    for (int k = 1; k <= passes; ++k) {
      EXPECT_EQ(parts[size_t(k)], parts[1]);
      const size_t ok = parts[size_t(k)].rfind(" ok ");  // each pass ends by restating the answer
      ASSERT_NE(ok, std::string::npos) << e.cot;
      EXPECT_EQ(parts[size_t(k)].substr(ok + 4), e.answer) << e.cot;
      const auto inv = split(parts[size_t(k)].substr(0, ok), ", ");
      ASSERT_EQ(inv.size(), fwd.size()) << e.cot;
      for (size_t j = 0; j < inv.size(); ++j) {
        // inverse step j undoes forward step n-1-j: it starts from that step's result and gives back its first operand
        const std::string& f = fwd[fwd.size() - 1 - j];
        const std::string f_result = f.substr(f.find('=') + 1), f_first = f.substr(0, f.find_first_of("+-*", 1));
        const auto eq = inv[j].find('=');
        const std::string lhs = inv[j].substr(0, eq), rhs = inv[j].substr(eq + 1);
        EXPECT_EQ(eval(lhs), std::stoll(rhs)) << inv[j];
        EXPECT_EQ(lhs.substr(0, lhs.find_first_of("+-/")), f_result) << e.cot;
        EXPECT_EQ(rhs, f_first) << e.cot;
      }
    }
  }
  // P(0) = 0.4, P(1) = 0.24, P(2) = 0.36; 2000 draws, 5 sigma <= 0.055.
  EXPECT_NEAR(counts[0] / 2000.0, 0.4, 0.055);
  EXPECT_NEAR(counts[1] / 2000.0, 0.24, 0.05);
  EXPECT_NEAR(counts[2] / 2000.0, 0.36, 0.055);
  // The passes are drawn after the problem, so the first problem is the one verification-off draws, with the same
  // forward chain; verification off adds no "check" and no meta key.
  EXPECT_EQ(ex[0].prompt, plain[0].prompt);
  EXPECT_EQ(split(ex[0].cot, "; check ")[0], plain[0].cot);
  for (const auto& e : plain) {
    EXPECT_EQ(e.cot.find("check"), std::string::npos);
    EXPECT_FALSE(e.meta.contains("verify_passes"));
  }
  c.task = SyntheticKind::Countdown;
  c.verify_prob = 0.5;
  EXPECT_THROW(SyntheticTask{c}, ConfigError);
  c.task = SyntheticKind::Arithmetic;
  c.verify_prob = 1.0;
  EXPECT_THROW(SyntheticTask{c}, ConfigError);
}

}  // namespace
}  // namespace reasonrl::datasets

// Tests for the synthetic tasks: determinism, disjoint splits, correct chains of thought, knobs, Chinese variant.
#include "datasets/synthetic.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "rewards/countdown.h"

#include "rl/util/error.h"

namespace reasonrl::datasets {
namespace {

// The countdown demo's task (issue 21): 4 numbers from [1, 20] with + -.
SyntheticConfig demo_countdown(SyntheticKind kind) {
  SyntheticConfig c;
  c.task = kind;
  c.operators = "+-";
  c.countdown_min_numbers = 4;
  c.countdown_max_numbers = 4;
  c.countdown_max_number = 20;
  return c;
}

// A countdown example's numbers (meta.nums) and its SFT target as a response (think + answer).
std::vector<int64_t> nums_of(const Example& e) {
  std::vector<int64_t> v;
  for (const auto& x : e.meta["nums"]) v.push_back(x.get<int64_t>());
  return v;
}
std::string response_of(const Example& e) { return "<think>" + e.cot + "</think><answer>" + e.solution + "</answer>"; }

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
      const std::string response = response_of(e);
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

// The attempts of a countdown trace as (steps text, verdict, verdict's number) with the verdict " = " or `miss`.
struct Attempt {
  std::string steps;
  bool reached = false;  // the verdict says "= target"
  long long target = 0;
  long long last = 0;    // the last step's written result
};
std::vector<Attempt> parse_attempts(const std::string& cot, const std::string& miss) {
  std::vector<Attempt> out;
  for (const std::string& at : split(cot, "; ")) {
    Attempt a;
    EXPECT_EQ(at.rfind("try ", 0), 0u) << at;
    size_t v = at.rfind(" = ");
    const size_t m = at.rfind(" " + miss + " ");
    a.reached = v != std::string::npos && (m == std::string::npos || v > m);
    if (!a.reached) v = m;
    if (v == std::string::npos) {
      ADD_FAILURE() << "no verdict in " << at;
      continue;
    }
    a.steps = at.substr(4, v - 4);
    a.target = std::stoll(at.substr(v + (a.reached ? 3 : miss.size() + 2)));
    a.last = std::stoll(a.steps.substr(a.steps.rfind('=') + 1));
    out.push_back(a);
  }
  return out;
}

// Heuristic traces (the countdown demo's cold start, issue 21): up to search_attempts distinct attempts, every one
// consistent by rewards' independent trace checker (right arithmetic, the given numbers, honest verdict), stopping at
// the first that reaches the target; the answer is that attempt, else the closest one (then wrong by rewards/countdown);
// ASCII verdicts; the problems are those of `chain`; and the solved share grows with the attempts allowed.
TEST(Synthetic, CountdownHeuristicTracesAreHonest) {
  SyntheticConfig c = demo_countdown(SyntheticKind::Countdown);
  const auto chain = SyntheticTask(c).generate(Split::Heldout, 500, 1235);  // the demo's held-out set (data.seed 1234 + 1)
  c.countdown_cot = CountdownCot::Heuristic;
  c.search_verdict = "!=";
  std::vector<double> solved_share;
  for (int k : {1, 2, 4, 8, 16}) {
    c.search_attempts = k;
    const auto ex = SyntheticTask(c).generate(Split::Heldout, 500, 1235);
    int solved = 0, unsolved_full = 0, unsolved = 0;
    std::vector<int> hits_at(size_t(k), 0), tries_at(size_t(k), 0);
    for (size_t n = 0; n < ex.size(); ++n) {
      const Example& e = ex[n];
      EXPECT_EQ(e.prompt, chain[n].prompt);
      EXPECT_EQ(e.cot.find("\u2260"), std::string::npos) << e.cot;
      const long long target = e.meta["target"].get<long long>();
      const std::vector<int64_t> nums = nums_of(e);
      const auto attempts = parse_attempts(e.cot, "!=");
      ASSERT_GE(attempts.size(), 1u);
      ASSERT_LE(int(attempts.size()), k) << e.cot;
      EXPECT_EQ(e.meta["attempts"].get<int>(), int(attempts.size()));
      const std::string response = response_of(e);
      const auto tr = rewards::check_countdown_trace(response, nums, target);
      EXPECT_EQ(tr.attempts, int(attempts.size())) << e.cot;
      EXPECT_EQ(tr.consistent, tr.attempts) << e.cot;
      std::set<std::string> distinct;
      long long closest = attempts[0].last;
      for (size_t a = 0; a < attempts.size(); ++a) {
        EXPECT_EQ(attempts[a].target, target) << e.cot;
        EXPECT_EQ(attempts[a].reached, attempts[a].last == target) << e.cot;
        EXPECT_EQ(attempts[a].reached, a + 1 == attempts.size() && attempts[a].reached) << "only the last may reach: " << e.cot;
        EXPECT_TRUE(distinct.insert(attempts[a].steps).second) << "repeated attempt: " << e.cot;
        if (std::llabs(attempts[a].last - target) < std::llabs(closest - target)) closest = attempts[a].last;
        ++tries_at[a];
        hits_at[a] += attempts[a].reached;
      }
      const bool hit = attempts.back().reached;
      EXPECT_EQ(e.meta["solved"].get<bool>(), hit);
      EXPECT_EQ(rewards::check_countdown(response, nums, target).correct, hit) << response;
      // the answer is the closest attempt: its equation evaluates to that attempt's result
      EXPECT_EQ(eval(e.solution), hit ? target : closest) << e.cot << " -> " << e.solution;
      solved += hit;
      if (!hit) {
        ++unsolved;
        unsolved_full += int(attempts.size()) == k;
      }
    }
    EXPECT_GE(unsolved_full, unsolved * 95 / 100) << "a miss should use all " << k << " attempts";
    solved_share.push_back(solved / 500.0);
    std::printf("heuristic with up to %d attempts solves %.3f of the demo's 500 held-out problems\n", k, solved / 500.0);
    // no attempt position predicts "= target": every position's hit rate is far below 1 (the old `search` data's last
    // attempt always hit)
    for (int a = 0; a < k; ++a)
      if (tries_at[size_t(a)] >= 50) {
        EXPECT_LT(hits_at[size_t(a)], tries_at[size_t(a)] / 2) << "attempt " << a + 1 << " of " << k;
      }
  }
  for (size_t i = 1; i < solved_share.size(); ++i) EXPECT_GT(solved_share[i], solved_share[i - 1] + 0.05) << i;
  EXPECT_LT(solved_share[0], 0.4);
  // search_continue_prob: after each miss another attempt with probability q, so P(>= a + 1 attempts | a misses) = q
  c.search_attempts = 8;
  c.search_continue_prob = 0.5;
  std::vector<int> reached(9, 0), missed_at(9, 0);
  for (const Example& e : SyntheticTask(c).generate(Split::Train, 3000, 11)) {
    const auto attempts = parse_attempts(e.cot, "!=");
    for (size_t a = 0; a < attempts.size(); ++a) {
      ++reached[a + 1];
      if (!attempts[a].reached) ++missed_at[a + 1];
    }
    if (!attempts.back().reached) {
      EXPECT_FALSE(rewards::check_countdown(response_of(e), nums_of(e), e.meta["target"].get<long long>()).correct)
          << e.solution;
    }
  }
  for (int a = 1; a <= 3; ++a) EXPECT_NEAR(double(reached[a + 1]) / missed_at[a], 0.5, 5 * 0.5 / std::sqrt(missed_at[a])) << a;
  c.search_continue_prob = 1.5;
  EXPECT_THROW(SyntheticTask{c}, ConfigError);
  c.search_continue_prob = 1.0;
  c.search_attempts = 0;
  EXPECT_THROW(SyntheticTask{c}, ConfigError);
  c.search_attempts = 2;
  c.search_verdict = "<>";
  EXPECT_THROW(SyntheticTask{c}, ConfigError);
}

// The arithmetic-facts corpus of the countdown demo's base model: one consistent attempt per example (rewards' trace
// checker), an honest verdict, a target that is never a given number, an answer that is
// the attempt's equation, and no example whose numbers and target are a held-out countdown problem; facts_hit_prob
// sets how often the target is the attempt's own result.
TEST(Synthetic, CountdownFactsAreOneHonestAttempt) {
  SyntheticConfig c = demo_countdown(SyntheticKind::CountdownFacts);
  c.search_verdict = "!=";
  const auto ex = SyntheticTask(c).generate(Split::Train, 3000, 7);
  SyntheticConfig cd = c;
  cd.task = SyntheticKind::Countdown;
  const SyntheticTask countdown(cd);
  int equal = 0;
  for (const Example& e : ex) {
    const long long target = e.meta["target"].get<long long>();
    const std::vector<int64_t> nums = nums_of(e);
    EXPECT_EQ(std::find(nums.begin(), nums.end(), target), nums.end()) << e.prompt;
    const auto attempts = parse_attempts(e.cot, "!=");
    ASSERT_EQ(attempts.size(), 1u) << e.cot;
    const std::string response = response_of(e);
    const auto tr = rewards::check_countdown_trace(response, nums, target);
    EXPECT_EQ(tr.attempts, 1);
    EXPECT_EQ(tr.consistent, 1) << e.cot;
    EXPECT_EQ(eval(e.solution), attempts[0].last) << e.cot << " -> " << e.solution;
    EXPECT_EQ(attempts[0].reached, attempts[0].last == target);
    EXPECT_EQ(e.meta["solved"].get<bool>(), attempts[0].reached);
    EXPECT_EQ(rewards::check_countdown(response, nums, target).correct, attempts[0].reached);
    EXPECT_EQ(countdown.split_of(e), Split::Train) << e.prompt;
    equal += attempts[0].reached;
  }
  EXPECT_LT(equal / 3000.0, 0.1);  // independent targets (facts_hit_prob 0): "=" only by chance
  EXPECT_GT(equal, 0);
  c.facts_hit_prob = 0.5;
  int equal_half = 0;
  for (const Example& e : SyntheticTask(c).generate(Split::Train, 3000, 7)) equal_half += e.meta["solved"].get<bool>();
  EXPECT_NEAR(equal_half / 3000.0, 0.5 + 0.5 * equal / 3000.0, 0.05);  // 5 sigma = 0.046
  c.facts_hit_prob = 1.5;
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

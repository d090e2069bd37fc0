// synthetic.cpp: arithmetic (English / Chinese chain of thought) and countdown generators with hash-based splits.
#include "datasets/synthetic.h"

#include <algorithm>
#include <cstdlib>
#include <unordered_set>

#include "rl/util/error.h"

namespace reasonrl::datasets {
namespace {

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

int64_t rand_in(Rng& rng, int64_t lo, int64_t hi) { return lo + int64_t(rng.below(uint64_t(hi - lo + 1))); }

int64_t pow10(int d) {
  int64_t p = 1;
  while (d-- > 0) p *= 10;
  return p;
}

int64_t apply_op(char op, int64_t a, int64_t b) {
  switch (op) {
    case '+': return a + b;
    case '-': return a - b;
    case '*': return a * b;
    default: return b != 0 && a % b == 0 ? a / b : -1;  // '/': exact only, else invalid
  }
}

// Column carries (addition) or borrows (subtraction) of a op b, a measure of how hard the step is.
int carries(char op, int64_t a, int64_t b) {
  int n = 0, c = 0;
  if (op == '+') {
    while (a > 0 || b > 0) {
      c = (a % 10 + b % 10 + c) >= 10;
      n += c;
      a /= 10;
      b /= 10;
    }
  } else if (op == '-') {
    while (a > 0 || b > 0) {
      c = (a % 10 - b % 10 - c) < 0;
      n += c;
      a /= 10;
      b /= 10;
    }
  }
  return n;
}

const char* zh_op(char op) {
  switch (op) {
    case '+': return "加";
    case '-': return "减";
    case '*': return "乘";
    default: return "除以";
  }
}

struct Step {
  int64_t a, b, r;
  char op;
};

std::string step_text(const Step& s, bool zh) {
  if (zh) return std::to_string(s.a) + zh_op(s.op) + std::to_string(s.b) + "得" + std::to_string(s.r);
  return std::to_string(s.a) + s.op + std::to_string(s.b) + "=" + std::to_string(s.r);
}

std::string join_steps(const std::vector<Step>& steps, bool zh) {
  std::string s;
  for (size_t i = 0; i < steps.size(); ++i) s += (i ? (zh ? "，" : ", ") : "") + step_text(steps[i], zh);
  return s;
}

// One verification pass: the steps undone from the answer back to the first operand ("a+b=r" becomes "r-b=a"), then
// the answer restated ("; check 5+2=7, 7-4=3 ok 5").
std::string verify_pass(const std::vector<Step>& steps, bool zh) {
  std::vector<Step> inv;
  for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
    const char op = it->op == '+' ? '-' : it->op == '-' ? '+' : '/';
    inv.push_back({it->r, it->b, it->a, op});
  }
  const std::string answer = std::to_string(steps.back().r);
  return (zh ? "；验算" : "; check ") + join_steps(inv, zh) + (zh ? "，确认" : " ok ") + answer;
}

// One attempt of a search trace: "try 3*2=6, 6+4=10 ≠ 14" (or "= 14" when it reaches the target); `miss` is the
// verdict written when it does not.
std::string attempt_text(const std::vector<Step>& steps, int64_t target, const std::string& miss) {
  const int64_t r = steps.back().r;
  return "try " + join_steps(steps, false) + (r == target ? " = " : " " + miss + " ") + std::to_string(target);
}

// The equation of a left-to-right chain with minimal parentheses: (3+4)*2 for 3+4=7, 7*2=14.
std::string chain_equation(const std::vector<Step>& steps) {
  std::string eq = std::to_string(steps.front().a);
  bool low_prec = false;  // does `eq` end in a + or - at top level
  for (const Step& s : steps) {
    const bool mul = s.op == '*' || s.op == '/';
    if (mul && low_prec) eq = "(" + eq + ")";
    eq += s.op + std::to_string(s.b);
    low_prec = !mul;
  }
  return eq;
}

// One draw of an attempt: all the numbers in a random order, combined left to right with random operators. Empty
// when a result leaves [1, max_value] (or a division is not exact).
std::vector<Step> draw_attempt(const std::vector<int64_t>& nums, const std::string& operators, int64_t max_value, Rng& rng) {
  std::vector<int64_t> order = nums;
  for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[rng.below(uint64_t(i) + 1)]);
  std::vector<Step> steps;
  int64_t acc = order[0];
  bool ok = true;
  for (size_t i = 1; i < order.size() && ok; ++i) {
    const char op = operators[rng.below(operators.size())];
    const int64_t r = apply_op(op, acc, order[i]);
    ok = r > 0 && r <= max_value;
    steps.push_back({acc, order[i], r, op});
    acc = r;
  }
  if (!ok) steps.clear();
  return steps;
}

// A failed attempt: a draw whose last result is not the target. Empty if none is found in 200 draws.
std::vector<Step> failed_attempt(const std::vector<int64_t>& nums, int64_t target, const std::string& operators,
                                 int64_t max_value, Rng& rng) {
  for (int t = 0; t < 200; ++t) {
    std::vector<Step> steps = draw_attempt(nums, operators, max_value, rng);
    if (!steps.empty() && steps.back().r != target) return steps;
  }
  return {};
}

// The heuristic's trace: up to `max_attempts` distinct draws (200 tries each to find a new one), each with its verdict,
// stopping at the first that reaches the target, and after each miss going on with probability `continue_prob`.
// Returns the attempts; the last is the hit when there is one.
std::vector<std::vector<Step>> heuristic_attempts(const std::vector<int64_t>& nums, int64_t target, const std::string& operators,
                                                  int64_t max_value, int max_attempts, double continue_prob, Rng& rng) {
  std::vector<std::vector<Step>> out;
  std::unordered_set<std::string> seen;
  for (int a = 0; a < max_attempts; ++a) {
    std::vector<Step> pick;
    for (int t = 0; t < 200 && pick.empty(); ++t) {
      std::vector<Step> steps = draw_attempt(nums, operators, max_value, rng);
      if (!steps.empty() && seen.insert(join_steps(steps, false)).second) pick = std::move(steps);
    }
    if (pick.empty()) break;
    out.push_back(std::move(pick));
    if (out.back().back().r == target) break;
    if (continue_prob < 1 && rng.uniform() >= continue_prob) break;  // the heuristic gives up after this miss
  }
  return out;
}

std::string countdown_prompt(const std::vector<int64_t>& nums, int64_t target) {
  std::string list;
  for (size_t i = 0; i < nums.size(); ++i) list += (i ? ", " : "") + std::to_string(nums[i]);
  return "Using the numbers " + list + ", make " + std::to_string(target) + ". Use each number once with + - * /.";
}

std::string countdown_key(const std::vector<int64_t>& nums, int64_t target) {
  std::vector<int64_t> sorted = nums;
  std::sort(sorted.begin(), sorted.end());
  std::string key = "countdown|" + std::to_string(target) + "|";
  for (auto v : sorted) key += std::to_string(v) + ",";
  return key;
}

}  // namespace

void SyntheticConfig::validate() const {
  if (min_operands < 2 || max_operands < min_operands) throw ConfigError("synthetic: need 2 <= min_operands <= max_operands");
  if (min_digits < 1 || max_digits < min_digits || max_digits > 6) throw ConfigError("synthetic: need 1 <= min_digits <= max_digits <= 6");
  if (operators.empty()) throw ConfigError("synthetic.operators is empty; use any of + - * /");
  for (char c : operators)
    if (c != '+' && c != '-' && c != '*' && c != '/') throw ConfigError(std::string("synthetic.operators: unknown operator '") + c + "'; valid: + - * /");
  if (max_value < 1) throw ConfigError("synthetic.max_value must be >= 1");
  if (!(heldout_fraction > 0 && heldout_fraction < 1)) throw ConfigError("synthetic.heldout_fraction must be in (0, 1)");
  if (countdown_min_numbers < 2 || countdown_max_numbers < countdown_min_numbers || countdown_max_numbers > 6)
    throw ConfigError("synthetic: need 2 <= countdown_min_numbers <= countdown_max_numbers <= 6");
  if (countdown_max_number < 2) throw ConfigError("synthetic.countdown_max_number must be >= 2");
  if (!(verify_prob >= 0 && verify_prob < 1)) throw ConfigError("synthetic.verify_prob must be in [0, 1)");
  if (max_verify_passes < 0 || max_verify_passes > 8) throw ConfigError("synthetic.max_verify_passes must be in [0, 8]");
  if (search_max_failed < 0 || search_max_failed > 8) throw ConfigError("synthetic.search_max_failed must be in [0, 8]");
  if (!(search_fail_prob >= 0 && search_fail_prob <= 1)) throw ConfigError("synthetic.search_fail_prob must be in [0, 1]");
  if (!(facts_hit_prob >= 0 && facts_hit_prob <= 1)) throw ConfigError("synthetic.facts_hit_prob must be in [0, 1]");
  if (!(search_continue_prob >= 0 && search_continue_prob <= 1)) throw ConfigError("synthetic.search_continue_prob must be in [0, 1]");
  if (search_attempts < 1 || search_attempts > 16) throw ConfigError("synthetic.search_attempts must be in [1, 16]");
  if (search_verdict != "\u2260" && search_verdict != "!=")
    throw ConfigError("synthetic.search_verdict: unknown verdict '" + search_verdict + "'; valid: \u2260, !=");
  if ((task == SyntheticKind::Countdown || task == SyntheticKind::CountdownFacts) && verify_prob > 0)
    throw ConfigError("synthetic.verify_prob applies to the arithmetic tasks only; set it to 0 for countdown");
}

SyntheticTask::SyntheticTask(SyntheticConfig cfg) : cfg_(std::move(cfg)) {
  cfg_.validate();
  if (cfg_.task != SyntheticKind::Countdown && cfg_.task != SyntheticKind::CountdownFacts && cfg_.operators.find('/') != std::string::npos)
    throw ConfigError("synthetic.operators: '/' is only supported for countdown");
}

std::string synthetic_key(const Example& e) {
  if (e.meta.contains("key")) return e.meta["key"].get<std::string>();
  return e.prompt;
}

Example SyntheticTask::make(Rng& rng) const {
  switch (cfg_.task) {
    case SyntheticKind::Countdown: return make_countdown(rng);
    case SyntheticKind::CountdownFacts: return make_countdown_facts(rng);
    default: return make_arithmetic(rng);
  }
}

Example SyntheticTask::make_arithmetic(Rng& rng) const {
  const bool zh = cfg_.task == SyntheticKind::ArithmeticZh;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const int n = int(rand_in(rng, cfg_.min_operands, cfg_.max_operands));
    std::vector<int64_t> nums;
    std::vector<char> ops;
    for (int i = 0; i < n; ++i) {
      if (i > 0) ops.push_back(cfg_.operators[rng.below(cfg_.operators.size())]);
      int64_t v;
      if (i > 0 && ops.back() == '*') {
        v = rand_in(rng, 2, 9);  // one-digit multiplier
      } else {
        const int d = int(rand_in(rng, cfg_.min_digits, cfg_.max_digits));
        v = rand_in(rng, d == 1 ? 1 : pow10(d - 1), pow10(d) - 1);
      }
      nums.push_back(v);
    }
    // Evaluate with precedence: products first (left to right), then + and - left to right.
    std::vector<Step> steps;
    std::vector<int64_t> terms = {nums[0]};
    std::vector<char> add_ops;
    bool ok = true;
    int hard = 0;
    for (int i = 1; i < n && ok; ++i) {
      if (ops[i - 1] == '*') {
        const int64_t r = terms.back() * nums[i];
        steps.push_back({terms.back(), nums[i], r, '*'});
        hard += 2;
        terms.back() = r;
        ok = r <= cfg_.max_value;
      } else {
        add_ops.push_back(ops[i - 1]);
        terms.push_back(nums[i]);
      }
    }
    int64_t acc = terms[0];
    for (size_t i = 1; i < terms.size() && ok; ++i) {
      const int64_t r = apply_op(add_ops[i - 1], acc, terms[i]);
      hard += carries(add_ops[i - 1], acc, terms[i]);
      steps.push_back({acc, terms[i], r, add_ops[i - 1]});
      acc = r;
      ok = r >= 0 && r <= cfg_.max_value;
    }
    if (!ok) continue;
    std::string expr = std::to_string(nums[0]);
    for (int i = 1; i < n; ++i) expr += ops[i - 1] + std::to_string(nums[i]);
    Example e;
    e.task = zh ? "arithmetic_zh" : "arithmetic";
    e.prompt = zh ? "计算" + expr + "。" : "Compute " + expr + ".";
    e.cot = join_steps(steps, zh);
    int passes = 0;  // no random draw when verification is off, so the problems stay those of earlier versions
    if (cfg_.verify_prob > 0)
      while (passes < cfg_.max_verify_passes && rng.uniform() < cfg_.verify_prob) ++passes;
    for (int i = 0; i < passes; ++i) e.cot += verify_pass(steps, zh);
    e.answer = std::to_string(acc);
    e.difficulty = int(steps.size()) + hard;
    e.meta = json{{"key", "arith|" + expr}, {"expression", expr}, {"language", zh ? "zh" : "en"}, {"steps", int(steps.size())}};
    if (cfg_.verify_prob > 0) e.meta["verify_passes"] = passes;
    return e;
  }
  throw ConfigError("synthetic: could not draw an arithmetic problem within max_value " + std::to_string(cfg_.max_value) +
                    " in 1000 tries; raise max_value or use fewer operands/digits");
}

Example SyntheticTask::make_countdown(Rng& rng) const {
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const int n = int(rand_in(rng, cfg_.countdown_min_numbers, cfg_.countdown_max_numbers));
    std::vector<int64_t> nums;
    for (int i = 0; i < n; ++i) nums.push_back(rand_in(rng, 1, cfg_.countdown_max_number));
    // Solution: the numbers in a random order combined left to right.
    const std::vector<Step> steps = draw_attempt(nums, cfg_.operators, cfg_.max_value, rng);
    if (steps.empty()) continue;
    const int64_t acc = steps.back().r;
    if (std::find(nums.begin(), nums.end(), acc) != nums.end()) continue;  // trivial target
    int hard = 0;
    for (const Step& s : steps) hard += s.op == '*' || s.op == '/';
    Example e;
    e.task = "countdown";
    e.prompt = countdown_prompt(nums, acc);
    e.cot = join_steps(steps, false);
    e.answer = std::to_string(acc);
    e.solution = chain_equation(steps);
    e.difficulty = n - 2 + hard;
    const std::string key = countdown_key(nums, acc);
    e.meta = json{{"key", key}, {"nums", nums}, {"target", acc}, {"language", "en"}};
    if (cfg_.countdown_cot == CountdownCot::Search) {
      Rng trace_rng(Rng::derive_seed(fnv1a(key), 0x5ea7c4));  // keyed by the problem: the problem draws stay as they are
      int failed = 0;
      while (failed < cfg_.search_max_failed && trace_rng.uniform() < cfg_.search_fail_prob) ++failed;
      std::string cot;
      int attempts = 0;
      for (int i = 0; i < failed; ++i) {
        const std::vector<Step> miss = failed_attempt(nums, acc, cfg_.operators, cfg_.max_value, trace_rng);
        if (miss.empty()) break;
        cot += attempt_text(miss, acc, cfg_.search_verdict) + "; ";
        ++attempts;
      }
      e.cot = cot + attempt_text(steps, acc, cfg_.search_verdict);
      e.meta["attempts"] = attempts + 1;
    } else if (cfg_.countdown_cot == CountdownCot::Heuristic) {
      Rng trace_rng(Rng::derive_seed(fnv1a(key), 0x4e0b1c));  // keyed by the problem, as for `search`
      std::vector<std::vector<Step>> tries =
          heuristic_attempts(nums, acc, cfg_.operators, cfg_.max_value, cfg_.search_attempts, cfg_.search_continue_prob, trace_rng);
      if (tries.empty()) tries.push_back(steps);  // no valid draw in 200 tries (not seen with the demo's knobs)
      std::string cot;
      size_t best = 0;  // the hit, else the attempt closest to the target (the first on ties)
      for (size_t i = 0; i < tries.size(); ++i) {
        cot += (i ? "; " : "") + attempt_text(tries[i], acc, cfg_.search_verdict);
        if (std::llabs(tries[i].back().r - acc) < std::llabs(tries[best].back().r - acc)) best = i;
      }
      e.cot = cot;
      e.solution = chain_equation(tries[best]);
      e.meta["attempts"] = int(tries.size());
      e.meta["solved"] = tries[best].back().r == acc;
    }
    return e;
  }
  throw ConfigError("synthetic: could not draw a countdown problem within max_value in 1000 tries; check the knobs");
}

Example SyntheticTask::make_countdown_facts(Rng& rng) const {
  auto draw_numbers = [&] {
    const int n = int(rand_in(rng, cfg_.countdown_min_numbers, cfg_.countdown_max_numbers));
    std::vector<int64_t> nums;
    for (int i = 0; i < n; ++i) nums.push_back(rand_in(rng, 1, cfg_.countdown_max_number));
    return nums;
  };
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const std::vector<int64_t> nums = draw_numbers();
    const std::vector<Step> steps = draw_attempt(nums, cfg_.operators, cfg_.max_value, rng);
    if (steps.empty()) continue;
    const int64_t r = steps.back().r;
    // the target: the attempt's own result with probability facts_hit_prob, else another problem's result drawn
    // independently (the targets the task has; it equals the result only by chance)
    auto given = [&](int64_t t) { return std::find(nums.begin(), nums.end(), t) != nums.end(); };
    if (given(r)) continue;  // as countdown: the target is never a given number
    int64_t target = -1;
    if (rng.uniform() < cfg_.facts_hit_prob) {
      target = r;
    } else {
      for (int t = 0; t < 200 && target < 0; ++t) {
        const std::vector<Step> other = draw_attempt(draw_numbers(), cfg_.operators, cfg_.max_value, rng);
        if (!other.empty() && !given(other.back().r)) target = other.back().r;
      }
      if (target < 0) continue;
    }
    Example e;
    e.task = "countdown";
    e.prompt = countdown_prompt(nums, target);
    e.cot = attempt_text(steps, target, cfg_.search_verdict);
    e.answer = std::to_string(target);
    e.solution = chain_equation(steps);
    e.difficulty = int(steps.size());
    // the countdown key: a fact whose numbers and target are a held-out countdown problem is held out too
    e.meta = json{{"key", countdown_key(nums, target)}, {"nums", nums}, {"target", target}, {"language", "en"},
                  {"attempts", 1}, {"solved", r == target}};
    return e;
  }
  throw ConfigError("synthetic: could not draw a countdown fact within max_value in 1000 tries; check the knobs");
}

Split SyntheticTask::split_of(const Example& e) const {
  const uint64_t h = fnv1a(synthetic_key(e));
  return double(h % 1000000) / 1e6 < cfg_.heldout_fraction ? Split::Heldout : Split::Train;
}

std::vector<Example> SyntheticTask::generate(Split split, int n, uint64_t seed) const {
  if (n < 0) throw ConfigError("synthetic: negative example count");
  Rng rng(Rng::derive_seed(seed, split == Split::Train ? 1 : 2));
  std::vector<Example> out;
  out.reserve(size_t(n));
  std::unordered_set<std::string> seen;
  const int64_t max_tries = int64_t(n) * 200 + 10000;
  for (int64_t t = 0; t < max_tries && int(out.size()) < n; ++t) {
    Example e = make(rng);
    if (split_of(e) != split) continue;
    if (!seen.insert(synthetic_key(e)).second) continue;
    char buf[32];
    std::snprintf(buf, sizeof buf, "%06zu", out.size());
    e.id = e.task + "-" + enum_to_string(split) + "-" + buf;
    out.push_back(std::move(e));
  }
  if (int(out.size()) < n)
    throw ConfigError("synthetic: only " + std::to_string(out.size()) + " distinct " + enum_to_string(split) + " problems found (asked for " +
                      std::to_string(n) + "); widen the knobs (operands, digits, operators)");
  return out;
}

}  // namespace reasonrl::datasets

// synthetic.h: verifiable tasks generated deterministically by seed (multi-step arithmetic in English or Chinese,
// countdown), with difficulty knobs and disjoint train / held-out splits. These are the demo's training data.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "datasets/example.h"
#include "rl/util/config.h"
#include "rl/util/rng.h"

namespace reasonrl::datasets {

// countdown_facts: the "pretraining" corpus of the countdown demo's base model: one attempt each (the numbers of a
// countdown problem in a random order, combined left to right with random operators, every step's result right),
// compared with a target (`try 12+7=19, 19-3=16 != 15`), answered with the attempt's equation. With independent
// targets (facts_hit_prob 0) it teaches the arithmetic and the verdicts, not the search (one attempt, never retried)
// and not which attempt reaches a target.
enum class SyntheticKind { Arithmetic, ArithmeticZh, Countdown, CountdownFacts };
REASONRL_ENUM_NAMES(SyntheticKind, {SyntheticKind::Arithmetic, "arithmetic"}, {SyntheticKind::ArithmeticZh, "arithmetic_zh"},
                    {SyntheticKind::Countdown, "countdown"}, {SyntheticKind::CountdownFacts, "countdown_facts"})

// countdown's chain of thought: `chain` = the solution's steps only (`3+4=7, 7*2=14`); `search` = a search trace that
// writes attempts and checks each against the target (`try 3*2=6, 6+4=10 ≠ 14; try 3+4=7, 7*2=14 = 14`), with a
// few failed attempts before the solution (the cold start of the countdown demo); `heuristic` = the attempts of a
// heuristic that often fails (distinct random left-to-right attempts, at most search_attempts), each with its honest
// verdict, stopping at the first that reaches the target; when none does, the answer is the closest attempt (wrong),
// so no attempt position predicts `= target`.
enum class CountdownCot { Chain, Search, Heuristic };
REASONRL_ENUM_NAMES(CountdownCot, {CountdownCot::Chain, "chain"}, {CountdownCot::Search, "search"},
                    {CountdownCot::Heuristic, "heuristic"})

enum class Split { Train, Heldout };
REASONRL_ENUM_NAMES(Split, {Split::Train, "train"}, {Split::Heldout, "heldout"})

struct SyntheticConfig {
  SyntheticKind task = SyntheticKind::Arithmetic;
  int min_operands = 2;         // arithmetic: numbers in the expression
  int max_operands = 4;
  int min_digits = 1;           // digits of each operand (uniform in [min, max]); multiplier is always one digit
  int max_digits = 2;
  std::string operators = "+-"; // any of "+-*" (countdown may also use "/")
  int max_value = 999;          // every intermediate result stays in [0, max_value]
  double heldout_fraction = 0.1;  // share of the problem space (by hash of the problem) that is held out
  int countdown_min_numbers = 3;
  int countdown_max_numbers = 4;
  int countdown_max_number = 30;  // numbers drawn from [1, countdown_max_number]
  // arithmetic: verification passes appended to the chain of thought, to make long, variable-length chains (the long
  // model long2short starts from). Each pass re-derives the operands from the answer by inverse steps; the number of
  // passes is geometric: another pass with probability verify_prob, at most max_verify_passes.
  double verify_prob = 0.0;
  int max_verify_passes = 2;
  // countdown search traces: the number of failed attempts before the solution is geometric (another one with
  // probability search_fail_prob, at most search_max_failed); each failed attempt combines all the numbers left to
  // right in a random order with random operators and misses the target. Drawn from a stream keyed by the problem,
  // so the problems are the same as with `chain`.
  CountdownCot countdown_cot = CountdownCot::Chain;
  int search_max_failed = 1;
  double search_fail_prob = 0.5;
  int search_attempts = 2;             // heuristic: most attempts in one trace
  double search_continue_prob = 1.0;   // heuristic: probability of another attempt after a miss (below the cap)
  std::string search_verdict = "\u2260";  // the "does not reach" verdict: "≠" or the ASCII "!=" (one BPE word)
  // countdown_facts: probability that the target is the attempt's own result (else an independent problem's target).
  // Above 0 the corpus pairs attempts with the targets they reach, which teaches target-directed attempts (solutions).
  double facts_hit_prob = 0.0;
  template <class V>
  void visit(V& v) {
    v("task", task, "which synthetic task");
    v("min_operands", min_operands, "arithmetic: fewest numbers in an expression");
    v("max_operands", max_operands, "arithmetic: most numbers in an expression");
    v("min_digits", min_digits, "arithmetic: fewest digits per operand");
    v("max_digits", max_digits, "arithmetic: most digits per operand");
    v("operators", operators, "operators to draw from, any of + - * (and / for countdown)");
    v("max_value", max_value, "largest allowed intermediate result (all results are >= 0)");
    v("heldout_fraction", heldout_fraction, "fraction of the problem space held out (decided by a hash of the problem)");
    v("countdown_min_numbers", countdown_min_numbers, "countdown: fewest numbers");
    v("countdown_max_numbers", countdown_max_numbers, "countdown: most numbers");
    v("countdown_max_number", countdown_max_number, "countdown: numbers are drawn from [1, this]");
    v("verify_prob", verify_prob, "arithmetic: probability of each further verification pass in the chain of thought (0 = none)");
    v("max_verify_passes", max_verify_passes, "arithmetic: most verification passes in one chain of thought");
    v("countdown_cot", countdown_cot, "countdown: chain of thought of the examples (chain: the solution's steps; search: failed attempts, then the solution; heuristic: up to search_attempts honest attempts, then the best)");
    v("search_max_failed", search_max_failed, "countdown search: most failed attempts before the solution");
    v("search_fail_prob", search_fail_prob, "countdown search: probability of each further failed attempt");
    v("search_attempts", search_attempts, "countdown heuristic: most attempts in one trace (the answer is the closest when none reaches the target)");
    v("facts_hit_prob", facts_hit_prob, "countdown_facts: probability that the target is the attempt's result (0 = independent targets: arithmetic and verdicts only)");
    v("search_continue_prob", search_continue_prob, "countdown heuristic: probability of another attempt after a miss, below search_attempts (1 = always up to the cap)");
    v("search_verdict", search_verdict, "countdown search/heuristic/facts: the verdict of an attempt that misses the target, \"\u2260\" or \"!=\"");
  }
  void validate() const;
};

class SyntheticTask {
 public:
  explicit SyntheticTask(SyntheticConfig cfg);
  // One random problem (any split) with its chain of thought and gold answer; id is left empty.
  Example make(Rng& rng) const;
  // Which split a problem belongs to: a hash of its canonical form (the expression, or the numbers and target),
  // so train and held-out can never share a problem, whatever the seed and count.
  Split split_of(const Example& e) const;
  // `n` distinct problems of `split`, deterministic in (config, split, n, seed). Ids are "<task>-<split>-<index>".
  // Throws ConfigError if the knobs allow fewer than `n` distinct problems in that split.
  std::vector<Example> generate(Split split, int n, uint64_t seed) const;
  const SyntheticConfig& config() const { return cfg_; }

 private:
  Example make_arithmetic(Rng& rng) const;
  Example make_countdown(Rng& rng) const;
  Example make_countdown_facts(Rng& rng) const;
  SyntheticConfig cfg_;
};

// The canonical key used for splitting and de-duplication (meta["key"] of generated examples).
std::string synthetic_key(const Example& e);

}  // namespace reasonrl::datasets

// math_verify.h: the math-answer grader: verify(gold, pred) with gold FIRST, as in Math-Verify.
// Both sides go through extraction (last \boxed{}, $...$, "the answer is", #### N, <answer>, last number) and
// normalisation, then are compared as numbers, expressions (symbolically by evaluation at random points), sets,
// tuples, intervals, relations, matrices or, last, as normalised text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "rewards/reward_config.h"

namespace reasonrl::rewards {

enum class Verdict { Equal, NotEqual, GoldUnparseable };
const char* verdict_name(Verdict v);

struct VerifyOptions {
  int float_rounding = 6;         // decimals that must agree when a float literal is involved
  bool strict = true;             // false: variable names may differ (f(x) matches f(y))
  bool allow_set_relation_comp = false;  // "x in [a,b]" may match "a <= x <= b"
  ExtractionMode extraction = ExtractionMode::Flexible;  // for the prediction; flexible adds the last-number fallback
  bool extract_gold = true;       // run extraction on the gold too (a gold may be a whole solution)
};

// Equal / NotEqual, or GoldUnparseable when no answer can be extracted from the gold (never a reward).
Verdict math_verify(std::string_view gold, std::string_view pred, const VerifyOptions& opt = {});
// Convenience: true only for Verdict::Equal.
inline bool math_equal(std::string_view gold, std::string_view pred, const VerifyOptions& opt = {}) {
  return math_verify(gold, pred, opt) == Verdict::Equal;
}

// The answer strings extraction yields for `text`, best first (empty = nothing found). Exposed for tests and the CLI.
std::vector<std::string> extract_answer_candidates(std::string_view text, ExtractionMode mode);
// The normalisation applied to an extracted answer before parsing (\left/\right, \dfrac, \text{} units, degrees,
// percent, currency, spacing, trailing punctuation). Exposed for tests and debugging.
std::string normalize_answer(std::string s);

}  // namespace reasonrl::rewards

// math_verify.h: the math-answer grader: verify(gold, pred) with gold FIRST, as in Math-Verify.
// Both sides go through extraction (last \boxed{}, $...$, "the answer is", #### N, <answer>, last number) and
// normalisation, then are compared as numbers, expressions (symbolically by evaluation at random points), sets,
// tuples, intervals, relations, matrices or, last, as normalised text.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rewards/reward_config.h"

namespace reasonrl::rewards {

enum class Verdict { Equal, NotEqual, GoldUnparseable };
const char* verdict_name(Verdict v);

struct VerifyOptions {
  int float_rounding = 6;  // decimal places a decimal approximation must get right (numeric.h: the policy)
  bool allow_set_relation_comp = false;  // "x in [a,b]" may match "a <= x <= b"
  ExtractionMode extraction = ExtractionMode::Flexible;  // for the prediction; flexible adds the last-number fallback
};

// Why a verdict was given: each side's extracted answer, its normalised text, its canonical tree and value, and the
// rule that decided ("exact", "decimal_rounding", "interval", "random_points", "structural", "same_text", "percent",
// "multiple_choice", "proportional", "matrix", "no_answer", "gold_unparseable", "unparsed_text_differs").
struct VerifyExplanation {
  std::string gold_extracted, gold_normalized, gold_canonical, gold_value;
  std::string pred_extracted, pred_normalized, pred_canonical, pred_value;
  std::string rule;
  Verdict verdict = Verdict::NotEqual;
};

// Equal / NotEqual, or GoldUnparseable when no answer can be extracted from the gold (never a reward). `why`, when
// given, is filled with the explanation.
Verdict math_verify(std::string_view gold, std::string_view pred, const VerifyOptions& opt = {},
                    VerifyExplanation* why = nullptr);
// Convenience: true only for Verdict::Equal.
inline bool math_equal(std::string_view gold, std::string_view pred, const VerifyOptions& opt = {}) {
  return math_verify(gold, pred, opt) == Verdict::Equal;
}

// The part of a response the accuracy reward grades: after </think> (required with require_think_close: nullopt when
// it is missing; otherwise when an answer follows it), then the last tail_chars bytes (at a code-point boundary).
std::optional<std::string_view> accuracy_answer_part(std::string_view response, const AccuracyOptions& o);

// The accuracy reward's verdict on a math answer: math_verify(gold, accuracy_answer_part(response)) with the reward's
// float_rounding and extraction; NotEqual (rule "no_think_close") when require_think_close finds no </think>.
Verdict accuracy_verdict(std::string_view gold, std::string_view response, const AccuracyOptions& o,
                         VerifyExplanation* why = nullptr);

// The answer strings extraction yields for `text`, best first (empty = nothing found). Exposed for tests and the CLI.
std::vector<std::string> extract_answer_candidates(std::string_view text, ExtractionMode mode);
// The normalisation applied to an extracted answer before parsing (\left/\right, \dfrac, \text{} units, degrees,
// percent, currency, spacing, trailing punctuation). Exposed for tests and debugging.
std::string normalize_answer(std::string s);

}  // namespace reasonrl::rewards

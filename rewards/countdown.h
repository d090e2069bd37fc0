// countdown.h: the Countdown task check: the equation uses each given number exactly once and evaluates to the target.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace reasonrl::rewards {

struct CountdownCheck {
  bool found = false;      // an equation was extracted
  bool valid = false;      // it parses, uses only + - * / ( ) and exactly the given numbers
  bool correct = false;    // valid and equals the target exactly (rational arithmetic)
  std::string equation;
  std::string reason;      // why not correct
};
// Extracts the equation from <answer>..</answer>, else the last \boxed{}, else the last line with an operator;
// a trailing "= target" is allowed.
CountdownCheck check_countdown(std::string_view response, const std::vector<int64_t>& numbers, int64_t target);

// The search chain of thought's own consistency (the `countdown_trace` reward). The trace is the text inside
// <think>..</think> (to the end if unclosed; the whole response if there is no tag), made of attempts separated by
// ';', each "try a op b=r, r op c=s, ... V T" with the verdict V one of "=", "≠" or "!=". An attempt is consistent when
// every step parses, each step's result is its arithmetic (exact integer division), the first step's operands are two
// of the given numbers, each later step combines the previous result with a given number not yet used in the attempt,
// the verdict's T is the problem's target, and V is "=" exactly when the last result equals the target. A consistent
// attempt *solves* the problem when it uses every given number and its last result is the target.
struct CountdownTrace {
  int attempts = 0;    // non-empty ';'-separated segments of the trace (each should be a "try ..." attempt)
  int consistent = 0;  // of them, consistent as above
  int solving = 0;     // of the consistent ones, those that solve the problem
};
CountdownTrace check_countdown_trace(std::string_view response, const std::vector<int64_t>& numbers, int64_t target);

}  // namespace reasonrl::rewards

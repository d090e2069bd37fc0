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

}  // namespace reasonrl::rewards

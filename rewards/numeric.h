// numeric.h: the grader's numeric equality: exact values (GMP rationals) where an answer is rational, rigorous
// intervals (MPFI) where it is not, and the decimal-rounding policy for answers written as decimals.
//
// Policy (rewards/NOTES.md has examples):
// - Both sides rational (integers, fractions, finite decimals, integer powers, factorials, ...): exact equality,
//   whatever their size, but for the rule on decimals of different lengths below. A decimal is the rational it writes: 0.5 = 1/2, 1.5 != 15, 2147483647 != 2147483648.
// - Two decimals written to different lengths, the shorter with at least r decimals (r = float_rounding): the longer
//   rounded to the shorter's length must give the shorter (0.0666668 = 0.066666793; 3.14 != 3.14159 at r = 6).
// - A decimal against a value no decimal can write (1/3, sqrt 2, pi/4): the decimal is a rounding, equal when
//   |a - b| <= 0.5 * 10^-r * max(1, |a|, |b|) (r = float_rounding, 6 by default) and |a - b| <= 0.005 * max(|a|, |b|)
//   (0.05 when r = 2, 0.5 when r <= 1): tiny values still need their leading digits right (0.0 is not e^-1000).
// - No decimal written, a value irrational (pi, e, roots, logs, trig): intervals at 256 and at 1024 bits; equal only
//   when they overlap at both precisions and are narrow (numerically indistinguishable to ~270 digits); disjoint
//   intervals are NotEqual.
// - With symbols: the same at 8 random rational points (exact when both sides are rational functions).
// - Anything we cannot evaluate (infinity, overflow past MPFR's range, undefined points) is Unknown: the caller then
//   compares the expression trees structurally.
#pragma once

#include <string>

#include "rewards/math_expr.h"

namespace reasonrl::rewards {

enum class NumVerdict { Equal, NotEqual, Unknown };

struct NumericResult {
  NumVerdict verdict = NumVerdict::Unknown;
  const char* rule = "";  // "exact", "decimal_rounding", "interval", "random_points" (for --explain)
};

// a vs b, scalar expressions; symbols are compared at random rational points.
NumericResult numeric_equal(const Node& a, const Node& b, int float_rounding);
// fb = c * fa for one constant c (c > 0 when `positive`), at random points: equations and inequalities.
NumVerdict proportional(const Node& fa, const Node& fb, bool positive);
// Matrix expressions (matrices combined with +, -, products and scalar factors), elementwise.
NumVerdict matrix_equal(const Node& a, const Node& b, int float_rounding);
// The value of a symbol-free expression for display: "p/q" when rational, else ~12 significant digits, "" when it
// cannot be evaluated.
std::string value_string(const Node& n);

}  // namespace reasonrl::rewards

// fuzz_rewards.cpp: libFuzzer target for the answer extractor, normaliser, parser and grader (and the text rewards).
// Input: gold and prediction separated by the first 0x01 byte (no separator: the whole input is the prediction,
// against a fixed gold). Build and run: scripts/fuzz.sh SECONDS (clang's libFuzzer; see rewards/NOTES.md).
// Properties checked (a violation aborts, so libFuzzer reports it with the input):
// - verify(a, a) is Equal for every input a whose answer parses (multiple-choice letters aside);
// - for the input's first number literal L: \boxed{L} is Equal to L, and L with its sign flipped (L != 0), one
//   digit changed, or its decimal point moved (L != 0) is never Equal to L.
// Time: run with -timeout=1 (scripts/fuzz.sh does), so no input may take over a second.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "rewards/countdown.h"
#include "rewards/language.h"
#include "rewards/math_expr.h"
#include "rewards/math_verify.h"
#include "rewards/text_rewards.h"

using namespace reasonrl::rewards;

namespace {

[[noreturn]] void violated(const char* what, const std::string& a, const std::string& b) {
  std::fprintf(stderr, "PROPERTY VIOLATED: %s\n  gold: %s\n  pred: %s\n", what, a.c_str(), b.c_str());
  std::abort();
}

// The first number literal of s: an optional '-', digits, an optional '.' and digits (at most 60 characters).
std::string first_literal(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') continue;
    size_t e = i;
    bool dot = false;
    while (e < s.size() && e - i < 60 &&
           ((s[e] >= '0' && s[e] <= '9') || (s[e] == '.' && !dot && e + 1 < s.size() && s[e + 1] >= '0' && s[e + 1] <= '9'))) {
      dot |= s[e] == '.';
      ++e;
    }
    const bool neg = i > 0 && s[i - 1] == '-';
    return (neg ? "-" : "") + std::string(s.substr(i, e - i));
  }
  return "";
}

void check_properties(const std::string& a) {
  VerifyExplanation why;
  if (math_verify(a, a, {}, &why) != Verdict::Equal && !why.gold_canonical.empty() && why.rule != "multiple_choice")
    violated("verify(a, a) is Equal", a, a);
  const std::string lit = first_literal(a);
  if (lit.empty()) return;
  const std::string box = "\\boxed{" + lit + "}";
  if (math_verify(lit, box) != Verdict::Equal) violated("a literal equals itself boxed", lit, box);
  const std::string digits = lit[0] == '-' ? lit.substr(1) : lit;
  const bool zero = digits.find_first_not_of("0.") == std::string::npos;
  auto never_equal = [&](const char* what, const std::string& m) {
    if (math_verify(lit, "\\boxed{" + m + "}") == Verdict::Equal) violated(what, lit, m);
  };
  if (!zero) never_equal("a flipped sign is not equal", lit[0] == '-' ? digits : "-" + lit);
  std::string changed = lit;
  const size_t d = changed.find_last_of("0123456789");
  changed[d] = static_cast<char>('0' + (changed[d] - '0' + 1) % 10);
  never_equal("a changed digit is not equal", changed);
  if (!zero) {
    std::string moved = lit;
    if (const size_t dot = moved.find('.'); dot != std::string::npos) moved.erase(dot, 1);
    else moved.insert(moved.size() - 1, ".");
    if (moved.back() != '.') never_equal("a moved decimal point is not equal", moved);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t sep = in.find('\x01');
  const std::string gold = sep == std::string_view::npos ? std::string("\\frac{1}{2}") : std::string(in.substr(0, sep));
  const std::string pred = sep == std::string_view::npos ? std::string(in) : std::string(in.substr(sep + 1));
  VerifyOptions o;
  o.allow_set_relation_comp = size % 2;
  o.extraction = size % 3 ? ExtractionMode::Flexible : ExtractionMode::Strict;
  (void)math_verify(gold, pred, o);
  (void)math_verify(pred, gold, o);
  check_properties(pred);
  for (const auto& c : extract_answer_candidates(pred, ExtractionMode::Flexible)) {
    const std::string n = normalize_answer(c);
    if (auto node = parse_math(n)) {
      (void)eval_node(*node, {{"x", 0.5}});
      (void)node_to_string(*node);
    }
  }
  if (auto node = parse_math(pred)) (void)eval_node(*node, {});
  (void)language_consistency(pred, "zh");
  (void)repetition_penalty(pred, 2, -1.0, size % 2 ? "zh" : "en");
  (void)format_reward(pred, FormatMode::Strict);
  (void)format_reward(pred, FormatMode::ThinkAnswer);
  (void)check_countdown(pred, {3, 5, 7}, 22);
  return 0;
}

// fuzz_rewards.cpp: libFuzzer target for the answer extractor, normaliser, parser and grader (and the text rewards).
// Input: gold and prediction separated by the first 0x01 byte (no separator: the whole input is the prediction,
// against a fixed gold). Build with clang: see rewards/NOTES.md.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "rewards/countdown.h"
#include "rewards/language.h"
#include "rewards/math_expr.h"
#include "rewards/math_verify.h"
#include "rewards/text_rewards.h"

using namespace reasonrl::rewards;

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

// example.h: one prompt with a verifiable answer (and, for SFT, a chain of thought), plus JSONL save/load of examples.
#pragma once
#include <string>
#include <vector>

#include "rl/util/config.h"

namespace reasonrl::datasets {

struct Example {
  std::string id;        // unique within its dataset, e.g. "arith-train-000017" or "gsm8k:12"
  std::string prompt;    // the question text (before any template)
  std::string cot;       // worked reasoning for SFT ("" when the source has none)
  std::string answer;    // the gold answer a reward function checks against
  std::string solution;  // text inside <answer> of the SFT target when it differs from `answer` (countdown: the equation)
  std::string task;      // "arithmetic", "arithmetic_zh", "countdown", "gsm8k", "math", ...
  int difficulty = 0;    // task-specific level (higher = harder); 0 when unknown
  json meta = json::object();  // extra fields: countdown nums/target, MATH subject, language, ...
  std::string source;    // "file:line" for an example read from a file ("" for generated ones); for error messages

  // The text that goes inside <answer> of an SFT target.
  const std::string& final_text() const { return solution.empty() ? answer : solution; }
};

// One JSON object per example with keys id, prompt, cot, answer, solution, task, difficulty, meta
// (the "generic" layout of load_jsonl reads it back exactly).
json example_to_json(const Example& e);
void write_examples_jsonl(const std::string& path, const std::vector<Example>& examples);

}  // namespace reasonrl::datasets

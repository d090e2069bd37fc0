// example.cpp: Example <-> JSON.
#include "datasets/example.h"

#include "rl/util/error.h"

namespace reasonrl::datasets {

json example_to_json(const Example& e) {
  json j{{"id", e.id}, {"prompt", e.prompt}, {"cot", e.cot}, {"answer", e.answer}};
  if (!e.solution.empty()) j["solution"] = e.solution;
  j["task"] = e.task;
  j["difficulty"] = e.difficulty;
  if (!e.meta.empty()) j["meta"] = e.meta;
  return j;
}

void write_examples_jsonl(const std::string& path, const std::vector<Example>& examples) {
  std::string s;
  for (const auto& e : examples) s += example_to_json(e).dump() + "\n";
  write_file_atomic(path, s);
}

}  // namespace reasonrl::datasets

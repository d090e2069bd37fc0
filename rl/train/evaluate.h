// evaluate.h: greedy pass@1 and mean response length on held-out prompts, with the rollout engine and the
// accuracy reward (the same grader as training).
#pragma once
#include <string>
#include <vector>

#include "datasets/example.h"
#include "datasets/prompt_template.h"
#include "datasets/tokenizer.h"
#include "model/model.h"
#include "rl/train/train_config.h"

namespace reasonrl::train {

struct EvalSample {
  int index = 0;  // into the examples
  std::string response;
  int n_tokens = 0;
  std::string finish_reason;
  bool correct = false;
};

struct EvalResult {
  double pass_at_1 = 0;       // fraction of prompts answered correctly (greedy)
  double mean_tokens = 0;     // mean response tokens
  double truncated_frac = 0;  // finish reason length
  int n = 0;
  int reward_errors = 0;      // samples the grader failed on (counted as not correct; each logged, the first few)
  double seconds = 0;
  std::vector<EvalSample> samples;
};

// Greedy decoding (temperature 0) of the first cfg.size examples; graded with the `accuracy` reward (and `countdown`
// for countdown examples). A sample the grader fails on is not correct, and is counted in reward_errors and logged
// (the first 3 in full), never silently a 0.
EvalResult evaluate_greedy(model::Model& m, const datasets::Tokenizer& tok, const datasets::PromptTemplate& tpl,
                           const std::vector<datasets::Example>& examples, const EvalConfig& cfg);

// The responses of one evaluation as JSONL (header {"format":"reasonrl.eval_samples","version":1,"step":N}, then one
// {"id","response","n_tokens","finish_reason","correct"} per prompt) at <run_dir>/eval_samples/step_<N>.jsonl.
// Throws IoError.
void write_eval_samples(const std::string& run_dir, long step, const std::vector<datasets::Example>& examples,
                        const EvalResult& r);

}  // namespace reasonrl::train

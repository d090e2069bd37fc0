// evaluate.h: greedy pass@1, mean response length and (optionally) sampled pass@k on held-out prompts, with the
// rollout engine and the accuracy reward (the same grader as training).
#pragma once
#include <string>
#include <utility>
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
  int sampled_correct = -1;  // of the pass@k samples of this prompt (-1 = no pass@k in this evaluation)
};

struct EvalResult {
  double pass_at_1 = 0;       // fraction of prompts answered correctly (greedy)
  double mean_tokens = 0;     // mean response tokens
  double truncated_frac = 0;  // finish reason length
  int n = 0;
  int reward_errors = 0;      // samples the grader failed on (counted as not correct; each logged, the first few)
  double seconds = 0;
  // pass@k: k and n of the evaluation config; 0 when this evaluation did not sample
  int pass_k = 0;
  int pass_k_samples = 0;
  double pass_at_k = 0;          // mean over prompts of pass_at_k(n, correct samples, k)
  double sampled_pass_at_1 = 0;  // share of all the samples that are correct
  std::vector<EvalSample> samples;
};

// The unbiased pass@k estimator of Chen et al. 2021 (Codex): 1 - C(n-c, k) / C(n, k), the chance that k of the n
// samples drawn without replacement include a correct one, in the product form. Throws ConfigError unless
// 1 <= k <= n and 0 <= c <= n.
double pass_at_k(int n, int c, int k);

// Whether the evaluation at `step` also samples for pass@k: pass_k_samples > 0 and it is the first or the last
// evaluation of the run, or pass_k_every divides the step.
bool pass_k_due(const EvalConfig& cfg, long step, bool first_or_last);

// An evaluation's figures as evals.jsonl (with an "eval/" prefix) and the run store record them: pass@1, mean_tokens,
// truncated_frac, n, reward_errors, and pass@k with the sampled pass@1 when this evaluation sampled.
std::vector<std::pair<std::string, double>> eval_metric_items(const EvalResult& r);

// The evaluation's log line: greedy pass@1, prompts, mean tokens, pass@k when sampled, time.
void log_eval(long step, const EvalResult& r);

// Greedy decoding (temperature 0) of the first cfg.size examples; graded with the `accuracy` reward (and `countdown`
// for countdown examples). A sample the grader fails on is not correct, and is counted in reward_errors and logged
// (the first 3 in full), never silently a 0. With `with_pass_k` (and cfg.pass_k_samples > 0) it also draws
// pass_k_samples completions per prompt at temperature 1 (sampling seed 0 at every evaluation, so two evaluations
// differ only by the model) and reports pass@k and the sampled pass@1.
EvalResult evaluate_greedy(model::Model& m, const datasets::Tokenizer& tok, const datasets::PromptTemplate& tpl,
                           const std::vector<datasets::Example>& examples, const EvalConfig& cfg, bool with_pass_k = false);

// The responses of one evaluation as JSONL (header {"format":"reasonrl.eval_samples","version":1,"step":N}, then one
// {"id","response","n_tokens","finish_reason","correct"} per prompt, plus "sampled_correct" when pass@k was measured) at <run_dir>/eval_samples/step_<N>.jsonl.
// Throws IoError.
void write_eval_samples(const std::string& run_dir, long step, const std::vector<datasets::Example>& examples,
                        const EvalResult& r);

}  // namespace reasonrl::train

// difficulty.h: `reasonrl difficulty`: Kimi k1.5's offline curation: k answers per training prompt from a checkpoint
// (sample_responses), graded with `accuracy`, pass rates saved as a PassRateTable, too-easy prompts dropped.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "datasets/example.h"
#include "rl/long2short/rejection.h"
#include "rl/train/train_config.h"
#include "rl/util/config.h"
#include "sampler/pass_rates.h"

namespace reasonrl::long2short {

struct DifficultyConfig {
  std::string checkpoint;          // checkpoint directory, or a run directory (its latest checkpoint); required
  std::string run_dir = "runs/difficulty";
  std::string pass_rates;          // "" = <run_dir>/pass_rates.jsonl
  std::string output;              // "" = <run_dir>/curated.jsonl
  int threads = 0;
  train::DataConfig data = [] {
    train::DataConfig d;
    d.heldout_size = 0;  // only the training split is measured
    return d;
  }();
  int num_samples = 8;             // k answers per prompt (Kimi: 8)
  int num_prompts = 0;             // measure the first N training prompts; 0 = all
  double temperature = 1.0;
  int max_completion_length = 64;
  int max_batch = 64;
  uint64_t seed = 7;
  sampler::CurationConfig curation;
  template <class V>
  void visit(V& v) {
    v("checkpoint", checkpoint, "checkpoint directory, or a run directory (its latest checkpoint); required");
    v("run_dir", run_dir, "output directory (config.json; default place of the two files below)");
    v("pass_rates", pass_rates, "pass-rate table to write (JSONL); empty = <run_dir>/pass_rates.jsonl");
    v("output", output, "curated prompts to write (JSONL, generic layout); empty = <run_dir>/curated.jsonl");
    v("threads", threads, "OpenMP threads (0 = all cores)");
    v("data", data, "prompts: the training split is measured and curated (use the model's own prompt_template)");
    v("num_samples", num_samples, "k: answers sampled per prompt (Kimi: 8)");
    v("num_prompts", num_prompts, "measure only the first N training prompts (0 = all)");
    v("temperature", temperature, "sampling temperature");
    v("max_completion_length", max_completion_length, "maximum response tokens");
    v("max_batch", max_batch, "rows decoded together");
    v("seed", seed, "sampling seed (same seed, same table)");
    v("curation", curation, "which pass rates are kept (too easy: above max_pass_rate)");
  }
  void validate() const;
};

struct DifficultyResult {
  std::string checkpoint;               // resolved checkpoint directory
  std::string pass_rates_path, output_path;
  int num_samples = 0;                  // k
  int examples = 0;                     // training prompts loaded (all are curated)
  int measured = 0;                     // prompts sampled (the first `measured` examples)
  std::vector<int> n_correct;           // per measured prompt, in example order
  std::vector<int> histogram;           // histogram[c] = prompts with c of k answers correct, c = 0..k
  double mean_pass_rate = 0;            // over measured prompts
  int kept = 0, dropped_easy = 0, dropped_hard = 0, dropped_unknown = 0;
  std::vector<PromptSamples> samples;   // the sampled answers, graded (samples[i].example == i)
  sampler::PassRateTable table;
  std::vector<datasets::Example> curated;
  double seconds = 0;
};

// Loads the checkpoint and the training prompts, samples and grades cfg.num_samples answers to each measured prompt,
// writes the pass-rate table and the curated prompts, and returns the counts. Throws ConfigError / IoError.
DifficultyResult run_difficulty(const DifficultyConfig& cfg);

// The counting part, given graded samples: table rows (id -> correct of k), histogram, mean, curation of `examples`.
DifficultyResult tally_difficulty(const std::vector<datasets::Example>& examples, std::vector<PromptSamples> samples,
                                  int num_samples, const sampler::CurationConfig& curation);

// A few lines for the terminal: prompts, mean pass rate, kept/dropped and a histogram of correct answers per prompt.
std::string difficulty_summary(const DifficultyResult& r, const sampler::CurationConfig& curation);

}  // namespace reasonrl::long2short

// synthetic.h: deterministic synthetic prompts, samples and metrics shaped like a learning run, for the store's tests,
// its benchmark and demo reports (no model needed). Same arguments, same records, on every platform.
#pragma once
#include <cstdint>
#include <vector>

#include "rl/store/store.h"

namespace reasonrl::store {

struct SyntheticSpec {
  uint64_t seed = 1;
  std::string name = "synthetic";  // the run's name
  int n_prompts = 64;        // prompts in the dataset
  int prompts_per_step = 8;
  int group_size = 4;        // samples per prompt
  int text_chars = 400;      // mean completion length in characters
  int64_t n_steps = 50;      // the run length (drives the trends)
};

std::vector<PromptRecord> synthetic_prompts(const SyntheticSpec& spec);
// The samples of one step and its metrics (sample metrics plus kl, entropy, clip_frac, tokens_per_s, time/*).
std::vector<SampleRecord> synthetic_samples(const SyntheticSpec& spec, int64_t step);
StepRecord synthetic_step_metrics(const SyntheticSpec& spec, int64_t step, const std::vector<SampleRecord>& samples);
// A whole run written to `st` (begin_run, prompts, every step, an evaluation every 10 steps and at the end).
void write_synthetic_run(RolloutStore& st, const SyntheticSpec& spec);
// The same into a new store file at `path`, closed afterwards.
void write_synthetic_file(const std::string& path, const SyntheticSpec& spec);

}  // namespace reasonrl::store

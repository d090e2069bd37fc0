// trainer.h: the RL loop of `reasonrl train`. One step reads like the algorithm (trainer.cpp, Trainer::step_once; the
// batch is one record per response, rollout_batch.h):
//   generate: sample prompts, G responses each -> score: decode, rewards per group -> (dynamic sampling: more rounds
//   of both until enough informative groups) -> logprobs: old / reference log-probs -> advantages (KL-shaped rewards
//   first when rl.kl_mode is reward) -> update: mu passes over mini-batches (micro-batch gradient accumulation), an
//   optimizer step each -> record: metrics.jsonl and the store
// then, between steps: evaluation and checkpoint.
// Checkpoints hold everything (weights, optimizer, reference, sampler state, replay buffer, RNG, step), so
// `--resume` continues exactly.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "rl/train/evaluate.h"
#include "rl/train/train_config.h"

namespace reasonrl::train {

struct TrainResult {
  long steps_done = 0;          // total steps completed (including those before a resume)
  EvalResult initial_eval;      // at step 0 (only when the run did not resume)
  EvalResult final_eval;
  double seconds = 0;
  bool interrupted = false;     // stopped by stop_after
};

// Runs RL as configured. With resume, continues from <run_dir>/checkpoints/latest (which must exist).
// config_changes: a resume that changed the run's config (resolve_resumed_config, rl/cli/resume_config.h) passes the
// changes as JSON; they are recorded with the resume in the store's run_sessions.
TrainResult run_train(const TrainConfig& cfg, bool resume, const std::string& config_changes = "");

}  // namespace reasonrl::train

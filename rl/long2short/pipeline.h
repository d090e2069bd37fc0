// pipeline.h: `reasonrl long2short`: the four Kimi k1.5 long2short stages (merge, shortest rejection sampling + SFT,
// DPO, length-penalty RL) run from one config, each from the long model (or chained), with greedy held-out pass@1 and
// mean response tokens before and after each stage written to the run database and a table.
#pragma once
#include <string>
#include <vector>

#include "rl/long2short/dpo.h"
#include "rl/long2short/merge.h"
#include "rl/long2short/rejection.h"
#include "rl/store/store.h"
#include "rl/train/train_config.h"

namespace reasonrl::long2short {

enum class Stage { Merge, Shortest, Dpo, LengthRl };
REASONRL_ENUM_NAMES(Stage, {Stage::Merge, "merge"}, {Stage::Shortest, "shortest"}, {Stage::Dpo, "dpo"},
                    {Stage::LengthRl, "length_rl"})

struct ShortestStageConfig {
  int steps = 60;  // SFT steps on the shortest-correct set
  int batch_size = 16;
  model::AdamWConfig optim = [] {
    model::AdamWConfig o;
    o.learning_rate = 3e-4;
    o.weight_decay = 0.0;
    o.min_lr_ratio = 1.0;
    return o;
  }();
  template <class V>
  void visit(V& v) {
    v("steps", steps, "SFT steps on the shortest-correct responses");
    v("batch_size", batch_size, "SFT sequences per step");
    v("optim", optim, "AdamW for the SFT");
  }
};

struct DpoStageConfig {
  double rejected_length_ratio = 1.5;  // a correct response is a negative when at least this much longer (Kimi: 1.5)
  int max_pairs_per_prompt = 2;
  DpoOptions dpo;
  template <class V>
  void visit(V& v) {
    v("rejected_length_ratio", rejected_length_ratio, "correct responses at least this many times longer than the chosen one are negatives (Kimi 1.5)");
    v("max_pairs_per_prompt", max_pairs_per_prompt, "preference pairs per prompt (longest negatives first)");
    dpo.visit(v);
  }
};

struct LengthRlStageConfig {
  double length_weight = 1.0;     // weight of Kimi's length reward next to accuracy
  int max_completion_length = 0;  // reduced rollout length (0 = train.rollout.max_completion_length)
  train::TrainConfig train = [] {
    train::TrainConfig t;
    t.steps = 20;
    t.prompts_per_step = 8;
    t.rollout.num_generations = 8;
    t.rollout.max_completion_length = 48;
    t.micro_batch_size = 32;
    t.save_every = 0;
    t.keep_checkpoints = 1;
    t.rewards.rewards = {"accuracy", "length"};
    t.optim.learning_rate = 2e-4;
    t.optim.weight_decay = 0.0;
    t.optim.min_lr_ratio = 1.0;
    return t;
  }();
  template <class V>
  void visit(V& v) {
    v("length_weight", length_weight, "weight of the length reward (used when train.rewards.weights has no 'length')");
    v("max_completion_length", max_completion_length, "reduced maximum rollout length (0 = train.rollout's)");
    v("train", train, "the RL run (run_dir, init_from, data and eval are set by long2short)");
  }
};

struct Long2shortConfig {
  std::string run_dir = "runs/long2short";
  int threads = 0;
  std::string init_from;  // the long model: a checkpoint directory, or a run directory (its latest checkpoint)
  std::vector<Stage> stages = {Stage::Merge, Stage::Shortest, Stage::Dpo, Stage::LengthRl};
  bool chain = false;     // false: every stage starts from init_from (Kimi Fig. 7); true: each from the previous one
  train::DataConfig data;
  train::EvalConfig eval;
  SamplingSetup sampling;
  MergeConfig merge;
  ShortestStageConfig shortest;
  DpoStageConfig dpo;
  LengthRlStageConfig length_rl;
  store::StoreConfig store;
  template <class V>
  void visit(V& v) {
    v("run_dir", run_dir, "output directory (one folder per stage, long2short.md/json, rollouts.db)");
    v("threads", threads, "OpenMP threads (0 = all cores)");
    v("init_from", init_from, "the long model: checkpoint directory or run directory (latest checkpoint)");
    v("stages", stages, "stages to run, in order: merge, shortest, dpo, length_rl");
    v("chain", chain, "start each stage from the previous stage's model instead of init_from");
    v("data", data, "prompts: training split for sampling / RL, held-out split for evaluation");
    v("eval", eval, "greedy held-out evaluation before and after each stage");
    v("sampling", sampling, "n samples per prompt for shortest rejection sampling and DPO pairs");
    v("merge", merge, "model merging (models: \"@input\" = the stage's input model)");
    v("shortest", shortest, "SFT on the shortest correct samples");
    v("dpo", dpo, "DPO on shortest-correct vs long/wrong pairs");
    v("length_rl", length_rl, "RL with Kimi's length reward and a reduced rollout length");
    v("store", store, "the run database (evaluations per stage)");
  }
  void validate() const;
};

struct StageResult {
  std::string stage;        // "before", "merge", ...
  std::string checkpoint;
  train::EvalResult eval;
  double seconds = 0;       // wall time of the stage (without evaluation)
};

struct Long2shortResult {
  std::vector<StageResult> stages;  // stages[0] = "before" (the input model)
};

// Resolves a checkpoint directory: dir itself (model.safetensors), a run's latest checkpoint, or <dir>/checkpoint.
std::string resolve_checkpoint(const std::string& dir);

Long2shortResult run_long2short(const Long2shortConfig& cfg);

// Markdown table of the results (pass@1 and mean tokens, change vs "before").
std::string results_table(const Long2shortResult& r);

}  // namespace reasonrl::long2short

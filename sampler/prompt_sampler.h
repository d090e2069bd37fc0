// prompt_sampler.h: chooses which prompts each RL step rolls out: uniform, curriculum (incl. Kimi k1.5's warm-up then
// hard-only schedule) or prioritized (P(i) ∝ max(1 - s_i, floor)). Success statistics come from each step's rollouts;
// the state saves into the checkpoint and restores exactly.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "rl/util/config.h"
#include "rl/util/rng.h"
#include "sampler/success_stats.h"

namespace reasonrl::sampler {

// What the sampler knows about prompt i (its position in the prompt list = its id).
struct PromptMeta {
  int difficulty = 0;      // dataset label (higher = harder)
  double pass_rate = -1;   // offline pass rate from `reasonrl difficulty`, or -1 if unknown
};

enum class SamplerType { Uniform, Curriculum, Prioritized };
REASONRL_ENUM_NAMES(SamplerType, {SamplerType::Uniform, "uniform"}, {SamplerType::Curriculum, "curriculum"},
                    {SamplerType::Prioritized, "prioritized"})
enum class CurriculumBy { Difficulty, PassRate };
REASONRL_ENUM_NAMES(CurriculumBy, {CurriculumBy::Difficulty, "difficulty"}, {CurriculumBy::PassRate, "pass_rate"})
enum class CurriculumSchedule { Kimi, Linear };
REASONRL_ENUM_NAMES(CurriculumSchedule, {CurriculumSchedule::Kimi, "kimi"}, {CurriculumSchedule::Linear, "linear"})

struct SamplerConfig {
  SamplerType type = SamplerType::Uniform;
  // false: uniform walks shuffled epochs (like shuffle_dataset); curriculum / prioritized never repeat a prompt
  // within one batch. true: independent draws.
  bool replacement = false;
  // curriculum
  CurriculumBy curriculum_by = CurriculumBy::Difficulty;
  CurriculumSchedule schedule = CurriculumSchedule::Kimi;
  int warmup_steps = 24;             // kimi: the whole mixed set for steps < warmup_steps, then hard prompts only
  int hard_min_difficulty = 3;       // by difficulty: hard = difficulty >= this
  double hard_max_pass_rate = 0.5;   // by pass rate: hard = success rate <= this
  int curriculum_steps = 100;        // linear: steps over which the pool grows from the easiest share to all prompts
  double start_fraction = 0.3;       // linear: share of prompts (easiest first) in the pool at step 0
  // prioritized (and curriculum by pass rate)
  SuccessEstimator estimator = SuccessEstimator::Ema;
  double ema_alpha = 0.3;            // weight of the newest step's success rate
  int window = 4;                    // window: number of recent updates per prompt
  double floor = 0.05;               // minimum weight, so solved prompts still appear now and then
  double prior = 0.5;                // success rate assumed for a prompt with no history and no offline pass rate
  std::string pass_rates;            // pass-rate table of `reasonrl difficulty` (JSONL): the starting success rates
  template <class V>
  void visit(V& v) {
    v("type", type, "prompt sampler");
    v("replacement", replacement, "sample with replacement (false: epochs for uniform, no repeats within a batch otherwise)");
    v("curriculum_by", curriculum_by, "curriculum: rank prompts by difficulty label or by success rate");
    v("schedule", schedule, "curriculum: kimi (mixed warm-up then hard only) or linear (easiest share growing to all)");
    v("warmup_steps", warmup_steps, "kimi schedule: steps on the mixed set before switching to hard prompts");
    v("hard_min_difficulty", hard_min_difficulty, "curriculum by difficulty: a prompt is hard if difficulty >= this");
    v("hard_max_pass_rate", hard_max_pass_rate, "curriculum by pass rate: a prompt is hard if its success rate <= this");
    v("curriculum_steps", curriculum_steps, "linear schedule: steps until every prompt is in the pool");
    v("start_fraction", start_fraction, "linear schedule: share of prompts (easiest first) in the pool at step 0");
    v("estimator", estimator, "success-rate estimate: ema or window");
    v("ema_alpha", ema_alpha, "ema: weight of the newest success rate");
    v("window", window, "window: number of recent updates averaged");
    v("floor", floor, "prioritized: minimum weight max(1 - s, floor)");
    v("prior", prior, "success rate of prompts without history or offline pass rate");
    v("pass_rates", pass_rates,
      "pass-rate table written by `reasonrl difficulty` (pass_rates.jsonl): each prompt's starting success rate until "
      "its first rollouts (matched by example id); empty = none, the prior applies");
  }
  void validate() const;
};

class PromptSampler {
 public:
  virtual ~PromptSampler() = default;
  // `n` prompt ids for the current step (see set_step). Advances the step counter by one.
  virtual std::vector<int> sample(int n, Rng& rng) = 0;
  // Rollout outcome of one prompt at `step`: n_correct of n_total answers were right.
  virtual void update(int prompt_id, int n_correct, int n_total, int step);
  // The step whose batch the next sample() draws (schedules depend on it). Defaults to the number of sample() calls.
  void set_step(int step) { step_ = step; }
  int step() const { return step_; }
  // The probability each prompt has of being drawn by one independent draw at the current step (sums to 1).
  virtual std::vector<double> probabilities() const = 0;
  // Success-rate estimate used by the sampler (history, else offline pass rate, else prior).
  double success_rate(int prompt_id) const;
  const SuccessStats& stats() const { return stats_; }
  int n_prompts() const { return int(meta_.size()); }

  // Checkpoint state (versioned JSON, with the offline pass rates the run started from). load_state restores exactly:
  // the same rng then gives the same samples, even if the pass-rate file changed since.
  virtual json state() const;
  virtual void load_state(const json& j);

 protected:
  PromptSampler(const SamplerConfig& cfg, std::vector<PromptMeta> meta);
  // Draw n ids from `pool` with these weights (empty = equal), honouring cfg_.replacement.
  std::vector<int> draw(const std::vector<int>& pool, const std::vector<double>& weights, int n, Rng& rng) const;

  SamplerConfig cfg_;
  std::vector<PromptMeta> meta_;
  SuccessStats stats_;
  int step_ = 0;
};

std::unique_ptr<PromptSampler> make_prompt_sampler(const SamplerConfig& cfg, const std::vector<PromptMeta>& prompts);

}  // namespace reasonrl::sampler

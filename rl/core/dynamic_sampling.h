// dynamic_sampling.h: DAPO dynamic sampling: keep only groups whose rewards vary, and resample up to a limit.
//
// Use per training step (when cfg.dynamic_sampling):
//   DynamicSampler ds(cfg, /*target_groups=*/prompts_per_step);
//   while (!ds.done()) {
//     generate a round of groups, score them;
//     for (int g : ds.add_round(rewards, group_sizes)) keep group g of this round;
//   }
//   metrics: ds.rounds(), ds.kept(), ds.dropped(), ds.frac_zero_std()
// When the round limit is hit before `target_groups` are kept, done() becomes true and the step trains on what it
// has (verl raises an error instead; we log and continue: see NOTES.md). When dynamic_sampling is off, every
// group is kept and one round finishes the step.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "rl/core/rl_config.h"
#include "rl/util/config.h"

namespace reasonrl::rl {

// keep[g] = !group_has_zero_variance(group g, cfg.dynamic_sampling_std_eps) when cfg.dynamic_sampling, else true.
// Layout of rewards/group_sizes as in advantages.h.
std::vector<bool> groups_to_keep(const RlConfig& cfg, std::span<const double> rewards, std::span<const int> group_sizes);

class DynamicSampler {
 public:
  DynamicSampler(const RlConfig& cfg, int target_groups);
  // Feed one generation round; returns the indices (within this round) of the groups to keep, in order, never
  // more than are still needed to reach target_groups (extra informative groups are dropped, as in verl).
  std::vector<int> add_round(std::span<const double> rewards, std::span<const int> group_sizes);
  bool done() const;              // target reached, or round limit (max_num_gen_batches) hit
  bool target_reached() const { return kept_ >= target_; }
  int groups_needed() const { return kept_ >= target_ ? 0 : target_ - kept_; }
  int rounds() const { return rounds_; }
  int kept() const { return kept_; }
  int dropped() const { return zero_std_; }             // groups dropped for zero variance
  int surplus() const { return surplus_; }              // informative groups beyond the target
  double frac_zero_std() const { return seen_ > 0 ? double(zero_std_) / seen_ : 0.0; }  // TRL frac_reward_zero_std
  // State for exact resume in the middle of a step.
  json to_json() const;
  void from_json(const json& j);

 private:
  bool enabled_;
  double eps_;
  int max_rounds_;
  int target_;
  int rounds_ = 0, kept_ = 0, zero_std_ = 0, surplus_ = 0, seen_ = 0;
};

}  // namespace reasonrl::rl

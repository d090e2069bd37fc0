// manager.h: RewardManager, which builds the configured rewards and scores a group of responses with all of them.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "rewards/reward.h"
#include "rewards/reward_config.h"

namespace reasonrl::rewards {

class RewardManager {
 public:
  // Builds every reward named in cfg.rewards (plugins included). Unknown name / bad plugin = ConfigError/PluginError.
  explicit RewardManager(const RewardConfig& cfg);
  ~RewardManager();
  RewardManager(const RewardManager&) = delete;
  RewardManager& operator=(const RewardManager&) = delete;

  // Scores all responses to one prompt. Verifiers (accuracy, countdown) run first and their verdicts feed
  // group rewards that need them (Kimi length). total = sum over applicable components of weight * value.
  std::vector<RewardResult> score_group(const std::vector<RewardInput>& group);
  // Scores a batch of groups: the same results as score_group on each group in turn (every reward is pure), but each
  // reward sees the whole batch at once, so plugins with workers > 1 score its groups in parallel.
  std::vector<std::vector<RewardResult>> score_groups(std::span<const std::vector<RewardInput>> groups);
  // Convenience: a group of one.
  RewardResult score_one(const RewardInput& input);

  const std::vector<std::string>& names() const { return names_; }
  const RewardConfig& config() const { return cfg_; }

 private:
  RewardConfig cfg_;
  std::vector<std::string> names_;
  std::vector<std::unique_ptr<Reward>> rewards_;
};

}  // namespace reasonrl::rewards

// reward.h: the reward-function interface, its input/output records and the registry of reward functions by name.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace reasonrl::rewards {

// One sampled response to score. A GROUP is every response sampled for the same prompt.
struct RewardInput {
  std::string prompt;
  std::string response;
  std::string gold;                 // reference answer ("" = none)
  std::string task = "math";        // "math", "countdown", ... (selects the verifier of `accuracy`)
  nlohmann::ordered_json meta;      // free-form per-sample data (e.g. {"numbers":[..],"target":N}, {"language":"zh"})
  int response_tokens = -1;         // length in tokens (-1 = unknown: length rewards fall back to characters)
  int max_response_tokens = 0;      // generation cap (0 = unknown)
  std::string finish_reason;        // "stop", "length", ...
};

// What one reward function says about one sample.
struct RewardScore {
  std::optional<double> value;      // nullopt = not applicable (left out of the weighting, distinct from 0)
  std::string error;                // non-empty = the function failed on this sample (value is nullopt)
  std::optional<bool> correct;      // set by verifiers (accuracy, countdown): the accuracy verdict
};

// Per-group context the manager hands to each function: verdicts computed by earlier functions.
struct GroupContext {
  std::vector<std::optional<bool>> correct;  // accuracy verdicts (nullopt = unknown), one per sample
};

// The manager's result for one sample.
struct RewardResult {
  double total = 0.0;                                          // sum of weight * value over applicable components
  std::map<std::string, std::optional<double>> components;     // every component's raw value; nullopt = not applicable
  bool correct = false;                                        // the accuracy verdict (for pass rates)
  std::string error;                                           // "name: message; ..." for components that failed
  std::map<std::string, std::string> errors;                   // component -> message, for each component that failed
                                                               // (its value is nullopt: failed, not "not applicable")
};

// A reward function. Pure: no model access. Scores a whole group so that group-relative rewards (Kimi length) work.
class Reward {
 public:
  virtual ~Reward() = default;
  // Scores `group` (one prompt). Returns exactly group.size() scores.
  virtual std::vector<RewardScore> score_group(const std::vector<RewardInput>& group, const GroupContext& ctx) = 0;
  // Scores several groups (a batch), ctx[g] for groups[g]; result g has groups[g].size() scores. The default calls
  // score_group group by group, a group that throws getting the message as the error of each of its samples;
  // out-of-process plugins with workers > 1 score the groups concurrently (the result never depends on it).
  virtual std::vector<std::vector<RewardScore>> score_groups(std::span<const std::vector<RewardInput>> groups,
                                                             std::span<const GroupContext> ctx);
  // True if the function produces the accuracy verdict (runs first; its `correct` feeds GroupContext).
  virtual bool is_verifier() const { return false; }
  // True if the function reads GroupContext::correct (runs after the verifiers).
  virtual bool needs_correctness() const { return false; }
};

using RewardFactory = std::function<std::unique_ptr<Reward>(const nlohmann::ordered_json& options)>;

// Registry. Built-in rewards are registered on first use; users may add their own (e.g. from a plugin).
void register_reward(const std::string& name, RewardFactory factory, const std::string& help);
// Builds a reward by name; options is a JSON object (the per-reward options of RewardConfig). Unknown name =
// ConfigError listing the registered ones.
std::unique_ptr<Reward> make_reward(const std::string& name, const nlohmann::ordered_json& options);
bool reward_registered(const std::string& name);
// Registered names with their one-line help, sorted by name.
std::vector<std::pair<std::string, std::string>> registered_rewards();

// A reward from a plain per-sample function (convenience for simple user rewards).
std::unique_ptr<Reward> make_simple_reward(std::function<std::optional<double>(const RewardInput&)> fn);

}  // namespace reasonrl::rewards

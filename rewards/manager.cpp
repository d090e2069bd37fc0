// manager.cpp: RewardManager: builds the configured rewards and combines their per-sample scores.
#include "rewards/manager.h"

#include <cmath>

#include "rewards/plugin.h"
#include "rl/util/error.h"

namespace reasonrl::rewards {

RewardManager::RewardManager(const RewardConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  // Verifiers first, then the rest in the configured order (verdicts feed e.g. the Kimi length reward).
  std::vector<std::pair<std::string, std::unique_ptr<Reward>>> built;
  for (const auto& name : cfg_.rewards) {
    std::unique_ptr<Reward> r;
    const PluginSpec* spec = nullptr;
    for (const auto& p : cfg_.plugins)
      if (p.name == name) spec = &p;
    r = spec ? make_plugin_reward(*spec) : make_reward(name, cfg_.options_for(name));
    built.emplace_back(name, std::move(r));
  }
  bool verifier = false, needs = false;
  for (auto& [n, r] : built) {
    verifier |= r->is_verifier();
    if (r->needs_correctness()) needs = true;
  }
  if (needs && !verifier)
    throw ConfigError("rewards: 'length' needs a verifier ('accuracy' or 'countdown') in 'rewards' to know which answers are correct");
  for (int pass = 0; pass < 2; ++pass)
    for (auto& [n, r] : built)
      if (r && r->is_verifier() == (pass == 0)) {
        names_.push_back(n);
        rewards_.push_back(std::move(r));
      }
}

RewardManager::~RewardManager() = default;

std::vector<RewardResult> RewardManager::score_group(const std::vector<RewardInput>& group) {
  const size_t n = group.size();
  std::vector<RewardResult> out(n);
  GroupContext ctx;
  ctx.correct.assign(n, std::nullopt);
  for (size_t k = 0; k < rewards_.size(); ++k) {
    const std::string& name = names_[k];
    std::vector<RewardScore> s;
    try {
      s = rewards_[k]->score_group(group, ctx);
    } catch (const std::exception& e) {
      s.assign(n, RewardScore{});
      for (auto& x : s) x.error = e.what();
    }
    if (s.size() != n) {
      s.assign(n, RewardScore{});
      for (auto& x : s) x.error = "returned the wrong number of scores";
    }
    const double w = cfg_.weight(name);
    for (size_t i = 0; i < n; ++i) {
      std::optional<double> v = s[i].value;
      if (v && !std::isfinite(*v)) {
        s[i].error = "non-finite value";
        v.reset();
      }
      out[i].components[name] = v;
      if (v) out[i].total += w * *v;
      if (!s[i].error.empty()) {
        out[i].error += (out[i].error.empty() ? "" : "; ") + name + ": " + s[i].error;
        out[i].errors[name] = s[i].error;
      }
      if (s[i].correct) {
        if (!ctx.correct[i]) ctx.correct[i] = *s[i].correct;
        else ctx.correct[i] = *ctx.correct[i] && *s[i].correct;
      }
    }
  }
  for (size_t i = 0; i < n; ++i) out[i].correct = ctx.correct[i].value_or(false);
  return out;
}

RewardResult RewardManager::score_one(const RewardInput& input) { return score_group({input})[0]; }

}  // namespace reasonrl::rewards

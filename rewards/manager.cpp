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

namespace {
std::vector<RewardScore> failed_scores(size_t n, const std::string& why) {
  std::vector<RewardScore> s(n);
  for (auto& x : s) x.error = why;
  return s;
}
}  // namespace

std::vector<RewardResult> RewardManager::score_group(const std::vector<RewardInput>& group) {
  return std::move(score_groups(std::span(&group, 1))[0]);
}

// Reward by reward over the whole batch (verifiers first: their verdicts fill each group's context for the rest).
std::vector<std::vector<RewardResult>> RewardManager::score_groups(std::span<const std::vector<RewardInput>> groups) {
  const size_t G = groups.size();
  std::vector<std::vector<RewardResult>> out(G);
  std::vector<GroupContext> ctx(G);
  for (size_t g = 0; g < G; ++g) {
    out[g].resize(groups[g].size());
    ctx[g].correct.assign(groups[g].size(), std::nullopt);
  }
  for (size_t k = 0; k < rewards_.size(); ++k) {
    const std::string& name = names_[k];
    std::vector<std::vector<RewardScore>> all;
    try {
      all = rewards_[k]->score_groups(groups, ctx);
    } catch (const std::exception& e) {
      all.assign(G, {});
      for (size_t g = 0; g < G; ++g) all[g] = failed_scores(groups[g].size(), e.what());
    }
    if (all.size() != G) all.assign(G, {});
    const double w = cfg_.weight(name);
    for (size_t g = 0; g < G; ++g) {
      const size_t n = groups[g].size();
      std::vector<RewardScore>& s = all[g];
      if (s.size() != n) s = failed_scores(n, "returned the wrong number of scores");
      for (size_t i = 0; i < n; ++i) {
        RewardResult& r = out[g][i];
        std::optional<double> v = s[i].value;
        if (v && !std::isfinite(*v)) {
          s[i].error = "non-finite value";
          v.reset();
        }
        r.components[name] = v;
        if (v) r.total += w * *v;
        if (!s[i].error.empty()) {
          r.error += (r.error.empty() ? "" : "; ") + name + ": " + s[i].error;
          r.errors[name] = s[i].error;
        }
        std::optional<bool>& c = ctx[g].correct[i];
        if (s[i].correct) c = c ? *c && *s[i].correct : *s[i].correct;
      }
    }
  }
  for (size_t g = 0; g < G; ++g)
    for (size_t i = 0; i < groups[g].size(); ++i) out[g][i].correct = ctx[g].correct[i].value_or(false);
  return out;
}

RewardResult RewardManager::score_one(const RewardInput& input) { return score_group({input})[0]; }

}  // namespace reasonrl::rewards

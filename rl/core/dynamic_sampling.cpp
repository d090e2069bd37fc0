// dynamic_sampling.cpp: DAPO group filter and the resampling bookkeeping of one training step.
#include "rl/core/dynamic_sampling.h"

#include <string>

#include "rl/core/advantages.h"
#include "rl/util/error.h"

namespace reasonrl::rl {

std::vector<bool> groups_to_keep(const RlConfig& cfg, std::span<const double> rewards, std::span<const int> sizes) {
  std::vector<bool> keep(sizes.size(), true);
  size_t o = 0;
  for (size_t g = 0; g < sizes.size(); ++g) {
    if (sizes[g] < 1 || o + sizes[g] > rewards.size())
      throw FormatError("groups_to_keep: group " + std::to_string(g) + " of size " + std::to_string(sizes[g]) +
                        " runs past the " + std::to_string(rewards.size()) + " rewards");
    if (cfg.dynamic_sampling) keep[g] = !group_has_zero_variance(rewards.subspan(o, sizes[g]), cfg.dynamic_sampling_std_eps);
    o += sizes[g];
  }
  if (o != rewards.size())
    throw FormatError("groups_to_keep: group sizes add up to " + std::to_string(o) + " but there are " + std::to_string(rewards.size()) + " rewards");
  return keep;
}

DynamicSampler::DynamicSampler(const RlConfig& cfg, int target_groups)
    : enabled_(cfg.dynamic_sampling), eps_(cfg.dynamic_sampling_std_eps), max_rounds_(cfg.max_num_gen_batches), target_(target_groups) {
  if (target_groups < 1) throw ConfigError("dynamic sampling: target_groups must be >= 1, got " + std::to_string(target_groups));
}

bool DynamicSampler::done() const {
  if (!enabled_) return rounds_ >= 1;
  return kept_ >= target_ || rounds_ >= max_rounds_;
}

std::vector<int> DynamicSampler::add_round(std::span<const double> rewards, std::span<const int> sizes) {
  if (done()) throw Error("dynamic sampling: add_round called after done() (round " + std::to_string(rounds_) + ")");
  RlConfig c;
  c.dynamic_sampling = enabled_;
  c.dynamic_sampling_std_eps = eps_;
  const std::vector<bool> keep = groups_to_keep(c, rewards, sizes);
  ++rounds_;
  std::vector<int> out;
  for (size_t g = 0; g < keep.size(); ++g) {
    ++seen_;
    if (!enabled_) {
      out.push_back(static_cast<int>(g));
      ++kept_;
      continue;
    }
    if (!keep[g]) {
      ++zero_std_;
    } else if (kept_ < target_) {
      out.push_back(static_cast<int>(g));
      ++kept_;
    } else {
      ++surplus_;
    }
  }
  return out;
}

json DynamicSampler::to_json() const {
  return json{{"version", 1}, {"rounds", rounds_}, {"kept", kept_}, {"zero_std", zero_std_}, {"surplus", surplus_}, {"seen", seen_}, {"target", target_}};
}

void DynamicSampler::from_json(const json& j) {
  if (!j.is_object() || j.value("version", 0) != 1) throw FormatError("dynamic sampling state: missing or unknown version (want 1)");
  rounds_ = j.at("rounds").get<int>();
  kept_ = j.at("kept").get<int>();
  zero_std_ = j.at("zero_std").get<int>();
  surplus_ = j.at("surplus").get<int>();
  seen_ = j.at("seen").get<int>();
  target_ = j.at("target").get<int>();
}

}  // namespace reasonrl::rl

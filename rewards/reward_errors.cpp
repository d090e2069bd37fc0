// reward_errors.cpp: counting, bounding and logging reward failures.
#include "rewards/reward_errors.h"

#include <fmt/format.h>

#include "rl/util/error.h"
#include "rl/util/log.h"

namespace reasonrl::rewards {

RewardErrorCounts::RewardErrorCounts(std::vector<std::string> component_names)
    : names(std::move(component_names)), per_component(names.size(), 0.0) {}

void RewardErrorCounts::add(const RewardResult& r) {
  samples += 1;
  if (r.errors.empty()) return;
  failed_samples += 1;
  for (size_t k = 0; k < names.size(); ++k)
    if (r.errors.count(names[k])) per_component[k] += 1;
}

std::string RewardErrorCounts::describe() const {
  std::string s;
  for (size_t k = 0; k < names.size(); ++k)
    if (per_component[k] > 0) s += fmt::format("{}{} {}", s.empty() ? "" : ", ", names[k], per_component[k]);
  return s;
}

bool skip_failed_sample(const RewardConfig& cfg, const RewardResult& r) {
  return !r.errors.empty() && cfg.on_error != RewardErrorMode::Zero;
}

void check_error_fraction(const RewardConfig& cfg, const RewardErrorCounts& c, const std::string& where,
                          const std::string& first_error) {
  if (cfg.on_error != RewardErrorMode::Fail || c.failed_samples == 0 || c.fraction() <= cfg.max_error_fraction) return;
  throw RewardError(fmt::format(
      "{}: the reward failed on {} of {} samples ({}; first: \"{}\"), more than rewards.max_error_fraction {} allows "
      "with rewards.on_error fail. Fix the reward, or set rewards.on_error to skip_sample (leave such samples out of "
      "the loss) or zero (count the failed component as 0), or raise rewards.max_error_fraction",
      where, c.failed_samples, c.samples, c.describe(), first_error, cfg.max_error_fraction));
}

void RewardErrorLog::note(const RewardResult& r, const std::string& where) {
  for (const auto& [name, msg] : r.errors) {
    if (shown_[name] < per_component_) {
      ++shown_[name];
      ++logged_;
      log_warn("reward '{}' failed ({}): {}{}", name, where, msg,
               shown_[name] == per_component_ ? " (further failures of it are summarised)" : "");
    } else {
      ++unlogged_[name];
    }
  }
}

void RewardErrorLog::flush(const std::string& where) {
  if (unlogged_.empty()) return;
  const double t = now_seconds();
  if (t - last_summary_ < summary_every_s_) return;
  std::string s;
  for (const auto& [name, n] : unlogged_) s += fmt::format("{}{} {}", s.empty() ? "" : ", ", name, n);
  log_warn("reward failures not shown since the last summary (up to {}): {} (counted per step as reward/errors/<name>)",
           where, s);
  ++logged_;
  unlogged_.clear();
  last_summary_ = t;
}

}  // namespace reasonrl::rewards

// rl_config.cpp: validation of the RL options and the reference / optimizer reset schedules.
#include "rl/core/rl_config.h"

#include <cmath>
#include <string>

namespace reasonrl::rl {

namespace {
[[noreturn]] void bad(const std::string& key, const std::string& why) {
  throw ConfigError("invalid rl option '" + key + "': " + why);
}
bool finite(double x) { return std::isfinite(x); }
}  // namespace

void RlConfig::validate() const {
  if (!finite(adv_std_eps) || adv_std_eps < 0) bad("adv_std_eps", "must be >= 0");
  const bool cispo = loss_mode == PolicyLossMode::Cispo;
  if (!finite(epsilon) || epsilon <= 0 || epsilon > 1 || (epsilon == 1 && !cispo))
    bad("epsilon", std::string(cispo ? "must be in (0, 1]" : "must be in (0, 1) (loss_mode cispo also allows 1: no lower bound)") +
                       ", got " + std::to_string(epsilon));
  if (!finite(epsilon_high) || epsilon_high <= 0) bad("epsilon_high", "must be > 0, got " + std::to_string(epsilon_high));
  if (!finite(delta) || delta < 0) bad("delta", "must be 0 (off) or > 1 + epsilon_high");
  if (delta > 0 && delta <= 1 + epsilon_high)
    bad("delta", "dual clip must exceed the upper clip bound 1 + epsilon_high = " + std::to_string(1 + epsilon_high) +
                     ", got " + std::to_string(delta));
  if (cispo && delta > 0) bad("delta", "the dual clip is a PPO-clip option; loss_mode cispo needs delta 0");
  if (algorithm == Algorithm::Kimi && (cispo || importance_sampling_level != ImportanceSamplingLevel::Token))
    bad(cispo ? "loss_mode" : "importance_sampling_level",
        "applies to algorithm grpo only; kimi has its own sequence-level loss (leave loss_mode vanilla, importance_sampling_level token)");
  if (!finite(beta) || beta < 0) bad("beta", "must be >= 0");
  if (max_completion_length < 1) bad("max_completion_length", "must be >= 1");
  if (num_iterations < 1) bad("num_iterations", "must be >= 1");
  if (!finite(tis_cap) || tis_cap < 0) bad("tis_cap", "must be 0 (off) or > 0");
  if (rollout_is == RolloutIsLevel::Sequence && tis_cap <= 0)
    bad("rollout_is", "sequence sets the level of the tis_cap weight; set tis_cap > 0 (verl uses 2.0) or leave it token");
  if (rollout_rs != RolloutRs::None) {
    if (!finite(rollout_rs_threshold) || rollout_rs_threshold <= 1)
      bad("rollout_rs_threshold", "must be > 1 with rollout_rs " + std::string(enum_to_string(rollout_rs)) + ", got " +
                                      std::to_string(rollout_rs_threshold));
    if (!finite(rollout_rs_threshold_lower) || rollout_rs_threshold_lower < 0 || rollout_rs_threshold_lower >= 1)
      bad("rollout_rs_threshold_lower", "must be in (0, 1), or 0 for 1 / rollout_rs_threshold, got " +
                                            std::to_string(rollout_rs_threshold_lower));
  } else if (rollout_rs_threshold != 0 || rollout_rs_threshold_lower != 0) {
    bad(rollout_rs_threshold != 0 ? "rollout_rs_threshold" : "rollout_rs_threshold_lower",
        "is set but rollout_rs is none (set rollout_rs to token, sequence or geometric)");
  }
  if (!finite(entropy_coeff) || entropy_coeff < 0) bad("entropy_coeff", "must be >= 0 (0 = off), got " + std::to_string(entropy_coeff));
  if (!finite(dynamic_sampling_std_eps) || dynamic_sampling_std_eps < 0) bad("dynamic_sampling_std_eps", "must be >= 0");
  if (max_num_gen_batches < 1) bad("max_num_gen_batches", "must be >= 1");
  if (ref_update_every < 0) bad("ref_update_every", "must be >= 0 (0 = never)");
  if (!finite(kimi_tau) || kimi_tau <= 0) bad("kimi_tau", "must be > 0");
}

bool needs_reference(const RlConfig& cfg) { return cfg.beta > 0 && cfg.kl_mode != KlMode::None; }

bool needs_rollout_logp(const RlConfig& cfg) { return cfg.tis_cap > 0 || cfg.rollout_rs != RolloutRs::None; }

bool refresh_reference_now(const RlConfig& cfg, int64_t step) {
  return cfg.ref_update_every > 0 && step > 0 && step % cfg.ref_update_every == 0;
}

bool reset_optimizer_now(const RlConfig& cfg, int64_t step) {
  return cfg.algorithm == Algorithm::Kimi && cfg.kimi_reset_optimizer && step > 0;
}

}  // namespace reasonrl::rl

// rl_config.h: the options of the RL algorithms (GRPO family and Kimi k1.5), with TRL/verl names and defaults.
//
// One struct for every algorithmic choice the trainer makes; the loop passes it to the free functions in
// advantages.h, kl.h, loss_aggregation.h, policy_loss.h, kimi_loss.h and dynamic_sampling.h.
// Defaults follow TRL's GRPOConfig where it has the option, verl where only verl has it (peers.md §2.1, §2.2).
#pragma once

#include <cstdint>

#include "rl/util/config.h"

namespace reasonrl::rl {

// Which objective is optimised.
//   grpo: PPO-clip surrogate per token (R1 / DeepSeekMath / DAPO / Dr.GRPO, depending on the options below).
//   kimi: Kimi k1.5 online mirror descent, sequence-level squared surrogate with tau (algorithms.md §1.2).
enum class Algorithm { Grpo, Kimi };
REASONRL_ENUM_NAMES(Algorithm, {Algorithm::Grpo, "grpo"}, {Algorithm::Kimi, "kimi"})

// How per-sequence advantages are computed from the group's rewards (verl `adv_estimator`).
//   grpo:         (r - mean_group) / (std + adv_std_eps), std per `scale_rewards`.
//   rloo:         r_i - mean_{j != i} r_j  (leave-one-out; never std-scaled).
//   reinforce_pp: REINFORCE++ with baseline: r - mean_group, then whitened over the whole batch.
enum class AdvantageEstimator { Grpo, Rloo, ReinforcePp };
REASONRL_ENUM_NAMES(AdvantageEstimator, {AdvantageEstimator::Grpo, "grpo"}, {AdvantageEstimator::Rloo, "rloo"},
                    {AdvantageEstimator::ReinforcePp, "reinforce_pp"})

// Std used to scale GRPO advantages (TRL `scale_rewards`): per group, over the whole batch, or none (Dr.GRPO).
enum class ScaleRewards { Group, Batch, None };
REASONRL_ENUM_NAMES(ScaleRewards, {ScaleRewards::Group, "group"}, {ScaleRewards::Batch, "batch"}, {ScaleRewards::None, "none"})

// Per-token KL estimators of KL(pi_theta || pi_ref), with d = log pi_theta - log pi_ref (Schulman):
//   k1 = d;   k2 = d^2 / 2;   k3 = exp(-d) + d - 1   (= verl low_var_kl, TRL's only choice).
enum class KlEstimator { K1, K2, K3 };
REASONRL_ENUM_NAMES(KlEstimator, {KlEstimator::K1, "k1"}, {KlEstimator::K2, "k2"}, {KlEstimator::K3, "k3"})

// Where the beta * KL term goes: into the loss (R1, verl use_kl_loss), into the reward (PPO/REINFORCE++,
// verl use_kl_in_reward), or nowhere (DAPO, Dr.GRPO). beta == 0 also means "no KL".
enum class KlMode { Loss, Reward, None };
REASONRL_ENUM_NAMES(KlMode, {KlMode::Loss, "loss"}, {KlMode::Reward, "reward"}, {KlMode::None, "none"})

// How token losses are aggregated (verl `loss_agg_mode`). N_tok = unmasked tokens in the WHOLE accumulated batch,
// N_seq = sequences with >= 1 unmasked token in the whole batch, n_s = unmasked tokens of sequence s, L = max_completion_length.
//   token_mean:          sum_{s,t} l / N_tok                       (DAPO, TRL "dapo", verl "token-mean")
//   seq_mean_token_mean: sum_s (sum_t l / n_s) / N_seq             (GRPO paper, TRL "grpo")
//   seq_mean_token_sum:  sum_s (sum_t l) / N_seq
//   dr_grpo:             sum_{s,t} l / (N_seq * L)                 (Dr.GRPO, TRL "dr_grpo")
enum class LossType { TokenMean, SeqMeanTokenMean, SeqMeanTokenSum, DrGrpo };
REASONRL_ENUM_NAMES(LossType, {LossType::TokenMean, "token_mean"}, {LossType::SeqMeanTokenMean, "seq_mean_token_mean"},
                    {LossType::SeqMeanTokenSum, "seq_mean_token_sum"}, {LossType::DrGrpo, "dr_grpo"})

// Ratio whose clip drives the GRPO-family loss (TRL `importance_sampling_level`; verl loss_mode `gspo`).
//   token:    r_t = pi_theta(o_t) / pi_old(o_t) per token (PPO, GRPO, DAPO).
//   sequence: GSPO (arXiv 2507.18071): s = exp(mean_{t in seq, mask} (logp_t - old_logp_t)), the length-normalised
//             sequence ratio, used for every token of the sequence; d s / d logp_t = s / n_s. The clip (epsilon,
//             epsilon_high, delta) then acts on s, whose spread is far smaller than a token ratio's: the paper uses
//             epsilon 3e-4, epsilon_high 4e-4. Our defaults stay 0.2 / 0.2 (they serve token level); with sequence
//             the user must set them. The paper averages per sequence: loss_type seq_mean_token_mean is GSPO exactly.
enum class ImportanceSamplingLevel { Token, Sequence };
REASONRL_ENUM_NAMES(ImportanceSamplingLevel, {ImportanceSamplingLevel::Token, "token"}, {ImportanceSamplingLevel::Sequence, "sequence"})

// The per-token policy-gradient term of algorithm grpo (verl `policy_loss.loss_mode`; TRL has it as loss_type "cispo").
//   vanilla: PPO clip, l = -min(r A, clip(r, 1 - epsilon, 1 + epsilon_high) A); a token whose clip is active has
//            gradient 0.
//   cispo:   CISPO (MiniMax-M1, arXiv 2506.13585): l = -sg(clip(r, 1 - epsilon, 1 + epsilon_high)) * A * logp: the IS
//            weight is clipped and detached, every token keeps gradient -clip(r) A. The paper has no lower bound and
//            tunes only the upper one: set epsilon 1 (lower bound 0, i.e. none) and epsilon_high yourself (our
//            default 0.2 is the PPO one). Our upper bound is 1 + epsilon_high, as for PPO; peers.md quotes TRL's
//            recommendation epsilon_high 5.0 for CISPO, and whether TRL's bound is then 5 or 6 was not checked. delta
//            must be 0.
enum class PolicyLossMode { Vanilla, Cispo };
REASONRL_ENUM_NAMES(PolicyLossMode, {PolicyLossMode::Vanilla, "vanilla"}, {PolicyLossMode::Cispo, "cispo"})

// Level of the truncated importance weight pi_old / pi_rollout that tis_cap caps (verl rollout_correction
// `rollout_is`; our "off" is tis_cap 0). No gradient flows through it (both log-probs are constants).
//   token:    w_t = min(exp(old_t - rollout_t), tis_cap) per token.
//   sequence: w = min(exp(sum_{t in s, mask} (old_t - rollout_t)), tis_cap), the product of the token ratios, the same
//             for every token of the sequence (the log-ratio sum clamped to [-20, 20] first, as verl's safety bound).
enum class RolloutIsLevel { Token, Sequence };
REASONRL_ENUM_NAMES(RolloutIsLevel, {RolloutIsLevel::Token, "token"}, {RolloutIsLevel::Sequence, "sequence"})

// Masked importance sampling / rejection sampling (verl rollout_correction `rollout_rs`): tokens or whole responses
// whose ratio pi_old / pi_rollout leaves the band [rollout_rs_threshold_lower, rollout_rs_threshold] get mask 0 (they
// leave the loss AND its normaliser, as verl's modified response_mask). d_t = old_t - rollout_t on unmasked tokens:
//   none:      no rejection.
//   token:     token t is dropped when exp(d_t) is outside the band.
//   sequence:  the response is dropped when exp(sum_t d_t) (the product of its token ratios) is outside.
//   geometric: the response is dropped when exp(mean_t d_t) (their geometric mean) is outside.
enum class RolloutRs { None, Token, Sequence, Geometric };
REASONRL_ENUM_NAMES(RolloutRs, {RolloutRs::None, "none"}, {RolloutRs::Token, "token"}, {RolloutRs::Sequence, "sequence"},
                    {RolloutRs::Geometric, "geometric"})
// Router replay for MoE policies (verl's R3, arXiv 2510.11370; rl/core/NOTES.md).
//   none:    the trainer's forward routes every token itself (its top-k may differ from the rollout's).
//   rollout: the old-logprob and gradient forwards route each response token's row to the experts the rollout
//            recorded for it (gates recomputed from the current router, so it still gets gradient); segments of a
//            partial rollout keep the routes of the policy that made them. The prompt rows and the reference model
//            route themselves. Needs an MoE model.
enum class RouterReplay { None, Rollout };
REASONRL_ENUM_NAMES(RouterReplay, {RouterReplay::None, "none"}, {RouterReplay::Rollout, "rollout"})

struct RlConfig {
  Algorithm algorithm = Algorithm::Grpo;
  AdvantageEstimator advantage_estimator = AdvantageEstimator::Grpo;
  ScaleRewards scale_rewards = ScaleRewards::Group;
  double adv_std_eps = 1e-4;            // TRL: (r - mean) / (std + 1e-4)
  double epsilon = 0.2;                 // PPO clip epsilon_low (TRL `epsilon`, verl clip_ratio_low)
  double epsilon_high = 0.2;            // upper clip (TRL `epsilon_high`, verl clip_ratio_high); DAPO clip-higher: 0.28
  double delta = 0.0;                   // dual clip c on the ratio for A < 0 (TRL `delta`, verl clip_ratio_c); 0 = off
  double beta = 0.0;                    // KL coefficient (TRL default 0.0; R1 0.001, DeepSeekMath 0.04)
  KlEstimator kl_estimator = KlEstimator::K3;
  KlMode kl_mode = KlMode::Loss;
  LossType loss_type = LossType::TokenMean;
  PolicyLossMode loss_mode = PolicyLossMode::Vanilla;  // verl policy_loss.loss_mode; cispo = MiniMax-M1
  ImportanceSamplingLevel importance_sampling_level = ImportanceSamplingLevel::Token;  // TRL; sequence = GSPO
  // L: Dr.GRPO's constant normaliser (TRL max_completion_length). Not a config key: it is the generation budget,
  // declared once as rollout.max_completion_length; the trainer copies it here.
  int max_completion_length = 512;
  int num_iterations = 1;               // mu: passes over each rollout batch (TRL `num_iterations`, verl ppo_epochs)
  double tis_cap = 0.0;                 // truncated importance weight min(pi_old/pi_rollout, cap) on the PG loss; 0 = off
  RolloutIsLevel rollout_is = RolloutIsLevel::Token;  // level of the tis_cap weight (verl rollout_is)
  RolloutRs rollout_rs = RolloutRs::None;              // masked IS: drop tokens / responses outside the band (verl)
  double rollout_rs_threshold = 0.0;        // upper end of the band (> 1; required when rollout_rs is not none)
  double rollout_rs_threshold_lower = 0.0;  // lower end (in (0, 1)); 0 = 1 / rollout_rs_threshold (verl's default)
  bool mask_truncated_completions = false;  // TRL / DAPO overlong filtering: responses cut at the length limit leave the loss
  double entropy_coeff = 0.0;           // verl entropy_coeff: loss -= entropy_coeff * agg(entropy); 0 = off
  bool dynamic_sampling = false;        // DAPO: drop groups whose rewards have zero variance, resample
  double dynamic_sampling_std_eps = 1e-6;  // a group is "zero variance" when its population std <= this
  int max_num_gen_batches = 10;         // generation rounds per step at most, the first included (verl filter_groups)
  int ref_update_every = 0;             // copy the policy into the reference every this many steps; 0 = never (R1: 400)
  double kimi_tau = 0.1;                // Kimi tau (ROLL kimi15_tau 0.1; the paper gives no value)
  bool kimi_reset_optimizer = true;     // Kimi: reset the optimizer moments at the start of every iteration (not the LR schedule)
  RouterReplay router_replay = RouterReplay::None;  // MoE: replay the rollout's expert choices in training (R3)

  template <class V>
  void visit(V& v) {
    v("algorithm", algorithm, "objective: grpo (PPO-clip surrogate) or kimi (Kimi k1.5 mirror descent)");
    v("advantage_estimator", advantage_estimator, "grpo (group-normalised), rloo (leave-one-out), reinforce_pp (group mean, batch whitening)");
    v("scale_rewards", scale_rewards, "std used to scale GRPO advantages: group, batch, or none (Dr.GRPO)");
    v("adv_std_eps", adv_std_eps, "epsilon added to the std in (r - mean) / (std + eps)");
    v("epsilon", epsilon, "PPO clip epsilon (lower side)");
    v("epsilon_high", epsilon_high, "PPO clip epsilon (upper side); 0.28 = DAPO clip-higher");
    v("delta", delta, "dual clip: cap the loss of A<0 tokens at -delta*A when ratio > delta; 0 = off, else > 1+epsilon_high");
    v("beta", beta, "KL coefficient; 0 = no KL and no reference model");
    v("kl_estimator", kl_estimator, "per-token KL estimator k1, k2 or k3");
    v("kl_mode", kl_mode, "where the KL goes: loss, reward or none");
    v("loss_type", loss_type, "token loss aggregation: token_mean, seq_mean_token_mean, seq_mean_token_sum, dr_grpo");
    v("loss_mode", loss_mode,
      "grpo policy-gradient term: vanilla (PPO clip; clipped tokens get no gradient) or cispo (clipped, detached IS "
      "weight times A * logp: every token keeps a gradient; the weight's bounds are 1 - epsilon and 1 + epsilon_high: "
      "set epsilon 1 for no lower bound, and epsilon_high yourself)");
    v("importance_sampling_level", importance_sampling_level,
      "ratio the clip acts on: token, or sequence (GSPO: exp of the mean token log-ratio of the response, for every "
      "token; the clip ranges must then be tiny, the GSPO paper uses epsilon 3e-4, epsilon_high 4e-4)");
    v("num_iterations", num_iterations, "passes over each rollout batch (mu; verl ppo_epochs), each one optimizer step per mini-batch");
    v("tis_cap", tis_cap, "truncated importance correction cap for pi_old/pi_rollout; 0 = off");
    v("rollout_is", rollout_is,
      "level of the tis_cap weight: token (min(pi_old/pi_rollout, cap) per token) or sequence (min of the product of "
      "the response's token ratios and the cap, for each of its tokens)");
    v("rollout_rs", rollout_rs,
      "masked importance sampling: none, or drop (mask 0, out of the normaliser too) each token (token) or response "
      "(sequence: product of its ratios; geometric: their geometric mean) whose pi_old/pi_rollout leaves "
      "[rollout_rs_threshold_lower, rollout_rs_threshold]");
    v("rollout_rs_threshold", rollout_rs_threshold, "masked IS: upper end of the kept band, > 1 (required with rollout_rs)");
    v("rollout_rs_threshold_lower", rollout_rs_threshold_lower, "masked IS: lower end of the band, in (0, 1); 0 = 1 / rollout_rs_threshold");
    v("mask_truncated_completions", mask_truncated_completions,
      "overlong filtering (TRL, DAPO): responses cut at rollout.max_completion_length without a stop token get mask 0 "
      "(no loss, and not counted by the normaliser); they still take part in their group's advantages");
    v("entropy_coeff", entropy_coeff, "entropy bonus: loss -= entropy_coeff * (entropy aggregated like the loss, loss_type); 0 = off");
    v("dynamic_sampling", dynamic_sampling, "DAPO dynamic sampling: drop zero-variance groups and resample");
    v("dynamic_sampling_std_eps", dynamic_sampling_std_eps, "groups with reward std <= this count as zero variance");
    v("max_num_gen_batches", max_num_gen_batches, "dynamic sampling: generation rounds per step at most (first included)");
    v("ref_update_every", ref_update_every, "refresh the reference policy every N steps; 0 = never");
    v("kimi_tau", kimi_tau, "Kimi k1.5 tau (strength of the log-ratio penalty)");
    v("kimi_reset_optimizer", kimi_reset_optimizer, "Kimi: reset the optimizer moments at the start of every iteration (the LR schedule continues)");
    v("router_replay", router_replay,
      "MoE routing in training: none (the trainer's router decides) or rollout (verl R3: response tokens use the "
      "experts the rollout chose, gates from the current router; needs an MoE model)");
  }
  // Throws ConfigError naming the key on an invalid value or combination.
  void validate() const;
  // The group size and the generation budget are rollout facts (one field each, in RolloutConfig).
  static constexpr MovedKey kMovedKeys[] = {
      {"num_generations", "'rollout.num_generations' (the group size G; one field for the rollout and the advantages)"},
      {"max_completion_length",
       "'rollout.max_completion_length' (the generation budget, which is also Dr.GRPO's constant L)"}};
};

// True when the loop must compute reference log-probs (beta > 0 and KL in the loss or the reward).
bool needs_reference(const RlConfig& cfg);
// True when the rollout batch must also carry the sampler's log-probs (tis_cap > 0 or rollout_rs not none).
bool needs_rollout_logp(const RlConfig& cfg);
// Before rollout step `step` (0-based count of completed steps): copy the policy into the reference?
// GRPO: every ref_update_every steps (never when 0). Kimi uses the iteration-start policy (old_logp) as its
// reference, so the separate reference model only matters when beta > 0.
bool refresh_reference_now(const RlConfig& cfg, int64_t step);
// Before rollout step `step`: reset the optimizer moments? (Kimi with kimi_reset_optimizer: every step but the first.)
// The caller resets the moments only (AdamW::reset_moments); the LR schedule's step keeps counting.
bool reset_optimizer_now(const RlConfig& cfg, int64_t step);

}  // namespace reasonrl::rl

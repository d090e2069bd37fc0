// advantages.h: per-sequence advantages from the rewards of groups of responses (GRPO, Dr.GRPO, RLOO, REINFORCE++, Kimi).
//
// Layout: `rewards` is flat, group after group: group g owns rewards[o_g, o_g + group_sizes[g]) with
// o_g = sum of the sizes before it. Groups may have different sizes (ragged, e.g. after filtering).
// Output: one advantage per sequence, same order. Every token of a sequence gets its sequence's advantage
// (broadcast_to_tokens), except REINFORCE++ with per-token KL returns (reinforce_pp_token_advantages).
//
// A zero-variance group (every reward equal, or a group of one) gets advantage exactly 0 in every mode.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "rl/core/rl_config.h"

namespace reasonrl::rl {

// The advantage mode the config selects:
//   algorithm kimi                        -> r - mean_group            (Kimi's mean-reward baseline, never scaled)
//   advantage_estimator grpo              -> (r - mean_group) / (std + adv_std_eps); std per scale_rewards
//                                            (group: unbiased std of the group; batch: unbiased std of all rewards;
//                                             none: divide by 1, i.e. Dr.GRPO)
//   advantage_estimator rloo              -> r_i - mean_{j != i} r_j = G/(G-1) (r_i - mean_group)
//   advantage_estimator reinforce_pp      -> a = r - mean_group, then (a - mean_batch(a)) / (std_batch(a) + adv_std_eps)
// Throws FormatError if the sizes do not add up to rewards.size() or a size is < 1.
// Reference implementation: plain loops over groups.
std::vector<double> compute_advantages_loop(const RlConfig& cfg, std::span<const double> rewards,
                                            std::span<const int> group_sizes);
// Same values (to rounding), vectorised with Eigen: equal-size groups are one (G x n_groups) matrix with
// column-wise reductions; ragged groups use Eigen segment reductions.
std::vector<double> compute_advantages(const RlConfig& cfg, std::span<const double> rewards, std::span<const int> group_sizes);

// compute_advantages over the kept samples only (keep[i] == 0: left out, e.g. its reward failed): each group shrinks
// to its kept samples (a group with none kept drops out), batch statistics (scale_rewards batch, REINFORCE++) see the
// kept samples only, and a left-out sample gets advantage 0. The rewards of left-out samples are never read. With
// every sample kept this is compute_advantages(cfg, rewards, group_sizes) itself.
std::vector<double> compute_advantages_skipping(const RlConfig& cfg, std::span<const double> rewards,
                                                std::span<const int> group_sizes, std::span<const char> keep);

// Population std of one group <= eps (the test for "zero variance"; a group of one always counts).
bool group_has_zero_variance(std::span<const double> group_rewards, double eps);
// Helper: n_groups equal sizes of G.
std::vector<int> uniform_group_sizes(int n_groups, int group_size);

// Broadcast per-sequence values to per-token values. seq_offsets has S+1 entries; sequence s owns tokens
// [seq_offsets[s], seq_offsets[s+1]). Returns T = seq_offsets[S] values.
std::vector<float> broadcast_to_tokens(std::span<const double> per_seq, std::span<const int64_t> seq_offsets);

// REINFORCE++ with per-token KL in the returns (algorithms.md §5.5), baseline variant:
//   a_{s,t} = (r_s - mean_group(r)) - beta * sum_{t' >= t, masked} kl_{s,t'}
//   A = (a - mean_batch(a)) / (std_batch(a) + adv_std_eps), batch statistics over unmasked tokens.
// kl: per-token KL values [T] (e.g. kl_values(k1, old_logp, ref_logp)); mask [T]; seq_offsets [S+1]; S = rewards.size().
// Returns [T] advantages (0 at masked tokens).
std::vector<float> reinforce_pp_token_advantages(const RlConfig& cfg, std::span<const double> rewards,
                                                 std::span<const int> group_sizes, std::span<const float> kl,
                                                 std::span<const float> mask, std::span<const int64_t> seq_offsets);

}  // namespace reasonrl::rl

// rl_metrics.h: summary statistics the training loop logs per step (reward, pass rate, lengths, entropy).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace reasonrl::rl {

double mean_of(std::span<const double> x);                  // 0 for an empty span
double std_of(std::span<const double> x, bool unbiased);    // population (false) or Bessel (true); 0 when undefined
// Percentile q in [0, 100] with linear interpolation between order statistics (numpy's default); 0 when empty.
double percentile(std::span<const double> x, double q);

struct RewardStats {
  double mean = 0, std = 0, min = 0, max = 0;
  double pass_rate = 0;  // fraction with reward >= pass_threshold
  int64_t count = 0;
};
// std is the population std (what a log reader expects of "the spread of this batch").
RewardStats reward_stats(std::span<const double> rewards, double pass_threshold = 1.0);

struct LengthStats {
  double mean = 0, p90 = 0, max = 0, min = 0;
  double clipped_frac = 0;  // fraction of lengths >= max_len (truncated responses); 0 when max_len <= 0
  int64_t count = 0;
};
LengthStats length_stats(std::span<const int64_t> lengths, int64_t max_len = 0);

// Mean of per-token entropies over unmasked tokens (mask empty = all), 0 when none.
double masked_mean(std::span<const float> values, std::span<const float> mask);

// Fraction of groups whose rewards have zero variance (population std <= eps); layout as in advantages.h.
double frac_zero_std_groups(std::span<const double> rewards, std::span<const int> group_sizes, double eps);

}  // namespace reasonrl::rl

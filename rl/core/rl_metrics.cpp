// rl_metrics.cpp: reward, length and entropy summaries for the per-step log.
#include "rl/core/rl_metrics.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "rl/core/advantages.h"
#include "rl/util/error.h"

namespace reasonrl::rl {

double mean_of(std::span<const double> x) {
  if (x.empty()) return 0.0;
  double s = 0;
  for (double v : x) s += v;
  return s / static_cast<double>(x.size());
}

double std_of(std::span<const double> x, bool unbiased) {
  const size_t n = x.size();
  if (n == 0 || (unbiased && n < 2)) return 0.0;
  const double m = mean_of(x);
  double ss = 0;
  for (double v : x) ss += (v - m) * (v - m);
  return std::sqrt(ss / static_cast<double>(unbiased ? n - 1 : n));
}

double percentile(std::span<const double> x, double q) {
  if (x.empty()) return 0.0;
  if (!(q >= 0 && q <= 100)) throw ConfigError("percentile: q must be in [0, 100], got " + std::to_string(q));
  std::vector<double> v(x.begin(), x.end());
  std::sort(v.begin(), v.end());
  const double pos = q / 100.0 * static_cast<double>(v.size() - 1);
  const size_t i = static_cast<size_t>(std::floor(pos));
  const double f = pos - static_cast<double>(i);
  if (i + 1 >= v.size()) return v.back();
  return v[i] + f * (v[i + 1] - v[i]);
}

RewardStats reward_stats(std::span<const double> r, double pass_threshold) {
  RewardStats s;
  s.count = static_cast<int64_t>(r.size());
  if (r.empty()) return s;
  s.mean = mean_of(r);
  s.std = std_of(r, false);
  s.min = *std::min_element(r.begin(), r.end());
  s.max = *std::max_element(r.begin(), r.end());
  double pass = 0;
  for (double v : r) pass += v >= pass_threshold ? 1.0 : 0.0;
  s.pass_rate = pass / static_cast<double>(r.size());
  return s;
}

LengthStats length_stats(std::span<const int64_t> lengths, int64_t max_len) {
  LengthStats s;
  s.count = static_cast<int64_t>(lengths.size());
  if (lengths.empty()) return s;
  std::vector<double> v(lengths.begin(), lengths.end());
  s.mean = mean_of(v);
  s.p90 = percentile(v, 90.0);
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  if (max_len > 0) {
    double c = 0;
    for (int64_t l : lengths) c += l >= max_len ? 1.0 : 0.0;
    s.clipped_frac = c / static_cast<double>(lengths.size());
  }
  return s;
}

double masked_mean(std::span<const float> values, std::span<const float> mask) {
  if (!mask.empty() && mask.size() != values.size())
    throw FormatError("masked_mean: " + std::to_string(values.size()) + " values but " + std::to_string(mask.size()) + " mask entries");
  double s = 0, n = 0;
  for (size_t i = 0; i < values.size(); ++i)
    if (mask.empty() || mask[i] != 0) {
      s += values[i];
      n += 1;
    }
  return n > 0 ? s / n : 0.0;
}

double frac_zero_std_groups(std::span<const double> rewards, std::span<const int> sizes, double eps) {
  if (sizes.empty()) return 0.0;
  size_t o = 0;
  double z = 0;
  for (size_t g = 0; g < sizes.size(); ++g) {
    if (sizes[g] < 1 || o + sizes[g] > rewards.size())
      throw FormatError("frac_zero_std_groups: group " + std::to_string(g) + " runs past the " + std::to_string(rewards.size()) + " rewards");
    z += group_has_zero_variance(rewards.subspan(o, sizes[g]), eps) ? 1.0 : 0.0;
    o += sizes[g];
  }
  return z / static_cast<double>(sizes.size());
}

}  // namespace reasonrl::rl

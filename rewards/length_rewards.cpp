// length_rewards.cpp: Kimi k1.5 group length reward (and its correct-only variant) and DAPO soft overlong punishment.
#include "rewards/length_rewards.h"

#include <algorithm>

namespace reasonrl::rewards {

std::vector<double> kimi_length_rewards(const std::vector<int64_t>& lengths, const std::vector<std::optional<bool>>& correct) {
  std::vector<double> out(lengths.size(), 0.0);
  if (lengths.empty()) return out;
  const auto [mn, mx] = std::minmax_element(lengths.begin(), lengths.end());
  if (*mx == *mn) return out;
  const double range = static_cast<double>(*mx - *mn);
  for (size_t i = 0; i < lengths.size(); ++i) {
    const double lambda = 0.5 - static_cast<double>(lengths[i] - *mn) / range;
    const bool ok = i < correct.size() && correct[i].value_or(false);
    out[i] = ok ? lambda : std::min(0.0, lambda);
  }
  return out;
}

std::vector<double> correct_only_length_rewards(const std::vector<int64_t>& lengths,
                                                const std::vector<std::optional<bool>>& correct) {
  std::vector<double> out(lengths.size(), 0.0);
  auto ok = [&](size_t i) { return i < correct.size() && correct[i].value_or(false); };
  int64_t mn = 0, mx = 0;
  bool any = false;
  for (size_t i = 0; i < lengths.size(); ++i)
    if (ok(i)) {
      mn = any ? std::min(mn, lengths[i]) : lengths[i];
      mx = any ? std::max(mx, lengths[i]) : lengths[i];
      any = true;
    }
  if (!any || mx == mn) return out;
  const double range = static_cast<double>(mx - mn);
  for (size_t i = 0; i < lengths.size(); ++i)
    if (ok(i)) out[i] = 0.5 - static_cast<double>(lengths[i] - mn) / range;
  return out;
}

double soft_overlong_punishment(int64_t len, int64_t max_len, int64_t cache) {
  const int64_t expected = max_len - cache;
  if (len <= expected) return 0.0;
  if (len <= max_len) return cache > 0 ? static_cast<double>(expected - len) / static_cast<double>(cache) : 0.0;
  return -1.0;
}

}  // namespace reasonrl::rewards

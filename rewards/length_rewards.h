// length_rewards.h: Kimi k1.5's group length reward and DAPO's soft overlong punishment.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace reasonrl::rewards {

// Kimi k1.5 §2.3.3 over ONE group: lambda_i = 0.5 - (len_i - min)/(max - min); correct -> lambda, wrong -> min(0, lambda);
// all 0 when max == min. A sample with unknown correctness (nullopt) is treated as wrong.
std::vector<double> kimi_length_rewards(const std::vector<int64_t>& lengths, const std::vector<std::optional<bool>>& correct);
// DAPO Eq. 13: 0 if len <= max_len - cache; ((max_len - cache) - len) / cache in the buffer; -1 beyond max_len.
double soft_overlong_punishment(int64_t len, int64_t max_len, int64_t cache);

}  // namespace reasonrl::rewards

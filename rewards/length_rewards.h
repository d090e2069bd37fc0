// length_rewards.h: Kimi k1.5's group length reward and DAPO's soft overlong punishment.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace reasonrl::rewards {

// Kimi k1.5 §2.3.3 over ONE group: lambda_i = 0.5 - (len_i - min)/(max - min); correct -> lambda, wrong -> min(0, lambda);
// all 0 when max == min. A sample with unknown correctness (nullopt) is treated as wrong.
std::vector<double> kimi_length_rewards(const std::vector<int64_t>& lengths, const std::vector<std::optional<bool>>& correct);
// The same lambda with min and max over the group's CORRECT samples only; wrong (or unknown) samples get 0. So a wrong
// response is not pushed to stop early, and a correct one only competes with the other correct ones: the length term of
// Arora & Zanette 2025 ("Training Language Models to Reason Efficiently"), with Kimi's lambda in place of their sigmoid.
// All 0 when fewer than two correct samples differ in length.
std::vector<double> correct_only_length_rewards(const std::vector<int64_t>& lengths,
                                                const std::vector<std::optional<bool>>& correct);
// DAPO Eq. 13: 0 if len <= max_len - cache; ((max_len - cache) - len) / cache in the buffer; -1 beyond max_len.
double soft_overlong_punishment(int64_t len, int64_t max_len, int64_t cache);

}  // namespace reasonrl::rewards

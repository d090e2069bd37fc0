// text_rewards.h: per-response format rewards (R1 template strict/lenient, tag count) and the n-gram repetition penalty.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "rewards/reward_config.h"

namespace reasonrl::rewards {

// 1.0 if `response` follows the template of `mode`, else 0.0.
double format_reward(std::string_view response, FormatMode mode);
// open-r1 tag_count_reward: 0.25 for each of "<think>\n", "\n</think>\n", "\n<answer>\n", "\n</answer>" seen exactly once.
double tag_count_reward(std::string_view response);
// open-r1/TRL repetition penalty: (1 - unique n-grams / n-grams) * max_penalty over lower-cased words
// ("en": whitespace split; other languages: ICU word segmentation, so CJK words are found by dictionary).
double repetition_penalty(std::string_view text, int ngram_size, double max_penalty, const std::string& language);
// The words used by repetition_penalty (exposed for tests).
std::vector<std::string> repetition_words(std::string_view text, const std::string& language);

}  // namespace reasonrl::rewards

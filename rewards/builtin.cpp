// builtin.cpp: the built-in reward functions (accuracy, format, tag_count, length, overlong, repetition, countdown,
// countdown_trace, countdown_grounded, language_consistency) as Reward classes, and their registration.
#include <cstdlib>

#include "rewards/countdown.h"
#include "rewards/extract.h"
#include "rewards/language.h"
#include "rewards/length_rewards.h"
#include "rewards/math_verify.h"
#include "rewards/reward.h"
#include "rewards/reward_config.h"
#include "rewards/text_rewards.h"
#include "rl/util/error.h"

namespace reasonrl::rewards {

namespace {

using json = nlohmann::ordered_json;

template <class Opt>
Opt parse_options(const json& j, const std::string& name) {
  Opt o;
  if (!j.is_null()) config_apply_json(o, j, "rewards." + name);
  return o;
}

// Code points in UTF-8 text (continuation bytes not counted).
int64_t utf8_length(std::string_view s) {
  int64_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

bool parse_int_list(const json& j, std::vector<int64_t>& out) {
  out.clear();
  if (j.is_array()) {
    for (const auto& e : j) {
      if (!e.is_number_integer()) return false;
      out.push_back(e.get<int64_t>());
    }
    return !out.empty();
  }
  if (j.is_string()) {  // "30,100,93" (d1 countdown files)
    const std::string s = j.get<std::string>();
    size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && (s[i] == ',' || s[i] == ' ' || s[i] == '[' || s[i] == ']')) ++i;
      if (i >= s.size()) break;
      char* end = nullptr;
      long long v = std::strtoll(s.c_str() + i, &end, 10);
      if (end == s.c_str() + i) return false;
      out.push_back(v);
      i = static_cast<size_t>(end - s.c_str());
    }
    return !out.empty();
  }
  return false;
}

// Countdown numbers/target from meta {"numbers":[..] or "nums", "target":N}, the target falling back to `gold`.
bool countdown_problem(const RewardInput& in, std::vector<int64_t>& nums, int64_t& target, std::string& why) {
  const json& m = in.meta;
  json numbers;
  if (m.is_object()) {
    if (m.contains("numbers")) numbers = m["numbers"];
    else if (m.contains("nums")) numbers = m["nums"];
    else if (m.contains("input")) numbers = m["input"];
  }
  if (!parse_int_list(numbers, nums)) {
    why = "meta has no 'numbers' list";
    return false;
  }
  json t;
  if (m.is_object() && m.contains("target")) t = m["target"];
  else t = in.gold;
  if (t.is_number_integer()) target = t.get<int64_t>();
  else if (t.is_string() && !t.get<std::string>().empty()) {
    const std::string s = t.get<std::string>();
    char* end = nullptr;
    target = std::strtoll(s.c_str(), &end, 10);
    if (end == s.c_str()) {
      why = "target '" + s + "' is not an integer";
      return false;
    }
  } else {
    why = "no target (meta.target or gold)";
    return false;
  }
  return true;
}

// Scores each sample of a countdown group with f(response, numbers, target, score); a sample whose problem cannot be
// read gets that error and no value.
template <class F>
std::vector<RewardScore> score_countdown_group(const std::vector<RewardInput>& group, F f) {
  std::vector<RewardScore> out(group.size());
  for (size_t i = 0; i < group.size(); ++i) {
    std::vector<int64_t> nums;
    int64_t target = 0;
    if (countdown_problem(group[i], nums, target, out[i].error)) f(group[i].response, nums, target, out[i]);
  }
  return out;
}

class AccuracyReward final : public Reward {
 public:
  explicit AccuracyReward(AccuracyOptions o) : o_(o) {}
  bool is_verifier() const override { return true; }
  std::vector<RewardScore> score_group(const std::vector<RewardInput>& group, const GroupContext&) override {
    std::vector<RewardScore> out(group.size());
    for (size_t i = 0; i < group.size(); ++i) out[i] = score(group[i]);
    return out;
  }

 private:
  RewardScore verdict(bool ok) const {
    RewardScore s;
    s.value = ok ? o_.correct_reward : o_.wrong_reward;
    s.correct = ok;
    return s;
  }
  RewardScore score(const RewardInput& in) const {
    if (in.task == "countdown") {
      const auto part = accuracy_answer_part(in.response, o_);
      if (!part) return verdict(false);  // require_think_close and no </think>
      std::vector<int64_t> nums;
      int64_t target = 0;
      RewardScore s;
      if (!countdown_problem(in, nums, target, s.error)) return s;
      return verdict(check_countdown(*part, nums, target).correct);
    }
    const Verdict v = accuracy_verdict(in.gold, in.response, o_);
    if (v == Verdict::GoldUnparseable) return RewardScore{};  // not applicable: never a reward
    return verdict(v == Verdict::Equal);
  }
  AccuracyOptions o_;
};

class CountdownReward final : public Reward {
 public:
  explicit CountdownReward(CountdownOptions o) : o_(o) {}
  bool is_verifier() const override { return true; }
  std::vector<RewardScore> score_group(const std::vector<RewardInput>& group, const GroupContext&) override {
    return score_countdown_group(group, [&](const std::string& response, const std::vector<int64_t>& nums, int64_t target, RewardScore& s) {
      const CountdownCheck c = check_countdown(response, nums, target);
      s.value = c.correct ? o_.correct_reward : (c.valid ? o_.format_score : 0.0);
      s.correct = c.correct;
    });
  }

 private:
  CountdownOptions o_;
};

// Share of the search trace's attempts that are consistent (check_countdown_trace); 0 for a response with no attempt.
class CountdownTraceReward final : public Reward {
 public:
  std::vector<RewardScore> score_group(const std::vector<RewardInput>& group, const GroupContext&) override {
    return score_countdown_group(group, [](const std::string& response, const std::vector<int64_t>& nums, int64_t target, RewardScore& s) {
      const CountdownTrace t = check_countdown_trace(response, nums, target);
      s.value = t.attempts == 0 ? 0.0 : double(t.consistent) / t.attempts;
    });
  }
};

// 1 when the answer is correct and the trace holds an attempt that solves the problem (check_countdown_trace's
// `solving`), else 0: a right answer that no attempt reached (a guess) earns nothing. Not a verifier: `correct` stays the
// answer's own correctness, so the verifier beside it (accuracy or countdown) still decides pass@1.
class CountdownGroundedReward final : public Reward {
 public:
  std::vector<RewardScore> score_group(const std::vector<RewardInput>& group, const GroupContext&) override {
    return score_countdown_group(group, [](const std::string& response, const std::vector<int64_t>& nums, int64_t target, RewardScore& s) {
      const bool right = check_countdown(response, nums, target).correct;
      s.value = right && check_countdown_trace(response, nums, target).solving > 0 ? 1.0 : 0.0;
    });
  }
};

class FormatReward final : public Reward {
 public:
  explicit FormatReward(FormatOptions o) : o_(o) {}
  std::vector<RewardScore> score_group(const std::vector<RewardInput>& group, const GroupContext&) override {
    std::vector<RewardScore> out(group.size());
    for (size_t i = 0; i < group.size(); ++i) out[i].value = format_reward(group[i].response, o_.mode);
    return out;
  }

 private:
  FormatOptions o_;
};

class TagCountReward final : public Reward {
 public:
  std::vector<RewardScore> score_group(const std::vector<RewardInput>& group, const GroupContext&) override {
    std::vector<RewardScore> out(group.size());
    for (size_t i = 0; i < group.size(); ++i) out[i].value = tag_count_reward(group[i].response);
    return out;
  }
};

class LengthReward final : public Reward {
 public:
  explicit LengthReward(LengthOptions o) : o_(o) {}
  bool needs_correctness() const override { return true; }
  std::vector<RewardScore> score_group(const std::vector<RewardInput>& group, const GroupContext& ctx) override {
    std::vector<int64_t> len(group.size());
    bool tokens = o_.unit == LengthUnit::Tokens;
    for (const auto& in : group) tokens = tokens && in.response_tokens >= 0;
    for (size_t i = 0; i < group.size(); ++i)
      len[i] = tokens ? group[i].response_tokens : utf8_length(group[i].response);
    std::vector<std::optional<bool>> correct = ctx.correct;
    correct.resize(group.size());
    const std::vector<double> r =
        o_.mode == LengthMode::Kimi ? kimi_length_rewards(len, correct) : correct_only_length_rewards(len, correct);
    std::vector<RewardScore> out(group.size());
    for (size_t i = 0; i < group.size(); ++i) out[i].value = r[i];
    return out;
  }

 private:
  LengthOptions o_;
};

class OverlongReward final : public Reward {
 public:
  explicit OverlongReward(OverlongOptions o) : o_(o) {}
  std::vector<RewardScore> score_group(const std::vector<RewardInput>& group, const GroupContext&) override {
    std::vector<RewardScore> out(group.size());
    for (size_t i = 0; i < group.size(); ++i) {
      const auto& in = group[i];
      const int64_t max_len = o_.max_completion_len > 0 ? o_.max_completion_len : in.max_response_tokens;
      if (in.response_tokens < 0) {
        out[i].error = "response_tokens unknown";
      } else if (max_len <= 0) {
        out[i].error = "no max length (overlong.max_completion_len or max_response_tokens)";
      } else {
        out[i].value = soft_overlong_punishment(in.response_tokens, max_len, std::min<int64_t>(o_.soft_punish_cache, max_len));
      }
    }
    return out;
  }

 private:
  OverlongOptions o_;
};

class RepetitionReward final : public Reward {
 public:
  explicit RepetitionReward(RepetitionOptions o) : o_(std::move(o)) {}
  std::vector<RewardScore> score_group(const std::vector<RewardInput>& group, const GroupContext&) override {
    std::vector<RewardScore> out(group.size());
    for (size_t i = 0; i < group.size(); ++i)
      out[i].value = repetition_penalty(group[i].response, o_.ngram_size, o_.max_penalty, o_.language);
    return out;
  }

 private:
  RepetitionOptions o_;
};

// The chain of thought: text inside <think>..</think> (up to the end if unclosed), else the whole response.
std::string_view think_text(std::string_view r) {
  const size_t open = r.find("<think>");
  const size_t close = r.find("</think>");
  if (open == std::string_view::npos && close == std::string_view::npos) return r;
  const size_t b = open == std::string_view::npos ? 0 : open + 7;
  const size_t e = close == std::string_view::npos || close < b ? r.size() : close;
  return r.substr(b, e - b);
}

class LanguageReward final : public Reward {
 public:
  explicit LanguageReward(LanguageOptions o) : o_(std::move(o)) {}
  std::vector<RewardScore> score_group(const std::vector<RewardInput>& group, const GroupContext&) override {
    std::vector<RewardScore> out(group.size());
    for (size_t i = 0; i < group.size(); ++i) {
      const auto& in = group[i];
      std::string target = o_.target_language;
      if (target.empty() && in.meta.is_object() && in.meta.contains("language") && in.meta["language"].is_string())
        target = in.meta["language"].get<std::string>();
      if (target.empty()) target = target_language_from_prompt(in.prompt);
      if (target.empty()) {
        out[i].error = "no target language (config, meta.language or prompt)";
        continue;
      }
      const std::string_view text = o_.scope == TextScope::Think ? think_text(in.response) : std::string_view(in.response);
      if (count_words_by_language(text).total == 0) continue;  // no words (empty or math only): not applicable
      out[i].value = language_consistency(text, target);
    }
    return out;
  }

 private:
  LanguageOptions o_;
};

}  // namespace

void register_builtin_rewards() {
  register_reward("accuracy", [](const json& o) { return std::make_unique<AccuracyReward>(parse_options<AccuracyOptions>(o, "accuracy")); },
                  "math answer equivalence (Math-Verify semantics); countdown tasks use the countdown check");
  register_reward("format", [](const json& o) { return std::make_unique<FormatReward>(parse_options<FormatOptions>(o, "format")); },
                  "R1 template <think>..</think> then the answer (strict / lenient / think_answer)");
  register_reward("tag_count", [](const json&) { return std::make_unique<TagCountReward>(); },
                  "0.25 per think/answer tag present exactly once (open-r1)");
  register_reward("length", [](const json& o) { return std::make_unique<LengthReward>(parse_options<LengthOptions>(o, "length")); },
                  "Kimi k1.5 group length reward (needs a verifier: accuracy or countdown)");
  register_reward("overlong", [](const json& o) { return std::make_unique<OverlongReward>(parse_options<OverlongOptions>(o, "overlong")); },
                  "DAPO soft overlong punishment");
  register_reward("repetition", [](const json& o) { return std::make_unique<RepetitionReward>(parse_options<RepetitionOptions>(o, "repetition")); },
                  "n-gram repetition penalty (open-r1/TRL)");
  register_reward("countdown", [](const json& o) { return std::make_unique<CountdownReward>(parse_options<CountdownOptions>(o, "countdown")); },
                  "countdown: each number used once, equation reaches the target");
  register_reward("countdown_trace", [](const json&) { return std::make_unique<CountdownTraceReward>(); },
                  "countdown search trace: share of attempts whose arithmetic, numbers and verdict are right");
  register_reward("countdown_grounded", [](const json&) { return std::make_unique<CountdownGroundedReward>(); },
                  "countdown: 1 when the answer is right and an attempt of the trace reaches it (a guess earns 0)");
  register_reward("language_consistency",
                  [](const json& o) { return std::make_unique<LanguageReward>(parse_options<LanguageOptions>(o, "language_consistency")); },
                  "share of chain-of-thought words in the target language (R1)");
}

}  // namespace reasonrl::rewards

// reward_config.cpp: validation of RewardConfig and the options handed to each reward.
#include "rewards/reward_config.h"

#include <set>

#include "rewards/language.h"

namespace reasonrl::rewards {

void AccuracyOptions::validate() const {
  if (float_rounding < 0 || float_rounding > 15) throw ConfigError("accuracy.float_rounding must be in [0, 15]");
  if (tail_chars < 0) throw ConfigError("accuracy.tail_chars must be >= 0");
}

// A code the counter has no words for would score 0 on every sample, silently (fuzz_config review).
void LanguageOptions::validate() const {
  if (target_language.empty() || language_code_known(target_language)) return;
  std::string known;
  for (const auto& c : known_language_codes()) known += (known.empty() ? "" : ", ") + c;
  throw ConfigError("language_consistency.target_language '" + target_language + "' is not a language it can count " +
                    "words of (every sample would score 0); known: " + known + " (or empty: from meta/prompt)");
}

void OverlongOptions::validate() const {
  if (max_completion_len < 0) throw ConfigError("overlong.max_completion_len must be >= 0");
  if (soft_punish_cache < 0) throw ConfigError("overlong.soft_punish_cache must be >= 0");
  if (max_completion_len > 0 && soft_punish_cache > max_completion_len)
    throw ConfigError("overlong.soft_punish_cache must be <= overlong.max_completion_len");
}

void RepetitionOptions::validate() const {
  if (ngram_size < 1) throw ConfigError("repetition.ngram_size must be >= 1");
  if (max_penalty > 0) throw ConfigError("repetition.max_penalty must be <= 0");
}

void PluginSpec::validate() const {
  if (name.empty()) throw ConfigError("plugins[].name must not be empty");
  if (path.empty()) throw ConfigError("plugins[].path must not be empty (plugin '" + name + "')");
  if (!(timeout_s > 0)) throw ConfigError("plugins[].timeout_s must be > 0 (plugin '" + name + "')");
  if (max_restarts < 0) throw ConfigError("plugins[].max_restarts must be >= 0 (plugin '" + name + "')");
  if (max_memory_mb < 0) throw ConfigError("plugins[].max_memory_mb must be >= 0 (0 = no limit) (plugin '" + name + "')");
  if (!(max_cpu_s >= 0)) throw ConfigError("plugins[].max_cpu_s must be >= 0 (0 = timeout_s) (plugin '" + name + "')");
  if (workers < 1 || workers > 256)
    throw ConfigError("plugins[].workers must be in [1, 256], got " + std::to_string(workers) + " (plugin '" + name + "')");
  if (workers > 1 && kind == PluginKind::SharedLibrary && isolation == PluginIsolation::None)
    throw ConfigError("plugins[].workers " + std::to_string(workers) + " needs isolation process: with isolation none "
                      "the plugin runs in the trainer, once (plugin '" + name + "')");
  if (name.find('/') != std::string::npos || name == "mean" || name == "std" || name == "error_frac")
    throw ConfigError("plugins[].name '" + name + "' is not allowed: it names the metric reward/<name>, so it must not "
                      "contain '/' nor be mean, std or error_frac (reward/errors/<name>, reward/error_frac are taken)");
  try {
    const auto parsed = nlohmann::ordered_json::parse(options);
    if (!parsed.is_object()) throw ConfigError("plugins[].options of '" + name + "' must be a JSON object");
  } catch (const std::exception& e) {
    throw ConfigError("plugins[].options of '" + name + "' is not valid JSON: " + e.what());
  }
}

void RewardConfig::validate() const {
  if (rewards.empty())
    throw ConfigError("rewards must list at least one reward function (see `reasonrl score --list`): with none every "
                      "sample would get reward 0");
  std::set<std::string> seen;
  for (const auto& r : rewards) {
    if (!seen.insert(r).second) throw ConfigError("reward '" + r + "' is listed twice in 'rewards'");
  }
  for (const auto& [k, w] : weights) {
    if (!seen.count(k)) throw ConfigError("weights has '" + k + "' which is not in 'rewards'");
    if (!(w == w)) throw ConfigError("weights." + k + " is NaN");
  }
  if (!(max_error_fraction >= 0 && max_error_fraction <= 1))
    throw ConfigError("max_error_fraction must be in [0, 1], got " + std::to_string(max_error_fraction));
  std::set<std::string> pn;
  for (const auto& p : plugins)
    if (!pn.insert(p.name).second) throw ConfigError("plugin name '" + p.name + "' is used twice");
}

double RewardConfig::weight(const std::string& name) const {
  auto it = weights.find(name);
  return it == weights.end() ? 1.0 : it->second;
}

nlohmann::ordered_json RewardConfig::options_for(const std::string& name) const {
  for (const auto& p : plugins)
    if (p.name == name) return config_to_json(p);
  if (name == "accuracy") return config_to_json(accuracy);
  if (name == "format") return config_to_json(format);
  if (name == "language_consistency") return config_to_json(language_consistency);
  if (name == "length") return config_to_json(length);
  if (name == "overlong") return config_to_json(overlong);
  if (name == "repetition") return config_to_json(repetition);
  if (name == "countdown") return config_to_json(countdown);
  return nlohmann::ordered_json::object();
}

}  // namespace reasonrl::rewards

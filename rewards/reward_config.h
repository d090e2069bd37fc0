// reward_config.h: RewardConfig, the reward section of a run config: which rewards, their weights and their options.
//   {"rewards": ["accuracy","format"], "weights": {"accuracy": 1.0, "format": 0.2},
//    "format": {"mode": "strict"}, "overlong": {"max_completion_len": 1024, "soft_punish_cache": 256}}
#pragma once

#include <map>
#include <string>
#include <vector>

#include "rl/util/config.h"

namespace reasonrl::rewards {

enum class ExtractionMode { Strict, Flexible };
REASONRL_ENUM_NAMES(ExtractionMode, {ExtractionMode::Strict, "strict"}, {ExtractionMode::Flexible, "flexible"})

// strict = open-r1 `^<think>\n.*?\n</think>\n<answer>\n.*?\n</answer>$`; lenient = TRL think_format_reward (one
// leading <think>...</think>, anything after); think_answer = <think>...</think> then a \boxed{} or <answer> answer.
enum class FormatMode { Strict, Lenient, ThinkAnswer };
REASONRL_ENUM_NAMES(FormatMode, {FormatMode::Strict, "strict"}, {FormatMode::Lenient, "lenient"},
                    {FormatMode::ThinkAnswer, "think_answer"})

enum class LengthUnit { Tokens, Chars };
REASONRL_ENUM_NAMES(LengthUnit, {LengthUnit::Tokens, "tokens"}, {LengthUnit::Chars, "chars"})
enum class LengthMode { Kimi, CorrectOnly };
REASONRL_ENUM_NAMES(LengthMode, {LengthMode::Kimi, "kimi"}, {LengthMode::CorrectOnly, "correct_only"})

enum class TextScope { Think, Response };
REASONRL_ENUM_NAMES(TextScope, {TextScope::Think, "think"}, {TextScope::Response, "response"})

enum class PluginKind { SharedLibrary, Subprocess };
REASONRL_ENUM_NAMES(PluginKind, {PluginKind::SharedLibrary, "shared_library"}, {PluginKind::Subprocess, "subprocess"})

// Where a shared-library plugin runs: process = in a supervised worker process (reasonrl-reward-worker: a crash, a
// hang or a runaway allocation costs that batch, not the trainer); none = loaded into the trainer (fast, UNSAFE: a
// segfault kills the trainer and a hang ignores timeout_s).
enum class PluginIsolation { Process, None };
REASONRL_ENUM_NAMES(PluginIsolation, {PluginIsolation::Process, "process"}, {PluginIsolation::None, "none"})

// What a sample whose reward failed (a component threw, timed out, crashed, returned NaN/Inf, or its plugin is
// disabled) does: fail = the run stops when more than max_error_fraction of a step's samples failed (below that they
// are skipped); skip_sample = left out of the loss (advantages over the rest of its group); zero = the failed
// component counts 0 in the total. Every mode counts (reward/errors/<name>), logs and stores the errors.
enum class RewardErrorMode { Fail, SkipSample, Zero };
REASONRL_ENUM_NAMES(RewardErrorMode, {RewardErrorMode::Fail, "fail"}, {RewardErrorMode::SkipSample, "skip_sample"},
                    {RewardErrorMode::Zero, "zero"})

struct AccuracyOptions {
  ExtractionMode extraction = ExtractionMode::Flexible;
  int float_rounding = 6;        // Math-Verify: numbers compared after rounding to this many decimals (relative)
  double correct_reward = 1.0;
  double wrong_reward = 0.0;     // DAPO uses -1
  bool require_think_close = false;  // TRL reasoning_accuracy_reward: no </think> -> wrong
  int tail_chars = 0;            // read only the last N characters of the response (DAPO: 300); 0 = all
  template <class V>
  void visit(V& v) {
    v("extraction", extraction, "answer extraction: strict (boxed/####/answer tags/'the answer is') or flexible (+ last number)");
    v("float_rounding", float_rounding, "decimal places numbers must agree to (Math-Verify float_rounding)");
    v("correct_reward", correct_reward, "reward for a correct answer");
    v("wrong_reward", wrong_reward, "reward for a wrong or missing answer");
    v("require_think_close", require_think_close, "the answer is read after </think>; no </think> = wrong");
    v("tail_chars", tail_chars, "read only the last N characters of the response (0 = all)");
  }
  void validate() const;
};

struct FormatOptions {
  FormatMode mode = FormatMode::Strict;
  template <class V>
  void visit(V& v) { v("mode", mode, "format template: strict (open-r1), lenient (TRL think_format), think_answer"); }
};

struct LanguageOptions {
  std::string target_language;   // ISO 639-1 ("en", "zh", ...); "" = meta.language, else detected from the prompt
  TextScope scope = TextScope::Think;
  template <class V>
  void visit(V& v) {
    v("target_language", target_language, "target language code (en, zh, ja, ko, ru, ar, es, fr, de, ...); empty = from meta/prompt");
    v("scope", scope, "text scored: think (the chain of thought; whole response if no tags) or response");
  }
  void validate() const;
};

struct LengthOptions {
  LengthUnit unit = LengthUnit::Tokens;
  LengthMode mode = LengthMode::Kimi;
  template <class V>
  void visit(V& v) {
    v("unit", unit, "length unit for Kimi's length reward (tokens falls back to chars when unknown)");
    v("mode", mode, "kimi: lambda over the whole group, wrong responses get min(0, lambda) (Kimi k1.5); correct_only: "
                    "lambda over the correct responses, wrong ones 0 (Arora & Zanette 2025)");
  }
};

struct OverlongOptions {
  int max_completion_len = 0;    // L_max; 0 = the sample's max_response_tokens
  int soft_punish_cache = 4096;  // L_cache
  template <class V>
  void visit(V& v) {
    v("max_completion_len", max_completion_len, "L_max of DAPO's soft overlong punishment (0 = max_response_tokens)");
    v("soft_punish_cache", soft_punish_cache, "L_cache: the soft punishment ramps over the last L_cache tokens");
  }
  void validate() const;
};

struct RepetitionOptions {
  int ngram_size = 3;
  double max_penalty = -1.0;
  std::string language = "en";   // "en": whitespace words; "zh"/"ja"/...: one token per CJK character
  template <class V>
  void visit(V& v) {
    v("ngram_size", ngram_size, "n-gram size");
    v("max_penalty", max_penalty, "penalty when every n-gram repeats (<= 0)");
    v("language", language, "en = whitespace words, zh = CJK characters as words");
  }
  void validate() const;
};

struct CountdownOptions {
  double correct_reward = 1.0;
  double format_score = 0.0;     // TinyZero: 0.1 for a well-formed but wrong equation
  template <class V>
  void visit(V& v) {
    v("correct_reward", correct_reward, "reward when the equation uses each number once and hits the target");
    v("format_score", format_score, "reward for a parseable but wrong equation (TinyZero 0.1)");
  }
};

struct PluginSpec {
  std::string name;              // the reward name to use in `rewards`
  PluginKind kind = PluginKind::Subprocess;
  std::string path;              // .so path, or the program to run
  std::vector<std::string> args; // subprocess arguments
  double timeout_s = 10.0;       // per call (one batch)
  int max_restarts = 3;          // restarts after crashes/timeouts/protocol errors before the plugin is disabled
  std::string options = "{}";    // JSON text handed to the plugin
  PluginIsolation isolation = PluginIsolation::Process;  // shared_library only
  int max_memory_mb = 4096;      // RLIMIT_AS of the plugin's process (0 = no limit)
  double max_cpu_s = 0;          // shared_library in a worker: CPU seconds per call (RLIMIT_CPU; 0 = timeout_s)
  // Supervised processes scoring a batch's groups in parallel (a process pool's size, as verl's parallel reward
  // managers have): each with its own timeout, limits and restarts. 1 by default: every worker is a full copy of the
  // plugin (its max_memory_mb applies per worker, under MPI per rank too) and a plugin need not be safe to run twice at
  // once (a shared cache or sandbox), so parallelism is asked for, e.g. one per core the trainer leaves free.
  int workers = 1;
  template <class V>
  void visit(V& v) {
    v("name", name, "reward name");
    v("kind", kind, "shared_library or subprocess");
    v("path", path, "shared library path or program");
    v("args", args, "program arguments (subprocess)");
    v("timeout_s", timeout_s, "per-call timeout in seconds");
    v("max_restarts", max_restarts, "restarts after a crash, timeout or protocol error before the plugin gives errors only");
    v("options", options, "JSON options text passed to the plugin");
    v("isolation", isolation,
      "shared_library: process (a supervised worker process: crashes, hangs and memory limits cost a batch, not the "
      "run) or none (in the trainer's process: faster, UNSAFE: a crash kills the trainer, a hang ignores timeout_s)");
    v("max_memory_mb", max_memory_mb, "address-space limit (RLIMIT_AS) of the plugin's process in MiB (0 = none)");
    v("max_cpu_s", max_cpu_s, "shared_library in a worker: CPU seconds per call (RLIMIT_CPU; 0 = timeout_s)");
    v("workers", workers,
      "processes scoring a batch's groups in parallel, each supervised on its own (timeout, limits, restarts); the "
      "rewards do not depend on it. 1 = one process; not with isolation none");
  }
  void validate() const;
};

struct RewardConfig {
  std::vector<std::string> rewards = {"accuracy", "format"};
  std::map<std::string, double> weights;   // missing = 1.0
  AccuracyOptions accuracy;
  FormatOptions format;
  LanguageOptions language_consistency;
  LengthOptions length;
  OverlongOptions overlong;
  RepetitionOptions repetition;
  CountdownOptions countdown;
  std::vector<PluginSpec> plugins;
  RewardErrorMode on_error = RewardErrorMode::Fail;
  double max_error_fraction = 0.0;  // fail: the largest share of a step's samples that may fail before the run stops
  template <class V>
  void visit(V& v) {
    v("rewards", rewards, "reward functions by name (see `reasonrl score --list`)");
    v("weights", weights, "weight per reward (missing = 1.0)");
    v("accuracy", accuracy, "accuracy options");
    v("format", format, "format options");
    v("language_consistency", language_consistency, "language consistency options");
    v("length", length, "Kimi length reward options");
    v("overlong", overlong, "DAPO soft overlong punishment options");
    v("repetition", repetition, "n-gram repetition penalty options");
    v("countdown", countdown, "countdown options");
    v("plugins", plugins, "plugin rewards (shared libraries or subprocesses)");
    v("on_error", on_error,
      "a sample whose reward failed (threw, timed out, crashed, NaN/Inf, plugin disabled): fail (the run stops when "
      "more than max_error_fraction of a step's samples failed; below, they are skipped), skip_sample (left out of the "
      "loss; advantages over the rest of its group) or zero (the failed component counts 0)");
    v("max_error_fraction", max_error_fraction,
      "on_error fail: the share of a step's samples whose reward may fail before the run stops (0 = any failure)");
  }
  void validate() const;
  double weight(const std::string& name) const;
  // The options object handed to make_reward() for `name` (the matching sub-struct as JSON, or the plugin spec).
  nlohmann::ordered_json options_for(const std::string& name) const;
};

}  // namespace reasonrl::rewards

// jsonl_loader.h: loads prompt/answer datasets from JSONL with field mapping for common layouts
// (GSM8K, MATH, countdown, AIME, OlymMATH, generic prompt/answer). Malformed lines: skip and count, or fail.
#pragma once
#include <string>
#include <vector>

#include "datasets/example.h"
#include "rl/util/config.h"

namespace reasonrl::datasets {

enum class Layout { Generic, Gsm8k, Math, Countdown, Aime, OlymMath };
REASONRL_ENUM_NAMES(Layout, {Layout::Generic, "generic"}, {Layout::Gsm8k, "gsm8k"}, {Layout::Math, "math"},
                    {Layout::Countdown, "countdown"}, {Layout::Aime, "aime"}, {Layout::OlymMath, "olymmath"})

enum class OnError { Fail, Skip };
REASONRL_ENUM_NAMES(OnError, {OnError::Fail, "fail"}, {OnError::Skip, "skip"})

struct DatasetConfig {
  Layout layout = Layout::Generic;
  // Field overrides; "" = the layout's default (generic: prompt / answer / cot / id / difficulty).
  std::string prompt_key;
  std::string answer_key;
  std::string cot_key;
  std::string id_key;
  std::string difficulty_key;
  OnError on_error = OnError::Fail;
  int max_examples = -1;  // -1 = all
  std::string task;       // Example::task; "" = the layout name
  int64_t max_line_bytes = 1 << 20;  // a longer line is a malformed line (refused before it is parsed or tokenized)
  template <class V>
  void visit(V& v) {
    v("layout", layout, "field layout of the JSONL file");
    v("prompt_key", prompt_key, "field holding the question (empty = layout default)");
    v("answer_key", answer_key, "field holding the gold answer (empty = layout default)");
    v("cot_key", cot_key, "field holding a worked solution (empty = layout default)");
    v("id_key", id_key, "field holding a unique id (empty = layout default; else file line number)");
    v("difficulty_key", difficulty_key, "field holding an integer difficulty (empty = layout default)");
    v("on_error", on_error, "what to do with a malformed line: fail (FormatError naming file:line) or skip (counted)");
    v("max_examples", max_examples, "keep at most this many examples (-1 = all)");
    v("task", task, "task name stored in each example (empty = layout name)");
    v("max_line_bytes", max_line_bytes, "a line longer than this is malformed (on_error decides), never parsed or tokenized");
  }
  void validate() const {
    if (max_examples < -1) throw ConfigError("dataset.max_examples must be >= -1");
    if (max_line_bytes < 1) throw ConfigError("max_line_bytes must be >= 1");
  }
};

struct LoadStats {
  int lines = 0;    // non-empty lines read
  int loaded = 0;
  int skipped = 0;  // malformed lines skipped (on_error = skip)
  std::vector<std::string> errors;  // "file:line: reason" for the first 20 skipped lines
};

// Throws IoError if the file cannot be read; FormatError "path:line: reason" on a malformed line when on_error = fail.
std::vector<Example> load_jsonl(const std::string& path, const DatasetConfig& cfg, LoadStats* stats = nullptr);

// Helpers shared with rewards-side code:
// GSM8K "...#### 72" -> "72" (commas removed); throws FormatError if there is no "####".
std::string gsm8k_final_answer(const std::string& solution);
// Contents of the last \boxed{...} (or \fbox{...}) in `s`, braces balanced; "" if none.
std::string last_boxed(const std::string& s);

}  // namespace reasonrl::datasets

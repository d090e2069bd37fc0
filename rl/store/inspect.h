// inspect.h: read-side queries over a rollout store for `reasonrl inspect`: per-step summary, sample filters, one
// sample, one prompt's history, step comparison, export (JSONL/CSV) and read-only SQL; tables print aligned or as JSON.
#pragma once
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "rl/store/store.h"

namespace reasonrl::store {

// A result table: column names and rows of JSON scalars (null, number, string). Printed aligned or as JSON.
struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<json>> rows;
  json to_json() const;  // an array of objects, keys in column order
};

// Aligned text: numbers right-aligned with up to 4 decimals, text left-aligned, cells cut at max_cell characters
// (newlines shown as "\n"); 0 = no cut.
void print_table(std::ostream& os, const Table& t, size_t max_cell = 60);

// One row per step. `keys`: metric keys to show ("time/*" selects by prefix); empty = the usual ones present.
Table summary_table(const RolloutStore& st, const std::vector<std::string>& keys = {});

struct SampleFilter {
  std::optional<int64_t> step_min, step_max;
  std::optional<int64_t> prompt_id;
  std::optional<double> reward_min, reward_max;
  std::optional<std::string> finish_reason;
  std::optional<bool> correct;
  std::optional<std::string> contains;  // substring of the completion text (case-sensitive)
  std::string sort = "id";              // id | step | length | reward | advantage; a leading '-' sorts descending
  int64_t limit = 50;                   // <= 0: no limit
};
Table samples_table(const RolloutStore& st, const SampleFilter& f);

// A full sample: its columns, its prompt and its reward components. Unknown id: Error naming the id.
// "text" is valid UTF-8; "text_replaced" says whether ill-formed bytes in it were replaced with U+FFFD. exact_bytes adds
// "text_bytes": the completion's exact bytes, escaped (utf8_escape_invalid: \xNN for a byte that is not UTF-8, \\).
json sample_json(const RolloutStore& st, int64_t id, bool exact_bytes = false);
void print_sample(std::ostream& os, const json& sample);

// One prompt and its success across steps (samples, correct, pass@1, mean reward, mean length per step).
json prompt_json(const RolloutStore& st, int64_t prompt_id);
Table prompt_history(const RolloutStore& st, int64_t prompt_id);

// Metrics of two steps side by side with the difference (B - A). An unknown step is an Error.
Table compare_steps(const RolloutStore& st, int64_t a, int64_t b);
// Two runs side by side with the difference (B - A): steps, samples, wall time, the metrics of one step of each
// (nullopt: the run's last step) and the latest evaluation at or before it of each split/stage ("eval SPLIT/STAGE
// KEY"). Columns are labelled "LABEL (step N)".
Table compare_runs(const RolloutStore& a, const std::string& label_a, std::optional<int64_t> step_a,
                   const RolloutStore& b, const std::string& label_b, std::optional<int64_t> step_b);

// Every sample (with prompt fields and one column per reward component) as JSON lines or CSV (RFC 4180).
enum class ExportFormat { Jsonl, Csv };
REASONRL_ENUM_NAMES(ExportFormat, {ExportFormat::Jsonl, "jsonl"}, {ExportFormat::Csv, "csv"})
// table: samples | steps (one column per metric) | prompts | evaluations. Returns the number of rows written.
int64_t export_table(const RolloutStore& st, std::ostream& os, ExportFormat fmt, const std::string& table = "samples");

// One read-only SQL statement. A statement that would write is an Error (nothing runs); one that runs longer than
// `time_limit_s` (a recursive CTE without an end) is stopped with an Error saying so (0 = no limit).
Table sql_query(const RolloutStore& st, const std::string& sql, double time_limit_s = 10);

// PRAGMA quick_check: an Error naming the file and SQLite's first findings when the database is damaged.
void check_not_damaged(const RolloutStore& st);

// The steps present as "a..b (n steps)" for error messages.
std::string steps_range_text(const RolloutStore& st);

}  // namespace reasonrl::store

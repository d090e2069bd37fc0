// store.h: the rollout store, one SQLite file per run (run info, steps and their metrics, prompts, samples with reward
// components, evaluations). Writer API for the trainer; readers (inspect, report, users) query the same file.
//
// Typical use by the trainer:
//   auto st = store::RolloutStore::open(run_dir + "/rollouts.db");
//   if (resuming) st.resume_run(checkpoint_step, version); else st.begin_run({name, config_json, version, seed});
//   st.upsert_prompts(prompts);                      // before the first sample that references them
//   for (step ...) {
//     std::vector<store::SampleRecord> samples = ...;
//     store::StepRecord rec{step, {{"kl", kl}, {"time/rollout_ms", ms}, ...}};
//     store::add_sample_metrics(rec, samples, policy_version);  // reward/*, accuracy, pass_rate, len/*, staleness
//     st.write_step(rec, samples);                   // one transaction: all of the step or none of it
//   }
// A kill -9 at any moment loses at most the step whose transaction was open. On resume from a checkpoint at step S,
// resume_run(S) deletes the rows of steps > S (written after the checkpoint), so re-run steps do not duplicate.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rl/store/sqlite.h"
#include "rl/util/config.h"

namespace reasonrl::store {

// Text columns hold valid UTF-8: the writer replaces ill-formed bytes with U+FFFD (a byte-level model can stop inside a
// character). The exact bytes of a sample's text and a prompt's text and gold are kept in BLOB columns (text_bytes,
// gold_bytes), NULL when the text was valid.
//
// The schema version this build writes (PRAGMA user_version). Older files are migrated on open for writing;
// a newer file is a FormatError. PRAGMA application_id marks the file as ours (kApplicationId = 'RRLS').
inline constexpr int kSchemaVersion = 5;
inline constexpr int32_t kApplicationId = 0x52524C53;

enum class Synchronous { Off, Normal, Full };
REASONRL_ENUM_NAMES(Synchronous, {Synchronous::Off, "off"}, {Synchronous::Normal, "normal"}, {Synchronous::Full, "full"})

// Store options, for the trainer's config (nest it as "store").
struct StoreConfig {
  bool enabled = true;
  std::string file = "rollouts.db";  // relative to the run directory
  Synchronous synchronous = Synchronous::Normal;
  int busy_timeout_ms = 10000;
  template <class V>
  void visit(V& v) {
    v("enabled", enabled, "write rollouts, metrics and evaluations to an SQLite file in the run directory");
    v("file", file, "file name of the rollout store, relative to the run directory");
    v("synchronous", synchronous,
      "SQLite PRAGMA synchronous: normal survives a process kill (WAL), full also survives power loss, off neither");
    v("busy_timeout_ms", busy_timeout_ms, "how long a writer waits for a lock held by a reader");
  }
  void validate() const;
};

struct RunInfo {
  std::string name;
  std::string config_json;  // the resolved config
  std::string version;      // reasonrl version (and git hash if known)
  int64_t seed = 0;
  std::string started_at;   // ISO 8601 UTC; filled by begin_run() when empty
};

struct PromptRecord {
  int64_t id = 0;              // stable id of the prompt within the run (e.g. its index in the dataset)
  std::string dataset;         // dataset name, e.g. "gsm8k"
  std::string source_id;       // the prompt's id inside its dataset (may be empty)
  std::string text;
  std::string gold;            // the reference answer
  std::optional<int> difficulty;  // e.g. MATH level 1..5; nullopt = unknown
};

// One segment of a partial rollout (Kimi k1.5): the tokens generated under one policy version.
struct Segment {
  int policy_version = 0;
  int n_tokens = 0;
};

struct SampleRecord {
  int64_t step = 0;
  int64_t prompt_id = 0;
  int group_id = 0;            // index of the prompt's group within the step (needed when a step repeats a prompt)
  int group_index = 0;         // index of the sample within its group
  std::string text;            // the completion: any bytes (stored as valid UTF-8 in text, exactly in text_bytes)
  int n_tokens = 0;
  std::string finish_reason;   // "stop", "length", "error", ...
  std::map<std::string, std::optional<double>> reward_components;  // nullopt: did not apply, or failed (see below)
  std::map<std::string, std::string> reward_errors;  // component -> why it failed (sample_rewards.error); absent = ok
  double reward = 0;           // the total
  bool correct = false;
  double advantage = 0;
  int policy_version_min = 0;  // oldest and newest policy that generated tokens of it
  int policy_version_max = 0;
  std::vector<Segment> segments;  // partial rollouts; empty = one segment by policy_version_max
};

// Metrics of one step, any key. Keys the report knows are in store::metric below; others are charted generically.
struct StepRecord {
  int64_t step = 0;
  std::map<std::string, double> metrics;
};

// One evaluation: a split (e.g. "math500") at a step, optionally labelled with a stage (long2short: "before",
// "merge", ...). Metrics e.g. {"pass@1": 0.41, "mean_tokens": 812}. Rewriting the same (step, split, stage) replaces.
struct EvalRecord {
  int64_t step = 0;
  std::string split;
  std::string stage;
  std::map<std::string, double> metrics;
};

// Metric keys the report and `inspect summary` know. Time per stage: "time/<stage>_ms" (any stage name).
namespace metric {
inline constexpr const char* kRewardMean = "reward/mean";  // and "reward/<component>": mean over samples where it applied
inline constexpr const char* kRewardStd = "reward/std";
inline constexpr const char* kAccuracy = "accuracy";       // fraction of samples correct (mean pass@1)
inline constexpr const char* kPassRate = "pass_rate";      // fraction of prompts with at least one correct sample
inline constexpr const char* kLenMean = "len/mean";        // completion tokens
inline constexpr const char* kLenP90 = "len/p90";
inline constexpr const char* kLenMax = "len/max";
inline constexpr const char* kTruncatedFrac = "len/truncated_frac";  // finish_reason == "length"
inline constexpr const char* kKl = "kl";
inline constexpr const char* kEntropy = "entropy";
inline constexpr const char* kClipFrac = "clip_frac";
inline constexpr const char* kStaleness = "staleness";     // mean (policy version - policy_version_min) of samples
inline constexpr const char* kTokensPerS = "tokens_per_s";
inline constexpr const char* kTimePrefix = "time/";        // "time/rollout_ms", "time/update_ms", ...
}  // namespace metric

// Fills the sample-derived metrics of `rec` (keys above: reward/*, accuracy, pass_rate, len/*, staleness when
// policy_version >= 0) from `samples`; keys already present in rec.metrics are kept.
void add_sample_metrics(StepRecord& rec, const std::vector<SampleRecord>& samples, int policy_version = -1);

// p-quantile (0..1) by linear interpolation between order statistics (numpy's default); NaN if empty.
double quantile(std::vector<double> v, double p);

class RolloutStore {
 public:
  // Opens (creating if absent) and migrates to kSchemaVersion. read_only: the file must exist and be current;
  // the connection cannot write (PRAGMA query_only), which is what `inspect sql` uses.
  static RolloutStore open(const std::string& path, bool read_only = false, const StoreConfig& cfg = {});

  RolloutStore(RolloutStore&&) noexcept;
  RolloutStore& operator=(RolloutStore&&) noexcept;
  ~RolloutStore();

  // A fresh run: the file must not hold a run yet (FormatError naming the file otherwise: use resume_run).
  void begin_run(const RunInfo& info);
  // Resume from a checkpoint taken after step `from_step` (-1: before any step): deletes the rows of later steps and
  // evaluations, and records the resume in run_sessions. The file must hold a run. Returns how many steps were dropped.
  // A resume that changed the config (--override-resumed-config) passes the new config and the changes (a JSON list
  // of {key, before, after}); they are stored in the session row (NULL when config_changes is empty).
  int64_t resume_run(int64_t from_step, const std::string& version, const std::string& config_json = "",
                     const std::string& config_changes = "");
  std::optional<RunInfo> run_info() const;

  // Insert or update prompts by id (one transaction).
  void upsert_prompts(const std::vector<PromptRecord>& prompts);
  // One transaction per step: the step row, its metrics and all its samples with reward components. Every sample's
  // step must equal rec.step and its prompt_id must be in prompts. Writing a step that exists is a FormatError.
  void write_step(const StepRecord& rec, const std::vector<SampleRecord>& samples);
  // Insert or replace one evaluation (one transaction).
  void write_eval(const EvalRecord& rec);

  int64_t last_step() const;  // -1 when no step has been written
  // Deletes the steps after `step` with their metrics, samples and evaluations (one transaction).
  void truncate_after(int64_t step);

  int schema_version() const;
  bool read_only() const { return read_only_; }
  const Db& db() const { return db_; }
  const std::string& path() const { return db_.path(); }

 private:
  RolloutStore() = default;
  void prepare_writers();
  Db db_;
  bool read_only_ = false;
  struct Writers;
  std::unique_ptr<Writers> w_;
};

// The migrations, in order: migrations()[i] takes a file from user_version i to i+1 (exposed for tests).
const std::vector<std::string>& migrations();
// Current UTC time as ISO 8601 ("2026-11-23T12:00:00Z").
std::string utc_now_iso();

}  // namespace reasonrl::store

// run_dir.h: a run's directory: its lock (one process at a time), the check that a fresh start does not overwrite a
// run, the resolved config (printed and saved), checkpoint folders with a `latest` pointer written atomically, and
// pruning of old checkpoints.
#pragma once
#include <string>
#include <vector>

#include "rl/util/config.h"

namespace reasonrl::train {

// Creates the directory (and parents). Throws IoError.
void make_dirs(const std::string& dir);

// An exclusive lock on <run_dir>/.lock (flock; the kernel releases it when the process dies, even on kill -9). Taken
// before anything else is written to the run directory (creates the directory). Another live process holding it ->
// IoError naming the directory and that process's pid.
class RunDirLock {
 public:
  explicit RunDirLock(const std::string& run_dir);
  ~RunDirLock();
  RunDirLock(const RunDirLock&) = delete;
  RunDirLock& operator=(const RunDirLock&) = delete;

 private:
  int fd_ = -1;
};

// The files of a run already in run_dir (config.json, metrics.jsonl, evals.jsonl, checkpoints/, checkpoint/, and the
// `extra` names, e.g. the rollout store), relative to run_dir; empty for a new or empty directory.
std::vector<std::string> run_files_present(const std::string& run_dir, const std::vector<std::string>& extra = {});
// A fresh start must not overwrite a run: ConfigError listing what is there and how to continue it (`command` has
// --resume; "" when it has none).
void require_fresh_run_dir(const std::string& run_dir, const std::string& command,
                           const std::vector<std::string>& extra = {});
// On resume the run's saved config.json stays as it is; a config that differs from it is logged (key by key).
void warn_if_config_differs(const std::string& run_dir, const json& cfg);
// Writes <run_dir>/config.json and says so (the command line logs the fields that differ from the defaults).
void save_resolved_config(const std::string& run_dir, const json& cfg, const std::string& what);
// <run_dir>/checkpoints/step_000123
std::string checkpoint_dir(const std::string& run_dir, long step);
// Marks a complete checkpoint as the latest (atomic rename of <run_dir>/checkpoints/latest).
void set_latest_checkpoint(const std::string& run_dir, long step);
// The latest complete checkpoint directory, or "" if there is none.
std::string latest_checkpoint(const std::string& run_dir);
// Deletes checkpoint folders other than the newest `keep` and the latest.
void prune_checkpoints(const std::string& run_dir, int keep);

}  // namespace reasonrl::train

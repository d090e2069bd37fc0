// run_dir.h: a run's directory: the resolved config (printed and saved), checkpoint folders with a `latest` pointer
// written atomically, and pruning of old checkpoints.
#pragma once
#include <string>
#include <vector>

#include "rl/util/config.h"

namespace reasonrl::train {

// Creates the directory (and parents). Throws IoError.
void make_dirs(const std::string& dir);
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

// checkpoint_state.h: a checkpoint's state file (trainer_state.json), the one place that proves a checkpoint is whole:
// format, version, step, the SHA-256 of every other file of the directory, the tokenizer's hash, and the trainer's own
// fields (RNG, data order, sampler, ...). Commits a checkpoint directory atomically and verifies one before it is used.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "model/model.h"
#include "rl/util/config.h"
#include "rl/util/error.h"

namespace reasonrl::train {

inline constexpr const char* kStateFile = "trainer_state.json";
// 2: adds "files" (SHA-256 per file) and "tokenizer_sha256". Version 1 (no checksums) is still read.
inline constexpr int kStateVersion = 2;

// The hash recorded for a checkpoint's tokenizer: SHA-256 of dir/tokenizer.json's bytes.
std::string tokenizer_hash(const std::string& dir);

// Writes the checkpoint `dir` atomically: write_files(tmp) writes the files into a fresh tmp directory, then `state`
// (the trainer's fields) with format, version, step, files and tokenizer_sha256 (when write_files wrote a
// tokenizer.json) goes to tmp/trainer_state.json, and tmp replaces dir. `models` must hold finite weights (NumericError naming the tensor otherwise; nothing is written).
void commit_checkpoint(const std::string& dir, const std::string& format, long step, json state,
                       const std::vector<const model::Model*>& models,
                       const std::function<void(const std::string& tmp)>& write_files);

// Reads and validates dir/trainer_state.json before anything uses the checkpoint: its format, version (1 or 2), step
// (>= 0, and equal to the directory's step_NNNNNN when the directory is named so), then the files' checksums (unless
// verification is off). FormatError naming the file and what is wrong.
json read_checkpoint_state(const std::string& dir, const std::string& format);

// Refuses a dir/tokenizer.json whose hash differs from the one the state recorded (also when verification is off;
// version-1 states record none): another run's tokenizer with the same vocabulary size would decode other text.
void check_tokenizer(const json& state, const std::string& dir);

// For any checkpoint directory: when it has a state file (of any format), verifies its files and its tokenizer; a
// directory without one (an imported model) passes.
void verify_checkpoint_dir(const std::string& dir);

// The step of a directory named step_NNNNNN, or -1.
long checkpoint_dir_step(const std::string& dir);

// The newest checkpoint of run_dir (checkpoints/step_*) whose state, checksums and weights all pass, or "(none)".
std::string last_good_checkpoint(const std::string& run_dir, const std::string& format);

// Runs f (which loads a checkpoint of run_dir); a FormatError or NumericError it throws is rethrown, same type, naming
// the last good checkpoint of run_dir. An empty run_dir: f's errors pass unchanged.
template <class F>
void with_last_good_checkpoint(const std::string& run_dir, const std::string& format, F&& f) {
  try {
    f();
  } catch (const FormatError& e) {
    if (run_dir.empty()) throw;
    throw FormatError(std::string(e.what()) + "; the last good checkpoint is " + last_good_checkpoint(run_dir, format));
  } catch (const NumericError& e) {
    if (run_dir.empty()) throw;
    throw NumericError(std::string(e.what()) + "; the last good checkpoint is " + last_good_checkpoint(run_dir, format));
  }
}

}  // namespace reasonrl::train

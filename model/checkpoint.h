// checkpoint.h: model checkpoints as a directory: model.safetensors (HF DeepSeek-V3 tensor names, F32) and
// config.json (HF keys). The optimizer state goes in a second file (AdamW::save, default name optimizer.safetensors).
// Also the integrity checks of a checkpoint directory: SHA-256 per file (OpenSSL), and finite weights.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"

namespace reasonrl::model {

inline constexpr const char* kModelFile = "model.safetensors";
inline constexpr const char* kConfigFile = "config.json";
inline constexpr const char* kOptimizerFile = "optimizer.safetensors";
inline constexpr int kCheckpointVersion = 1;

// Writes dir/model.safetensors and dir/config.json (creates dir). Throws IoError.
void save_checkpoint(const Model& model, const std::string& dir);
// Reads a checkpoint directory: ours, or a Hugging Face DeepSeek-V3 one (sharded, BF16 / F16 / FP8; see
// hf_checkpoint.h). Missing file -> IoError; bad magic / header / shape / dtype / truncation -> FormatError naming the
// file and tensor; bad config -> ConfigError; a NaN or Inf weight -> NumericError naming the tensor. notes gets what
// the load skipped or converted (logged at info level when notes is null).
std::unique_ptr<Model> load_model(const std::string& dir, std::vector<std::string>* notes = nullptr);
// Load only the weights of dir into an existing model of the same architecture. A NaN or Inf in a tensor is a
// NumericError naming the directory and tensor.
void load_weights(Model& model, const std::string& dir);

// SHA-256 (lower-case hex) of a file's contents (IoError naming the file).
std::string sha256_file(const std::string& path);
// SHA-256 of every regular file under dir (recursively; keys are '/'-separated paths relative to dir), except `skip`.
std::map<std::string, std::string> checksum_files(const std::string& dir, const std::string& skip);
// Checks dir's files against `expected` (checksum_files layout): a missing or changed file is a FormatError naming it
// and `what` (the state file that recorded the checksums).
void verify_files(const std::string& dir, const std::map<std::string, std::string>& expected, const std::string& what);
// Whether checkpoint loads verify the recorded checksums (on by default; `--no-verify` turns it off for speed).
void set_verify_checkpoints(bool on);
bool verify_checkpoints();
// The name of the first tensor of `model` holding a NaN or Inf, or "" when every weight is finite.
std::string first_nonfinite_tensor(const Model& model);

}  // namespace reasonrl::model

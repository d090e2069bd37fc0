// checkpoint.h: model checkpoints as a directory: model.safetensors (HF DeepSeek-V3 tensor names, F32) and
// config.json (HF keys). The optimizer state goes in a second file (AdamW::save, default name optimizer.safetensors).
#pragma once
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
// file and tensor; bad config -> ConfigError. notes gets what the load skipped or converted (logged at info level when
// notes is null).
std::unique_ptr<Model> load_model(const std::string& dir, std::vector<std::string>* notes = nullptr);
// Load only the weights of dir into an existing model of the same architecture.
void load_weights(Model& model, const std::string& dir);

}  // namespace reasonrl::model

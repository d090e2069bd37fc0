// hf_checkpoint.h: Hugging Face model directories in the DeepSeek-V3 layout, read and written.
// Read: config.json as HF writes it (DeepseekV3ForCausalLM, or DeepseekV2ForCausalLM where it is a subset), weights in
// one model.safetensors or sharded via model.safetensors.index.json, F32 / BF16 / F16 converted to fp32 (FP8 E4M3 with
// weight_scale_inv dequantized), files mmapped and streamed into the parameter arena. Also reads our own checkpoints
// (they are this layout in F32). Write: `reasonrl export --format hf`.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"

namespace reasonrl::model {

struct HfLoadReport {
  std::vector<std::string> notes;  // what was skipped or changed (inv_freq skipped, MTP absent, dtype converted ...)
};

// The config of a checkpoint directory, adjusted to its weights (num_nextn_predict_layers 0 when the MTP tensors are
// absent). Throws ConfigError / IoError / FormatError naming file and key / tensor.
ModelConfig load_checkpoint_config(const std::string& dir, HfLoadReport* report = nullptr);
// Fill model's parameters from dir (ours or HF). Every tensor of the model must be present with its shape; extra
// tensors: rotary_emb.inv_freq skipped (noted), the MTP layer's embed_tokens / shared_head.head copies skipped,
// anything else a FormatError. Allocates no gradients.
void load_checkpoint_weights(Model& model, const std::string& dir, HfLoadReport* report = nullptr);

enum class HfDtype { F32, BF16 };
struct HfExportOptions {
  HfDtype dtype = HfDtype::BF16;
  size_t max_shard_bytes = 0;   // 0 = one model.safetensors; else shards + model.safetensors.index.json
  std::string tokenizer_json;   // copied when not empty, with tokenizer_config.json
  std::string chat_template;    // Jinja chat template for tokenizer_config.json
  std::string source_config;    // config.json of the source checkpoint: HF keys we do not use are carried over
};
struct HfExportResult {
  size_t n_tensors = 0, n_shards = 0;
  std::vector<std::string> notes;
};
HfExportResult export_hf(const Model& model, const std::string& dir, const HfExportOptions& opt);

}  // namespace reasonrl::model

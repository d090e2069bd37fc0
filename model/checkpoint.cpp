// checkpoint.cpp: save / load a model directory (model.safetensors with HF names + config.json).
#include "model/checkpoint.h"

#include <filesystem>

#include "model/safetensors.h"
#include "rl/util/error.h"

namespace reasonrl::model {

namespace {
void make_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw IoError("cannot create checkpoint directory " + dir + ": " + ec.message());
}
}  // namespace

void save_checkpoint(const Model& model, const std::string& dir) {
  make_dir(dir);
  write_file_atomic(dir + "/" + kConfigFile, model_config_hf_json(model.config()));
  std::vector<StWriteTensor> ts;
  const float* p = model.params().data();
  for (const auto& t : model.tensors()) ts.push_back({t.name, t.shape, p + t.offset});
  write_safetensors(dir + "/" + kModelFile, ts,
                    {{"format", "pt"}, {"reasonrl_checkpoint_version", std::to_string(kCheckpointVersion)}});
}

void load_weights(Model& model, const std::string& dir) {
  const std::string path = dir + "/" + kModelFile;
  if (!std::filesystem::exists(path)) throw IoError("checkpoint file " + path + " does not exist");
  const SafetensorsFile f = SafetensorsFile::read(path);
  if (auto it = f.metadata().find("reasonrl_checkpoint_version"); it != f.metadata().end()) {
    int v = 0;
    try {
      v = std::stoi(it->second);
    } catch (...) {
      throw FormatError(path + ": bad reasonrl_checkpoint_version '" + it->second + "'");
    }
    if (v < 1 || v > kCheckpointVersion)
      throw FormatError(path + ": checkpoint version " + it->second + " is not supported (this build reads 1.." +
                        std::to_string(kCheckpointVersion) + ")");
  }
  float* p = model.params().data();
  for (const auto& t : model.tensors()) {
    const std::vector<float> v = f.get_f32(t.name, &t.shape);
    std::copy(v.begin(), v.end(), p + t.offset);
  }
  // Anything else must be a known duplicate of a shared tensor (HF writes the MTP layer's embed / head copies).
  const std::string mtp = "model.layers." + std::to_string(model.config().num_hidden_layers) + ".";
  for (const auto& [name, info] : f.tensors()) {
    bool known = false;
    for (const auto& t : model.tensors()) known |= t.name == name;
    known |= name == mtp + "embed_tokens.weight" || name == mtp + "shared_head.head.weight";
    if (!known) throw FormatError(path + ": unexpected tensor '" + name + "' for this config");
  }
}

std::unique_ptr<Model> load_model(const std::string& dir) {
  const std::string cfg_path = dir + "/" + kConfigFile;
  if (!std::filesystem::exists(cfg_path)) throw IoError("checkpoint config " + cfg_path + " does not exist");
  const ModelConfig cfg = load_model_config(cfg_path);
  auto m = std::make_unique<Model>(cfg);
  load_weights(*m, dir);
  return m;
}

}  // namespace reasonrl::model

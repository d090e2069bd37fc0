// checkpoint.cpp: save / load a model directory (model.safetensors with HF names + config.json).
#include "model/checkpoint.h"

#include <filesystem>

#include "model/hf_checkpoint.h"
#include "model/safetensors.h"
#include "rl/util/error.h"
#include "rl/util/log.h"

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

void load_weights(Model& model, const std::string& dir) { load_checkpoint_weights(model, dir); }

std::unique_ptr<Model> load_model(const std::string& dir, std::vector<std::string>* notes) {
  HfLoadReport r;
  const ModelConfig cfg = load_checkpoint_config(dir, &r);
  auto m = std::make_unique<Model>(cfg);
  load_checkpoint_weights(*m, dir, &r);
  if (notes) *notes = r.notes;
  else
    for (const auto& n : r.notes) log_line(LogLevel::Info, dir + ": " + n);  // HF checkpoints only; ours load silently
  return m;
}

}  // namespace reasonrl::model

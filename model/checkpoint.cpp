// checkpoint.cpp: save / load a model directory (model.safetensors with HF names + config.json).
#include "model/checkpoint.h"

#include <openssl/evp.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>

#include "model/safetensors.h"
#include "rl/util/error.h"

namespace reasonrl::model {

namespace {
std::atomic<bool> g_verify{true};

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new(), EVP_MD_CTX_free) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) != 1) throw IoError("OpenSSL: cannot start SHA-256");
  }
  void update(const void* p, size_t n) {
    if (EVP_DigestUpdate(ctx_.get(), p, n) != 1) throw IoError("OpenSSL: SHA-256 update failed");
  }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), md, &n) != 1) throw IoError("OpenSSL: SHA-256 final failed");
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < n; ++i) {
      out += digits[md[i] >> 4];
      out += digits[md[i] & 15];
    }
    return out;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

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
    for (float x : v)
      if (!std::isfinite(x)) throw NumericError(path + ": tensor '" + t.name + "' holds a NaN or Inf");
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

std::string sha256_hex(const std::string& data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return h.hex();
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot open '" + path + "' to compute its checksum");
  Sha256 h;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), std::streamsize(buf.size()));
    if (in.gcount() > 0) h.update(buf.data(), size_t(in.gcount()));
  }
  if (in.bad()) throw IoError("cannot read '" + path + "' to compute its checksum");
  return h.hex();
}

std::map<std::string, std::string> checksum_files(const std::string& dir, const std::string& skip) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string rel = std::filesystem::relative(e.path(), dir).generic_string();
    if (rel != skip) out[rel] = sha256_file(e.path().string());
  }
  return out;
}

void verify_files(const std::string& dir, const std::map<std::string, std::string>& expected, const std::string& what) {
  for (const auto& [rel, sum] : expected) {
    const std::string path = dir + "/" + rel;
    if (!std::filesystem::exists(path))
      throw FormatError("checkpoint file " + path + " is missing (" + what + " records it)");
    const std::string got = sha256_file(path);
    if (got != sum)
      throw FormatError("checkpoint file " + path + " is damaged: its SHA-256 is " + got + ", " + what + " records " + sum +
                        " (--no-verify skips this check)");
  }
}

void set_verify_checkpoints(bool on) { g_verify = on; }
bool verify_checkpoints() { return g_verify; }

std::string first_nonfinite_tensor(const Model& model) {
  const float* p = model.params().data();
  for (const auto& t : model.tensors()) {
    size_t n = 1;
    for (auto d : t.shape) n *= size_t(d);
    for (size_t i = 0; i < n; ++i)
      if (!std::isfinite(p[t.offset + i])) return t.name;
  }
  return "";
}

}  // namespace reasonrl::model

// checkpoint.cpp: save / load a model directory (model.safetensors with HF names + config.json).
#include "model/checkpoint.h"

#include <openssl/evp.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>

#include "model/hf_checkpoint.h"
#include "model/safetensors.h"
#include "rl/util/error.h"
#include "rl/util/log.h"

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

void require_finite(const Model& model, const std::string& dir) {
  if (const std::string t = first_nonfinite_tensor(model); !t.empty())
    throw NumericError(dir + ": tensor '" + t + "' holds a NaN or Inf");
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
  load_checkpoint_weights(model, dir);
  require_finite(model, dir);
}

std::unique_ptr<Model> load_model(const std::string& dir, std::vector<std::string>* notes) {
  HfLoadReport r;
  const ModelConfig cfg = load_checkpoint_config(dir, &r);
  auto m = std::make_unique<Model>(cfg);
  load_checkpoint_weights(*m, dir, &r);
  require_finite(*m, dir);
  if (notes) *notes = r.notes;
  else
    for (const auto& n : r.notes) log_line(LogLevel::Info, dir + ": " + n);  // HF checkpoints only; ours load silently
  return m;
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

// hf_checkpoint.cpp: reading HF DeepSeek-V3 directories (config keys, shards, dtypes, FP8 blocks, extra tensors) into
// the parameter arena, and writing them.
#include "model/hf_checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "model/hf_json.h"
#include "model/safetensors.h"
#include "rl/util/error.h"

namespace reasonrl::model {

namespace {
namespace fs = std::filesystem;
using njson = nlohmann::ordered_json;
const char* kIndexFile = "model.safetensors.index.json";

void note(HfLoadReport* r, const std::string& s) {
  if (r) r->notes.push_back(s);
}

// FP8 E4M3 (OCP "fn": no infinities, 0x7f / 0xff NaN) to float.
float fp8_e4m3_to_f32(uint8_t v) {
  const int sign = v >> 7, exp = (v >> 3) & 0xf, man = v & 7;
  float r;
  if (exp == 0) r = std::ldexp(float(man), -9);  // subnormal: man/8 * 2^-6
  else if (exp == 15 && man == 7) r = std::nanf("");
  else r = std::ldexp(1.0f + float(man) / 8.0f, exp - 7);
  return sign ? -r : r;
}

struct Weights {
  std::map<std::string, SafetensorsFile> files;       // file name -> mapped file
  std::map<std::string, std::string> where;           // tensor -> file name
  const SafetensorsFile& file_of(const std::string& t) const { return files.at(where.at(t)); }
  bool has(const std::string& t) const { return where.count(t) != 0; }
};

Weights open_weights(const std::string& dir) {
  Weights w;
  const std::string index = dir + "/" + kIndexFile;
  if (fs::exists(index)) {
    const njson j = read_json_file<njson>(index);
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      throw FormatError(index + ": no \"weight_map\" object");
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string()) throw FormatError(index + ": weight_map entry '" + it.key() + "' is not a file name");
      const std::string f = it.value().get<std::string>();
      if (f.find('/') != std::string::npos || f.empty() || f == "." || f == "..")
        throw FormatError(index + ": weight_map entry '" + it.key() + "' names '" + f + "', not a file in the directory");
      if (!w.files.count(f)) {
        if (!fs::exists(dir + "/" + f))
          throw IoError(index + ": tensor '" + it.key() + "' is in " + f + ", which does not exist in " + dir);
        w.files.emplace(f, SafetensorsFile::read(dir + "/" + f));
      }
      if (!w.files.at(f).has(it.key()))
        throw FormatError(index + ": tensor '" + it.key() + "' is mapped to " + f + ", which does not contain it");
      w.where[it.key()] = f;
    }
    // a tensor present in a shard but not in the index is as much an error as an unknown one
    for (const auto& [f, st] : w.files)
      for (const auto& [t, info] : st.tensors())
        if (!w.where.count(t)) throw FormatError(dir + "/" + f + ": tensor '" + t + "' is not listed in " + index);
    return w;
  }
  const std::string single = dir + "/" + kModelFile;
  if (!fs::exists(single))
    throw IoError("checkpoint " + dir + " has neither " + kModelFile + " nor " + kIndexFile);
  w.files.emplace(kModelFile, SafetensorsFile::read(single));
  for (const auto& [t, info] : w.files.at(kModelFile).tensors()) w.where[t] = kModelFile;
  return w;
}

void check_version(const SafetensorsFile& f) {
  auto it = f.metadata().find("reasonrl_checkpoint_version");
  if (it == f.metadata().end()) return;
  int v = 0;
  try {
    v = std::stoi(it->second);
  } catch (...) {
    throw FormatError(f.path() + ": bad reasonrl_checkpoint_version '" + it->second + "'");
  }
  if (v < 1 || v > kCheckpointVersion)
    throw FormatError(f.path() + ": checkpoint version " + it->second + " is not supported (this build reads 1.." +
                      std::to_string(kCheckpointVersion) + ")");
}

bool is_inv_freq(const std::string& name) { return name.size() > 8 && name.ends_with("rotary_emb.inv_freq"); }

// FP8 block size of config.json's quantization_config.weight_block_size (128 x 128 when the file or the key is
// absent); a value that is not two positive integers is a FormatError naming the file and key.
std::pair<int, int> fp8_block(const std::string& dir) {
  const std::string p = dir + "/" + kConfigFile;
  if (!fs::exists(p)) return {128, 128};
  const njson j = read_json_file<njson>(p);
  if (!j.is_object() || !j.contains("quantization_config") || !j["quantization_config"].is_object() ||
      !j["quantization_config"].contains("weight_block_size"))
    return {128, 128};
  const njson& s = j["quantization_config"]["weight_block_size"];
  auto positive_int = [](const njson& x) {
    return x.is_number_integer() && x.get<int64_t>() >= 1 && x.get<int64_t>() <= INT32_MAX;
  };
  if (!s.is_array() || s.size() != 2 || !positive_int(s[0]) || !positive_int(s[1]))
    throw FormatError(p + ": quantization_config.weight_block_size must be two positive integers, got " + s.dump());
  return {s[0].get<int>(), s[1].get<int>()};
}

// "model.layers.<num_hidden_layers>.": the prefix of the MTP layer's tensors.
std::string mtp_prefix(const ModelConfig& c) { return "model.layers." + std::to_string(c.num_hidden_layers) + "."; }
}  // namespace

ModelConfig load_checkpoint_config(const std::string& dir, HfLoadReport* report) {
  const std::string path = dir + "/" + kConfigFile;
  if (!fs::exists(path)) throw IoError("checkpoint config " + path + " does not exist");
  std::vector<std::string> notes;
  ModelConfig c = parse_model_config(read_file(path), path, &notes);
  for (const auto& n : notes) note(report, n);
  if (c.num_nextn_predict_layers > 0) {
    const Weights w = open_weights(dir);
    const std::string mtp = mtp_prefix(c);
    bool any = false;
    for (const auto& [t, f] : w.where) any |= t.rfind(mtp, 0) == 0;
    if (!any) {
      c.num_nextn_predict_layers = 0;
      note(report, "no MTP tensors (" + mtp + "*): loaded without MTP (num_nextn_predict_layers 0)");
    }
  }
  return c;
}

void load_checkpoint_weights(Model& model, const std::string& dir, HfLoadReport* report) {
  const Weights w = open_weights(dir);
  for (const auto& [f, st] : w.files) check_version(st);
  const ModelConfig& c = model.config();
  float* P = model.params().data();
  std::set<std::string> used;
  std::map<std::string, int> converted;  // dtype -> tensors
  std::pair<int, int> block{0, 0};
  for (const auto& t : model.tensors()) {
    if (!w.has(t.name)) {
      std::string files;
      for (const auto& [f, st] : w.files) files += (files.empty() ? "" : ", ") + f;
      throw FormatError(dir + ": tensor '" + t.name + "' is missing (looked in " + files + ")");
    }
    const SafetensorsFile& f = w.file_of(t.name);
    const StTensorInfo& info = f.info(t.name);
    used.insert(t.name);
    if (info.dtype == "F8_E4M3") {
      const std::string sname = t.name + "_scale_inv";
      if (!w.has(sname))
        throw FormatError(f.path() + ": tensor '" + t.name + "' is F8_E4M3 without '" + sname + "' to dequantize it");
      if (info.shape != t.shape)
        throw FormatError(f.path() + ": tensor '" + t.name + "' has a shape other than the config's");
      if (block.first == 0) block = fp8_block(dir);
      const int64_t R = t.shape[0], K = t.shape.size() == 2 ? t.shape[1] : 1;
      const int64_t br = block.first, bk = block.second;
      const std::vector<int64_t> sshape = {(R + br - 1) / br, (K + bk - 1) / bk};
      const SafetensorsFile& sf = w.file_of(sname);
      const std::vector<float> scale = sf.get_f32(sname, &sshape);
      const uint8_t* q = reinterpret_cast<const uint8_t*>(f.raw(t.name));
      for (int64_t r = 0; r < R; ++r)
        for (int64_t k = 0; k < K; ++k)
          P[t.offset + size_t(r * K + k)] = fp8_e4m3_to_f32(q[r * K + k]) * scale[size_t((r / br) * sshape[1] + k / bk)];
      used.insert(sname);
      ++converted["F8_E4M3"];
      continue;
    }
    f.read_f32_into(t.name, P + t.offset, &t.shape);
    if (info.dtype != "F32") ++converted[info.dtype];
  }
  for (const auto& [d, n] : converted)
    note(report, std::to_string(n) + " tensors stored as " + d + " converted to fp32 (the values are exact; " +
                     "precision is that of " + d + ")");
  // Extra tensors: parameter-free ones are skipped, the MTP layer's copies of shared tensors too, anything else is an
  // error.
  const std::string mtp = mtp_prefix(c);
  int inv = 0;
  for (const auto& [name, file] : w.where) {
    if (used.count(name)) continue;
    if (is_inv_freq(name)) {
      ++inv;
      continue;
    }
    if (c.num_nextn_predict_layers > 0 &&
        (name == mtp + "embed_tokens.weight" || name == mtp + "shared_head.head.weight"))
      continue;
    throw FormatError(dir + "/" + file + ": unexpected tensor '" + name + "' for this config");
  }
  if (inv) note(report, std::to_string(inv) + " rotary_emb.inv_freq tensors skipped (recomputed from the config)");
}

HfExportResult export_hf(const Model& model, const std::string& dir, const HfExportOptions& opt) {
  HfExportResult res;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw IoError("cannot create " + dir + ": " + ec.message());
  const ModelConfig& c = model.config();
  // config.json: ours (HF keys) plus the HF keys of the source config that we do not use, and torch_dtype.
  njson cfg = njson::parse(model_config_hf_json(c));
  if (!opt.source_config.empty() && fs::exists(opt.source_config)) {
    const njson src = read_json_file<njson>(opt.source_config);
    for (auto it = src.begin(); it != src.end(); ++it)
      if (is_hf_passive_key(it.key()) && !cfg.contains(it.key()) && it.key() != "quantization_config")
        cfg[it.key()] = it.value();
  }
  cfg["torch_dtype"] = opt.dtype == HfDtype::F32 ? "float32" : "bfloat16";
  write_file_atomic(dir + "/" + kConfigFile, cfg.dump(2) + "\n");
  njson gen = {{"_from_model_config", true}, {"do_sample", true}, {"temperature", 0.6}, {"top_p", 0.95}};
  if (cfg.contains("bos_token_id")) gen["bos_token_id"] = cfg["bos_token_id"];
  if (cfg.contains("eos_token_id")) gen["eos_token_id"] = cfg["eos_token_id"];
  write_file_atomic(dir + "/generation_config.json", gen.dump(2) + "\n");

  const StDtype dt = opt.dtype == HfDtype::F32 ? StDtype::F32 : StDtype::BF16;
  const size_t es = opt.dtype == HfDtype::F32 ? 4 : 2;
  std::vector<std::vector<StWriteTensor>> shards(1);
  size_t in_shard = 0, total = 0;
  const float* P = model.params().data();
  for (const auto& t : model.tensors()) {
    const size_t nb = t.size * es;
    if (opt.max_shard_bytes > 0 && in_shard > 0 && in_shard + nb > opt.max_shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back({t.name, t.shape, P + t.offset});
    in_shard += nb;
    total += nb;
  }
  const std::map<std::string, std::string> meta = {{"format", "pt"},
                                                   {"reasonrl_checkpoint_version", std::to_string(kCheckpointVersion)}};
  if (opt.max_shard_bytes == 0) {
    write_safetensors(dir + "/" + kModelFile, shards[0], meta, dt);
  } else {
    njson index = {{"metadata", {{"total_size", total}}}, {"weight_map", njson::object()}};
    const size_t n = shards.size();
    for (size_t i = 0; i < n; ++i) {
      char name[64];
      std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, n);
      write_safetensors(dir + "/" + name, shards[i], meta, dt);
      for (const auto& t : shards[i]) index["weight_map"][t.name] = name;
    }
    write_file_atomic(dir + "/" + kIndexFile, index.dump(2) + "\n");
  }
  res.n_shards = shards.size();
  res.n_tensors = model.tensors().size();
  if (!opt.tokenizer_json.empty()) {
    fs::copy_file(opt.tokenizer_json, dir + "/tokenizer.json", fs::copy_options::overwrite_existing, ec);
    if (ec) throw IoError("cannot copy " + opt.tokenizer_json + " to " + dir + ": " + ec.message());
    const nlohmann::json tj = read_json_file(opt.tokenizer_json);
    njson tc = {{"tokenizer_class", "PreTrainedTokenizerFast"}, {"model_max_length", c.max_position_embeddings},
                {"clean_up_tokenization_spaces", false}, {"add_bos_token", false}, {"add_eos_token", false}};
    if (tj.contains("added_tokens"))
      for (const auto& a : tj["added_tokens"]) {
        const std::string s = a.value("content", "");
        switch (special_token_role(s)) {
          case SpecialToken::Bos: tc["bos_token"] = s; break;
          case SpecialToken::Eos: tc["eos_token"] = s; break;
          case SpecialToken::Pad: tc["pad_token"] = s; break;
          case SpecialToken::None: break;
        }
      }
    if (!opt.chat_template.empty()) tc["chat_template"] = opt.chat_template;
    write_file_atomic(dir + "/tokenizer_config.json", tc.dump(2) + "\n");
  } else {
    res.notes.push_back("no tokenizer.json given: the directory has no tokenizer files");
  }
  if (c.num_nextn_predict_layers > 0)
    res.notes.push_back("the MTP layer is written without its embed_tokens / shared_head.head copies (HF readers "
                        "that want them can tie them to model.embed_tokens / lm_head)");
  return res;
}

}  // namespace reasonrl::model

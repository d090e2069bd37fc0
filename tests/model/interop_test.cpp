// Interop with Hugging Face directories: export -> import round trips (f32 bit-identical, bf16 = the rounding), sharded
// files via the index, BF16 / F16 / FP8 reading against known bit patterns, HF config.json keys, extra and missing
// tensors, and bad input (truncated shard, index naming a missing file, shape mismatch, unsupported dtype), each an
// error naming the file and tensor. GGUF encodings (f16, Q8_0) against their definitions.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "model/gguf.h"
#include "model/gguf_export.h"
#include "model/hf_checkpoint.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "rl/util/error.h"
#include "test_util.h"

namespace reasonrl::model {
namespace {

namespace fs = std::filesystem;
using njson = nlohmann::ordered_json;

std::string tmpdir(const std::string& name) {
  const std::string d = std::string(REASONRL_BINARY_DIR) + "/test_tmp/interop_" + name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::unique_ptr<Model> make(ModelConfig c = testing::micro_config()) {
  auto m = std::make_unique<Model>(c);
  m->init_weights(42);
  testing::perturb(*m, 43);
  return m;
}

bool same_params(const Model& a, const Model& b) {
  return a.num_params() == b.num_params() &&
         std::memcmp(a.params().data(), b.params().data(), a.num_params() * sizeof(float)) == 0;
}

// A safetensors file from raw tensors (dtype, shape, bytes), to build what our writer never writes.
struct Raw {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};
void write_raw(const std::string& path, const std::vector<Raw>& ts) {
  njson h = njson::object();
  size_t at = 0;
  for (const auto& t : ts) {
    h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {at, at + t.bytes.size()}}};
    at += t.bytes.size();
  }
  std::string hs = h.dump();
  std::string out(8, '\0');
  uint64_t n = hs.size();
  std::memcpy(out.data(), &n, 8);
  out += hs;
  for (const auto& t : ts) out += t.bytes;
  write_file_atomic(path, out);
}
std::vector<Raw> raw_f32(const Model& m) {
  std::vector<Raw> r;
  for (const auto& t : m.tensors())
    r.push_back({t.name, "F32", t.shape,
                 std::string(reinterpret_cast<const char*>(m.params().data() + t.offset), t.size * 4)});
  return r;
}

template <class E>
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(HfExport, F32RoundTripIsBitIdenticalSingleAndSharded) {
  auto m = make();
  for (size_t shard : {size_t(0), size_t(20000)}) {
    const std::string d = tmpdir("f32_" + std::to_string(shard));
    HfExportOptions o;
    o.dtype = HfDtype::F32;
    o.max_shard_bytes = shard;
    const auto r = export_hf(*m, d, o);
    if (shard) {
      EXPECT_GT(r.n_shards, 2u);
      EXPECT_TRUE(fs::exists(d + "/model.safetensors.index.json"));
      EXPECT_FALSE(fs::exists(d + "/model.safetensors"));
    }
    EXPECT_TRUE(fs::exists(d + "/config.json") && fs::exists(d + "/generation_config.json"));
    auto back = load_model(d);
    EXPECT_TRUE(same_params(*back, *m)) << "shard bytes " << shard;
    EXPECT_EQ(config_to_json(back->config()).dump(), config_to_json(m->config()).dump());
  }
}

TEST(HfExport, Bf16IsTheRoundingOfEveryValue) {
  auto m = make();
  const std::string d = tmpdir("bf16");
  HfExportOptions o;
  o.dtype = HfDtype::BF16;
  export_hf(*m, d, o);
  const auto f = SafetensorsFile::read(d + "/model.safetensors");
  EXPECT_EQ(f.tensors().at("lm_head.weight").dtype, "BF16");
  std::vector<std::string> notes;
  auto back = load_model(d, &notes);
  size_t n = m->num_params();
  for (size_t i = 0; i < n; ++i) {
    const float x = m->params()[i], y = back->params()[i];
    ASSERT_EQ(y, bf16_to_f32(f32_to_bf16(x))) << i;
    ASSERT_LE(std::fabs(x - y), std::fabs(x) * (1.0f / 256)) << i;  // 8 significant bits
  }
  ASSERT_FALSE(notes.empty());
  EXPECT_NE(notes[0].find("BF16 converted to fp32"), std::string::npos) << notes[0];
}

TEST(HfExport, SideFilesThatAreNotJsonNameTheFile) {
  auto m = make();
  const std::string d = tmpdir("bad_side_json");
  write_file_atomic(d + "/broken.json", "{\"added_tokens\": [");
  for (const bool as_tokenizer : {true, false}) {
    HfExportOptions o;
    (as_tokenizer ? o.tokenizer_json : o.source_config) = d + "/broken.json";
    const std::string e = error_of<FormatError>([&] { export_hf(*m, d + "/out", o); });
    EXPECT_NE(e.find(d + "/broken.json: not valid JSON"), std::string::npos) << e;
  }
}

TEST(HfImport, Bf16AndF16KnownBitPatterns) {
  // bf16: 0x3F80 = 1, 0xC040 = -3, 0x3E20 = 0.15625.  f16: 0x3C00 = 1, 0xC000 = -2, 0x0001 = 2^-24, 0x7BFF = 65504.
  const uint16_t b[] = {0x3F80, 0xC040, 0x3E20, 0x0000}, h[] = {0x3C00, 0xC000, 0x0001, 0x7BFF};
  const std::string d = tmpdir("halves");
  write_raw(d + "/x.safetensors", {{"b", "BF16", {4}, std::string(reinterpret_cast<const char*>(b), 8)},
                                   {"h", "F16", {4}, std::string(reinterpret_cast<const char*>(h), 8)}});
  const auto f = SafetensorsFile::read(d + "/x.safetensors");
  EXPECT_EQ(f.get_f32("b"), (std::vector<float>{1.0f, -3.0f, 0.15625f, 0.0f}));
  EXPECT_EQ(f.get_f32("h"), (std::vector<float>{1.0f, -2.0f, std::ldexp(1.0f, -24), 65504.0f}));
  // and the writer side (round to nearest even)
  EXPECT_EQ(f32_to_f16(1.0f), 0x3C00);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);                       // rounds up to inf
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);          // halfway to 2^-24: ties to even (0)
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);   // halfway: even
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);   // halfway: even
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);
}

TEST(HfImport, Fp8BlockQuantizedWeightsAreDequantized) {
  auto m = make();
  const std::string d = tmpdir("fp8");
  save_checkpoint(*m, d);
  const std::string name = "model.layers.0.self_attn.q_a_proj.weight";
  const TensorInfo& t = m->tensor(name);  // (16, 32): one 128x128 block
  // E4M3: 0x38 = 1, 0x40 = 2, 0xB8 = -1, 0x3C = 1.5, 0x01 = 2^-9 (subnormal), 0x00 = 0
  const uint8_t codes[] = {0x38, 0x40, 0xB8, 0x3C, 0x01, 0x00};
  const float vals[] = {1, 2, -1, 1.5f, std::ldexp(1.0f, -9), 0};
  std::string q(t.size, '\0');
  for (size_t i = 0; i < t.size; ++i) q[i] = char(codes[i % 6]);
  const float scale = 0.5f;
  auto raws = raw_f32(*m);
  for (auto& r : raws)
    if (r.name == name) r = {name, "F8_E4M3", t.shape, q};
  raws.push_back({name + "_scale_inv", "F32", {1, 1}, std::string(reinterpret_cast<const char*>(&scale), 4)});
  write_raw(d + "/model.safetensors", raws);
  std::vector<std::string> notes;
  auto back = load_model(d, &notes);
  for (size_t i = 0; i < t.size; ++i) ASSERT_EQ(back->params()[t.offset + i], vals[i % 6] * scale) << i;
  // a block size that is not two positive integers is refused, naming the file and the key
  const std::string cfg_text = read_file(d + "/config.json");
  for (const njson& bad : {njson::array({0, 128}), njson::array({128}), njson("128x128")}) {
    njson cfg = njson::parse(cfg_text);
    cfg["quantization_config"] = {{"quant_method", "fp8"}, {"weight_block_size", bad}};
    write_file_atomic(d + "/config.json", cfg.dump(2));
    const std::string e = error_of<FormatError>([&] { load_model(d); });
    EXPECT_NE(e.find(d + "/config.json"), std::string::npos) << e;
    EXPECT_NE(e.find("quantization_config.weight_block_size"), std::string::npos) << e;
  }
  write_file_atomic(d + "/config.json", cfg_text);
  // without its scale it is refused, naming the tensor
  raws.pop_back();
  write_raw(d + "/model.safetensors", raws);
  const std::string e = error_of<FormatError>([&] { load_model(d); });
  EXPECT_NE(e.find(name), std::string::npos) << e;
  EXPECT_NE(e.find("_scale_inv"), std::string::npos) << e;
}

TEST(HfImport, HfConfigKeysExtraAndMissingTensors) {
  auto m = make();
  const std::string d = tmpdir("hfcfg");
  save_checkpoint(*m, d);
  njson cfg = njson::parse(read_file(d + "/config.json"));
  cfg["bos_token_id"] = 0;
  cfg["eos_token_id"] = 1;
  cfg["transformers_version"] = "4.46.3";
  cfg["torch_dtype"] = "bfloat16";
  cfg["use_cache"] = true;
  cfg["quantization_config"] = {{"quant_method", "fp8"}, {"weight_block_size", {128, 128}}};
  cfg["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 64},
                         {"beta_fast", 32}, {"beta_slow", 1}, {"mscale", 1.0}, {"mscale_all_dim", 1.0}};
  write_file_atomic(d + "/config.json", cfg.dump(2));
  // extra parameter-free tensor: skipped with a note
  auto raws = raw_f32(*m);
  float inv[2] = {1.0f, 0.01f};
  raws.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", "F32", {2}, std::string(reinterpret_cast<char*>(inv), 8)});
  write_raw(d + "/model.safetensors", raws);
  std::vector<std::string> notes;
  auto back = load_model(d, &notes);
  EXPECT_EQ(back->config().rope_scaling.type, RopeScalingType::Yarn);
  EXPECT_EQ(back->config().rope_scaling.factor, 4.0);
  bool noted = false;
  for (const auto& n : notes) noted |= n.find("inv_freq") != std::string::npos;
  EXPECT_TRUE(noted);
  // any other extra tensor is an error naming it
  raws.push_back({"model.layers.0.self_attn.extra.weight", "F32", {2}, std::string(reinterpret_cast<char*>(inv), 8)});
  write_raw(d + "/model.safetensors", raws);
  std::string e = error_of<FormatError>([&] { load_model(d); });
  EXPECT_NE(e.find("unexpected tensor 'model.layers.0.self_attn.extra.weight'"), std::string::npos) << e;
  // missing MTP tensors: loads without MTP, and says so
  raws.pop_back();
  std::vector<Raw> no_mtp;
  const std::string mtp = "model.layers." + std::to_string(m->config().num_hidden_layers) + ".";
  for (const auto& r : raws)
    if (r.name.rfind(mtp, 0) != 0) no_mtp.push_back(r);
  write_raw(d + "/model.safetensors", no_mtp);
  notes.clear();
  back = load_model(d, &notes);
  EXPECT_EQ(back->config().num_nextn_predict_layers, 0);
  noted = false;
  for (const auto& n : notes) noted |= n.find("without MTP") != std::string::npos;
  EXPECT_TRUE(noted);
  // keys that change the architecture and that we do not implement name the key
  for (const auto& [key, val] : std::vector<std::pair<std::string, njson>>{
           {"attention_bias", true}, {"hidden_act", "gelu"}, {"tie_word_embeddings", true}, {"scoring_func", "softmax"}}) {
    njson c2 = cfg;
    c2[key] = val;
    write_file_atomic(d + "/config.json", c2.dump(2));
    e = error_of<ConfigError>([&] { load_model(d); });
    EXPECT_NE(e.find("'" + key + "'"), std::string::npos) << key << ": " << e;
  }
  njson c3 = cfg;
  c3["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  write_file_atomic(d + "/config.json", c3.dump(2));
  e = error_of<ConfigError>([&] { load_model(d); });
  EXPECT_NE(e.find("linear"), std::string::npos) << e;
  EXPECT_NE(e.find("yarn"), std::string::npos) << e;  // lists the supported types
  njson c4 = cfg;
  c4["model_type"] = "deepseek_v2";
  c4["architectures"] = {"DeepseekV2ForCausalLM"};
  c4["scoring_func"] = "softmax";
  write_file_atomic(d + "/config.json", c4.dump(2));
  e = error_of<ConfigError>([&] { load_model(d); });
  EXPECT_NE(e.find("'scoring_func'"), std::string::npos) << e;
  c4["scoring_func"] = "sigmoid";
  c4["topk_method"] = "greedy";
  c4.erase("rope_scaling");
  write_file_atomic(d + "/config.json", c4.dump(2));
  back = load_model(d);
  EXPECT_EQ(back->config().num_hidden_layers, m->config().num_hidden_layers);
}

TEST(HfImport, BadInputNamesFileAndTensor) {
  auto m = make();
  const std::string d = tmpdir("bad");
  HfExportOptions o;
  o.dtype = HfDtype::F32;
  o.max_shard_bytes = 20000;
  export_hf(*m, d, o);
  const njson index = njson::parse(read_file(d + "/model.safetensors.index.json"));
  const std::string shard2 = "model-00002-of-" + index["weight_map"].begin().value().get<std::string>().substr(15);
  // truncated shard
  {
    const std::string bytes = read_file(d + "/" + shard2);
    write_file_atomic(d + "/" + shard2, bytes.substr(0, bytes.size() - 10));
    const std::string e = error_of<FormatError>([&] { load_model(d); });
    EXPECT_NE(e.find(shard2), std::string::npos) << e;
    EXPECT_NE(e.find("truncated"), std::string::npos) << e;
    write_file_atomic(d + "/" + shard2, bytes);
  }
  // index naming a file that does not exist
  {
    fs::rename(d + "/" + shard2, d + "/moved");
    const std::string e = error_of<IoError>([&] { load_model(d); });
    EXPECT_NE(e.find(shard2), std::string::npos) << e;
    EXPECT_NE(e.find("does not exist"), std::string::npos) << e;
    std::string tensor;
    for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it)
      if (it.value() == shard2 && tensor.empty()) tensor = it.key();
    EXPECT_NE(e.find("'" + tensor + "'"), std::string::npos) << e;
    fs::rename(d + "/moved", d + "/" + shard2);
  }
  // a tensor whose shape disagrees with config.json
  {
    const std::string d2 = tmpdir("bad_shape");
    save_checkpoint(*m, d2);
    auto raws = raw_f32(*m);
    for (auto& r : raws)
      if (r.name == "model.norm.weight") r.shape = {r.shape[0] / 2, 2};
    write_raw(d2 + "/model.safetensors", raws);
    const std::string e = error_of<FormatError>([&] { load_model(d2); });
    EXPECT_NE(e.find(d2 + "/model.safetensors"), std::string::npos) << e;
    EXPECT_NE(e.find("'model.norm.weight' has shape"), std::string::npos) << e;
  }
  // a dtype we do not read
  {
    const std::string d3 = tmpdir("bad_dtype");
    save_checkpoint(*m, d3);
    auto raws = raw_f32(*m);
    for (auto& r : raws)
      if (r.name == "lm_head.weight") r.dtype = "I32";
    write_raw(d3 + "/model.safetensors", raws);
    const std::string e = error_of<FormatError>([&] { load_model(d3); });
    EXPECT_NE(e.find("'lm_head.weight' has dtype I32"), std::string::npos) << e;
    EXPECT_NE(e.find("F32, BF16, F16"), std::string::npos) << e;
  }
}

TEST(HfImport, InferenceLoadAllocatesNoGradients) {
  auto m = make();
  const std::string d = tmpdir("nograd");
  save_checkpoint(*m, d);
  auto back = load_model(d);
  EXPECT_FALSE(back->grads_allocated());
  const int T = 5;
  std::vector<int32_t> tok = testing::random_tokens(T, back->config().vocab_size, 1);
  std::vector<float> logits(size_t(T) * back->config().vocab_size);
  back->forward(tok.data(), 1, T, logits.data());
  KVCache cache(back->config(), 1, 16);
  back->prefill(cache, 0, tok.data(), T, logits.data());
  EXPECT_FALSE(back->grads_allocated());  // forward and decoding never allocate them
  back->zero_grad();
  EXPECT_TRUE(back->grads_allocated());
  EXPECT_EQ(back->grads().size(), back->num_params());
}

TEST(Gguf, Q8_0BlockEncoding) {
  float x[32];
  for (int j = 0; j < 32; ++j) x[j] = float(j - 16);  // max |x| = 16
  const std::string b = ggml_encode(x, 32, GgmlType::Q8_0);
  ASSERT_EQ(b.size(), 34u);
  uint16_t d;
  std::memcpy(&d, b.data(), 2);
  EXPECT_EQ(d, f32_to_f16(16.0f / 127.0f));
  for (int j = 0; j < 32; ++j) EXPECT_EQ(int(int8_t(b[size_t(2 + j)])), int(std::lround((j - 16) * 127.0 / 16.0))) << j;
  EXPECT_THROW(ggml_encode(x, 31, GgmlType::Q8_0), Error);
}

// A tokenizer id past int's range is an error naming the token and the id, not a wrap onto another token (2^32 + 5 was
// read as 5 and overwrote token 5's text).
TEST(GgufExport, ATokenIdOutsideTheVocabIsAFormatErrorNotAWrap) {
  const auto m = make();
  const std::string d = tmpdir("gguf_ids");
  for (const char* id : {"4294967301", "-1", "1.5", "99999"}) {
    const std::string tok = d + "/tokenizer.json";
    write_file_atomic(tok, std::string(R"({"version":"1.0","model":{"type":"BPE","vocab":{"a":0,"b":)") + id +
                               R"(},"merges":[]},"added_tokens":[]})");
    const std::string e = error_of<FormatError>([&] { export_gguf(*m, tok, d + "/m.gguf", GgmlType::F32); });
    EXPECT_NE(e.find("token 'b' has id " + std::string(id)), std::string::npos) << e;
    EXPECT_NE(e.find("tokenizer.json"), std::string::npos) << e;
  }
}

}  // namespace
}  // namespace reasonrl::model

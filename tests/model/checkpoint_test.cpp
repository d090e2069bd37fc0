// Checkpoints: save -> load is bit-identical (params, config, logits); HF names and config keys; corrupted, truncated,
// wrong-dtype, wrong-shape and bad-magic files are rejected with a message naming the problem; optimizer round trip.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "model/model.h"
#include "model/safetensors.h"
#include "rl/util/error.h"
#include "test_util.h"

namespace reasonrl::model {
namespace {

namespace fs = std::filesystem;

std::string tmpdir(const std::string& name) {
  const std::string d = std::string(REASONRL_BINARY_DIR) + "/test_tmp/" + name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::unique_ptr<Model> make() {
  auto m = std::make_unique<Model>(testing::micro_config());
  m->init_weights(42);
  testing::perturb(*m, 43);
  return m;
}

TEST(Checkpoint, RoundTripIsBitIdentical) {
  auto m = make();
  const std::string d = tmpdir("roundtrip");
  save_checkpoint(*m, d);
  auto r = load_model(d);
  ASSERT_EQ(r->num_params(), m->num_params());
  EXPECT_EQ(0, std::memcmp(r->params().data(), m->params().data(), m->num_params() * sizeof(float)));
  EXPECT_EQ(config_to_json(r->config()).dump(), config_to_json(m->config()).dump());
  const int V = m->config().vocab_size, T = 6;
  auto tok = testing::random_tokens(T, V, 1);
  std::vector<float> a(T * V), b(T * V);
  m->forward(tok.data(), 1, T, a.data());
  r->forward(tok.data(), 1, T, b.data());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
}

TEST(Checkpoint, UsesHfTensorNamesAndConfigKeys) {
  auto m = make();
  const std::string d = tmpdir("names");
  save_checkpoint(*m, d);
  auto f = SafetensorsFile::read(d + "/model.safetensors");
  for (const char* n : {"model.embed_tokens.weight", "model.layers.0.self_attn.kv_a_proj_with_mqa.weight",
                        "model.layers.0.self_attn.q_a_proj.weight", "model.layers.0.mlp.gate_proj.weight",
                        "model.layers.1.mlp.experts.3.gate_proj.weight", "model.layers.1.mlp.gate.e_score_correction_bias",
                        "model.layers.1.mlp.shared_experts.down_proj.weight", "model.layers.2.eh_proj.weight",
                        "model.layers.2.enorm.weight", "model.layers.2.shared_head.norm.weight", "lm_head.weight"})
    EXPECT_TRUE(f.has(n)) << n;
  const auto& c = m->config();
  EXPECT_EQ(f.tensors().at("model.layers.0.self_attn.kv_a_proj_with_mqa.weight").shape,
            (std::vector<int64_t>{c.kv_lora_rank + c.qk_rope_head_dim, c.hidden_size}));
  const json j = json::parse(read_file(d + "/config.json"));
  EXPECT_EQ(j.at("model_type"), "deepseek_v3");
  EXPECT_EQ(j.at("kv_lora_rank"), c.kv_lora_rank);
  EXPECT_EQ(j.at("first_k_dense_replace"), c.first_k_dense_replace);
  EXPECT_EQ(f.metadata().at("format"), "pt");
}

// Write `bytes` as the model file of a copy of a good checkpoint and expect a FormatError containing `needle`.
void expect_rejected(const std::string& good, const std::string& bytes, const std::string& needle) {
  const std::string d = tmpdir("bad");
  fs::copy_file(good + "/config.json", d + "/config.json");
  write_file_atomic(d + "/model.safetensors", bytes);
  try {
    load_model(d);
    FAIL() << "accepted a bad file (" << needle << ")";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "want '" << needle << "': " << e.what();
    EXPECT_NE(std::string(e.what()).find("model.safetensors"), std::string::npos) << e.what();
  }
}

TEST(Checkpoint, CorruptFilesAreRejectedWithAMessage) {
  auto m = make();
  const std::string good = tmpdir("good");
  save_checkpoint(*m, good);
  const std::string bytes = read_file(good + "/model.safetensors");
  uint64_t hn = 0;
  std::memcpy(&hn, bytes.data(), 8);
  const std::string header = bytes.substr(8, hn);

  expect_rejected(good, bytes.substr(0, bytes.size() - 100), "truncated");
  expect_rejected(good, bytes.substr(0, 5), "shorter than");
  expect_rejected(good, bytes.substr(0, 8 + hn / 2), "truncated");
  std::string magic = bytes;
  std::memcpy(magic.data(), "GGUF\x03\x00\x00\x00", 8);  // another format's magic
  expect_rejected(good, magic, "header");
  std::string junk = bytes;
  junk[8] = 'x';
  expect_rejected(good, junk, "header does not start");
  std::string bad_json = bytes;
  bad_json[9] = '}';  // "{}...": an object followed by garbage
  expect_rejected(good, bad_json, "JSON");
  // wrong dtype: claim F16 with a consistent size for one tensor -> the sizes no longer tile the buffer
  {
    std::string h = header;
    const auto p = h.find("\"F32\"");
    h.replace(p, 5, "\"F16\"");
    expect_rejected(good, bytes.substr(0, 8) + h + bytes.substr(8 + hn), "bytes for shape");
  }
  // wrong dtype with consistent sizes: an F64 file of the same byte size as another F32 tensor -> dtype message
  {
    const std::string d = tmpdir("dtype_src");
    std::vector<float> data(m->num_params(), 0.0f);
    std::vector<StWriteTensor> ts;
    for (const auto& t : m->tensors()) ts.push_back({t.name, t.shape, data.data() + t.offset});
    write_safetensors(d + "/x.safetensors", ts, {});
    std::string b = read_file(d + "/x.safetensors");
    uint64_t n2 = 0;
    std::memcpy(&n2, b.data(), 8);
    std::string h = b.substr(8, n2);
    // lm_head [V, D] F32 -> I32 [V, D] (same byte size)
    const auto k = h.find("\"lm_head.weight\"");
    const auto p = h.find("\"F32\"", k);
    h.replace(p, 5, "\"I32\"");
    expect_rejected(good, b.substr(0, 8) + h + b.substr(8 + n2), "dtype I32");
  }
  // wrong shape: a checkpoint of another config under this config.json
  {
    ModelConfig other = m->config();
    other.hidden_size = 48;
    Model o(other);
    const std::string d = tmpdir("other");
    save_checkpoint(o, d);
    expect_rejected(good, read_file(d + "/model.safetensors"), "shape");
  }
  // a trailing garbage byte
  expect_rejected(good, bytes + "x", "trailing");
}

TEST(Checkpoint, MissingFilesAreIoErrors) {
  const std::string d = tmpdir("missing");
  EXPECT_THROW(load_model(d), IoError);
}

// `steps` AdamW updates of `m` on the next-token loss of one random sequence.
void train_steps(Model& m, AdamW& opt, int steps, uint64_t seed) {
  const int V = m.config().vocab_size, T = 8;
  auto tok = testing::random_tokens(T, V, seed);
  std::vector<float> l(T * V), dl(T * V);
  for (int s = 0; s < steps; ++s) {
    m.zero_grad();
    m.forward(tok.data(), 1, T, l.data());
    next_token_loss(l.data(), tok.data(), 1, T, V, nullptr, dl.data());
    m.backward(dl.data());
    opt.step(m, 1e-3f);
  }
}

TEST(Checkpoint, OptimizerStateRoundTrip) {
  auto m = make();
  AdamW opt;
  train_steps(*m, opt, 2, 5);
  const std::string d = tmpdir("opt");
  opt.save(d + "/optimizer.safetensors");
  AdamW o2;
  o2.load(d + "/optimizer.safetensors", *m);
  EXPECT_EQ(o2.step_count(), 2);
  EXPECT_EQ(o2.exp_avg(), opt.exp_avg());
  EXPECT_EQ(o2.exp_avg_sq(), opt.exp_avg_sq());
  Model small(ModelConfig{});
  EXPECT_THROW(o2.load(d + "/optimizer.safetensors", small), FormatError);
}

// Kimi k1.5 resets the optimizer every iteration: the moments and their bias correction restart, the LR schedule
// does not (a reset that also zeroed the schedule step kept a warmup run at its first warmup LR forever).
TEST(Checkpoint, OptimizerMomentResetKeepsTheScheduleStep) {
  auto m = make();
  AdamW opt;
  train_steps(*m, opt, 2, 6);
  EXPECT_EQ(opt.step_count(), 2);
  EXPECT_EQ(opt.schedule_step(), 2);
  opt.reset_moments();
  EXPECT_EQ(opt.step_count(), 0);
  EXPECT_EQ(opt.schedule_step(), 2);
  for (float v : opt.exp_avg()) ASSERT_EQ(v, 0.0f);
  for (float v : opt.exp_avg_sq()) ASSERT_EQ(v, 0.0f);
  train_steps(*m, opt, 1, 6);
  EXPECT_EQ(opt.step_count(), 1);
  EXPECT_EQ(opt.schedule_step(), 3);
  // both counts survive a round trip (exact resume of a Kimi run with warmup)
  const std::string d = tmpdir("opt_reset");
  opt.save(d + "/optimizer.safetensors");
  AdamW o2;
  o2.load(d + "/optimizer.safetensors", *m);
  EXPECT_EQ(o2.step_count(), 1);
  EXPECT_EQ(o2.schedule_step(), 3);
  EXPECT_EQ(o2.exp_avg(), opt.exp_avg());
  // a version-1 file has one counter, which drove both: its schedule step is its step
  const int64_t n = int64_t(opt.exp_avg().size());
  write_safetensors(d + "/v1.safetensors",
                    {{"exp_avg", {n}, opt.exp_avg().data()}, {"exp_avg_sq", {n}, opt.exp_avg_sq().data()}},
                    {{"step", "5"}, {"optimizer", "adamw"}, {"reasonrl_optimizer_version", "1"}});
  AdamW o1;
  o1.load(d + "/v1.safetensors", *m);
  EXPECT_EQ(o1.step_count(), 5);
  EXPECT_EQ(o1.schedule_step(), 5);
}

TEST(Checkpoint, CopyParamsBetweenModels) {
  auto m = make();
  Model ref(m->config());
  ref.copy_params_from(*m);
  EXPECT_EQ(0, std::memcmp(ref.params().data(), m->params().data(), m->num_params() * sizeof(float)));
  Model copy(*m);
  EXPECT_EQ(0, std::memcmp(copy.params().data(), m->params().data(), m->num_params() * sizeof(float)));
  ModelConfig other = m->config();
  other.hidden_size = 48;
  Model o(other);
  EXPECT_THROW(o.copy_params_from(*m), ConfigError);
}

}  // namespace
}  // namespace reasonrl::model

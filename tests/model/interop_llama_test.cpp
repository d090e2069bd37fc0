// llama.cpp as an independent implementation of our architecture: a trained tiny checkpoint (group-limited sigmoid
// routing with a non-zero bias, shared experts, routed scaling, YaRN, MLA with low-rank q) is exported to GGUF and run
// by llama.cpp (node-llama-cpp 3.22.1's prebuilt CPU build, installed by scripts/install-llama-peer.sh); its
// next-token log-probs at every position of 32 prompts must match ours: top-1 100%, and max |log p - log p_ref| below
// 2e-4 for f32 weights (f32 KV cache). The f16 and q8_0 exports run a rounded model (and llama.cpp rounds the
// activations of those matmuls too), so they are compared with our f32 model only for gross errors (a wrong layout of
// a quantized tensor): top-1 agreement >= 97% (f16) and >= 90% (q8_0); their max |dlogp| is printed.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "datasets/bpe_trainer.h"
#include "bench/llama_peer.h"
#include "model/gguf_export.h"
#include "model/model.h"
#include "tests/require.h"

namespace reasonrl::model {
namespace {

namespace fs = std::filesystem;


// The config under test: the tiny preset plus every routing / rope feature llama.cpp's deepseek2 has.
ModelConfig conformance_config() {
  ModelConfig c = load_model_config(std::string(REASONRL_SOURCE_DIR) + "/configs/model_tiny.json");
  c.n_group = 4;  // 8 experts in 4 groups of 2, keep 2 groups
  c.topk_group = 2;
  c.routed_scaling_factor = 2.5;
  c.rope_scaling.type = RopeScalingType::Yarn;
  c.rope_scaling.factor = 4.0;
  c.rope_scaling.original_max_position_embeddings = 256;
  c.rope_scaling.mscale = 1.0;  // DeepSeek-V3's choice: the correction is all in the softmax scale
  c.rope_scaling.mscale_all_dim = 1.0;
  return c;
}

// Memorise a few random sequences so that the next-token distributions are peaked (as a trained model's are), then
// give the router biases values of the size of the affinity gaps so that they change the selection.
void train(Model& m, const std::vector<std::vector<int32_t>>& seqs) {
  const int B = int(seqs.size()), T = int(seqs[0].size()), V = m.config().vocab_size;
  std::vector<int32_t> tok;
  for (const auto& s : seqs) tok.insert(tok.end(), s.begin(), s.end());
  AdamWConfig oc;
  oc.weight_decay = 0.0;
  AdamW opt(oc);
  std::vector<float> logits(size_t(B) * T * V), dl(logits.size());
  for (int step = 0; step < 60; ++step) {
    m.zero_grad();
    m.forward(tok.data(), B, T, logits.data());
    next_token_loss(logits.data(), tok.data(), B, T, V, nullptr, dl.data());
    m.backward(dl.data());
    opt.step(m, 3e-3f);
  }
  std::mt19937 rng(7);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  for (const auto& t : m.tensors())
    if (t.name.ends_with("e_score_correction_bias"))
      for (size_t i = 0; i < t.size; ++i) m.params()[t.offset + i] = nd(rng);
}

struct Compare {
  double max_abs = 0;
  int positions = 0, top1_agree = 0;
};

Compare compare(Model& m, const std::vector<std::vector<int32_t>>& prompts, const nlohmann::json& ref) {
  const int V = m.config().vocab_size;
  Compare r;
  for (size_t p = 0; p < prompts.size(); ++p) {
    const int T = int(prompts[p].size());
    std::vector<float> logits(size_t(T) * V);
    m.forward(prompts[p].data(), 1, T, logits.data());
    for (int t = 0; t < T; ++t) {
      const auto& row = ref["logits"][p][size_t(t)];
      EXPECT_EQ(int(row.size()), V);
      const float* ours = logits.data() + size_t(t) * V;
      double mo = -1e30, mr = -1e30;
      int ao = 0, ar = 0;
      for (int v = 0; v < V; ++v) {
        if (ours[v] > mo) mo = ours[v], ao = v;
        const double x = row[size_t(v)].get<double>();
        if (x > mr) mr = x, ar = v;
      }
      double so = 0, sr = 0;
      for (int v = 0; v < V; ++v) {
        so += std::exp(double(ours[v]) - mo);
        sr += std::exp(row[size_t(v)].get<double>() - mr);
      }
      for (int v = 0; v < V; ++v) {
        const double lo = double(ours[v]) - mo - std::log(so), lr = row[size_t(v)].get<double>() - mr - std::log(sr);
        r.max_abs = std::max(r.max_abs, std::fabs(lo - lr));
      }
      ++r.positions;
      r.top1_agree += ao == ar;
    }
  }
  return r;
}

TEST(LlamaCpp, NextTokenLogProbsMatchOnTrainedTiny) {
  int rc = 0;
  bool ok = false;
  const std::string peer = llama_peer::install(REASONRL_SOURCE_DIR, &ok);
  REASONRL_REQUIRE_OR_SKIP(ok, "llama.cpp peer not installed (needs node + npm registry): " + peer);
  const std::string dir = std::string(REASONRL_BINARY_DIR) + "/test_tmp/llama_conformance";
  fs::remove_all(dir);
  fs::create_directories(dir);

  const ModelConfig c = conformance_config();
  // A tokenizer of the model's vocab size (what the GGUF carries; llama.cpp gets token ids, not text).
  std::vector<std::string> texts;
  std::mt19937 trng(3);
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    for (int w = 0; w < 8; ++w) {
      s += ' ';
      for (int k = 1 + int(trng() % 6); k > 0; --k) s += char('a' + trng() % 12);
    }
    texts.push_back(s + " <think>" + std::to_string(trng() % 1000) + "</think>");
  }
  datasets::BpeTrainerConfig bc;
  bc.vocab_size = c.vocab_size;
  const auto tok = datasets::train_bpe(texts, bc);
  ASSERT_EQ(tok.vocab_size(), c.vocab_size);
  tok.save(dir + "/tokenizer.json");

  std::mt19937 rng(11);
  std::vector<std::vector<int32_t>> train_seqs(8, std::vector<int32_t>(48));
  for (auto& s : train_seqs)
    for (auto& t : s) t = int32_t(rng() % uint32_t(c.vocab_size));
  Model m(c);
  m.init_weights(5);
  train(m, train_seqs);

  // 32 prompts: 16 prefixes of the memorised sequences (peaked predictions), 16 random (flat ones), lengths 5..48.
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 32; ++i) {
    const int len = 5 + int(rng() % 44);
    if (i < 16) {
      prompts.emplace_back(train_seqs[size_t(i % 8)].begin(), train_seqs[size_t(i % 8)].begin() + len);
    } else {
      std::vector<int32_t> p(static_cast<size_t>(len));
      for (auto& t : p) t = int32_t(rng() % uint32_t(c.vocab_size));
      prompts.push_back(p);
    }
  }

  struct Case {
    GgmlType type;
    const char* kv;
    double tol;        // max |dlogp| (f32 only)
    double min_top1;   // fraction of positions
  };
  // f32: only the summation order differs (measured 9e-6 on 2026-12-04).
  const Case cases[] = {{GgmlType::F32, "F32", 2e-4, 1.0}, {GgmlType::F16, "F16", 0, 0.97}, {GgmlType::Q8_0, "F16", 0, 0.90}};
  for (const Case& k : cases) {
    const std::string name = ggml_type_name(k.type);
    const std::string gguf = dir + "/model-" + name + ".gguf";
    const auto res = export_gguf(m, dir + "/tokenizer.json", gguf, k.type, "conformance");
    ASSERT_FALSE(res.notes.empty());  // the MTP module is left out, and says so
    nlohmann::json in = {{"gguf", gguf}, {"prompts", prompts}, {"threads", 1}, {"kv_type", k.kv}};
    write_file_atomic(dir + "/in.json", in.dump());
    const std::string cmd = "node " + std::string(REASONRL_SOURCE_DIR) + "/tests/golden/llama_logits.mjs " + peer + " " +
                            dir + "/in.json " + dir + "/out-" + name + ".json 2>&1";
    const std::string log = llama_peer::run_capture(cmd, &rc);
    ASSERT_EQ(rc, 0) << cmd << "\n" << log;
    const auto ref = nlohmann::json::parse(read_file(dir + "/out-" + name + ".json"));
    const Compare r = compare(m, prompts, ref);
    std::printf("llama.cpp %s: %d positions, top-1 agreement %d/%d, max |dlogp| %.3g\n", name.c_str(), r.positions,
                r.top1_agree, r.positions, r.max_abs);
    if (k.min_top1 == 1.0) {
      EXPECT_EQ(r.top1_agree, r.positions) << name;
      EXPECT_LT(r.max_abs, k.tol) << name;
    } else {
      EXPECT_GE(double(r.top1_agree), k.min_top1 * r.positions) << name;
    }
  }
}

}  // namespace
}  // namespace reasonrl::model

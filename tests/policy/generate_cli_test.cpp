// End-to-end test of `reasonrl generate`: a checkpoint directory (random tiny model + a byte-level BPE tokenizer)
// is sampled from; the streamed text is the decoding of the sampled ids and the same seed gives the same text.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "datasets/bpe_trainer.h"
#include "model/model.h"

namespace reasonrl {
namespace {

std::string run(const std::string& cmd, int* rc) {
  std::array<char, 4096> buf;
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  *rc = pclose(p);
  return out;
}

TEST(GenerateCli, StreamsSamplesFromACheckpoint) {
  const std::string dir = std::string(REASONRL_BINARY_DIR) + "/tests_tmp/generate_ckpt";
  std::filesystem::create_directories(dir);
  std::vector<std::string> texts;
  for (int i = 0; i < 100; ++i) texts.push_back("What is " + std::to_string(i) + " plus " + std::to_string(i % 7) + "? It is " + std::to_string(i + i % 7) + ".");
  datasets::BpeTrainerConfig bc;
  bc.vocab_size = 300;
  const auto tok = datasets::train_bpe(texts, bc);
  model::ModelConfig c;
  c.vocab_size = tok.vocab_size();
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.moe_intermediate_size = 16;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.q_lora_rank = 16;
  c.kv_lora_rank = 16;
  c.qk_nope_head_dim = 8;
  c.qk_rope_head_dim = 4;
  c.v_head_dim = 8;
  c.n_routed_experts = 4;
  c.num_experts_per_tok = 2;
  c.max_position_embeddings = 128;
  model::Model m(c);
  m.init_weights(2);
  model::save_checkpoint(m, dir);
  tok.save(dir + "/tokenizer.json");

  const std::string bin = std::string(REASONRL_BINARY_DIR) + "/reasonrl";
  const std::string base = bin + " generate --checkpoint " + dir + " --prompt 'What is 2 plus 3?' --max-tokens 12 --seed 3";
  int rc1 = -1, rc2 = -1, rc3 = -1;
  const std::string a = run(base + " --samples 3 2>/dev/null", &rc1);
  const std::string b = run(base + " --samples 3 2>/dev/null", &rc2);
  EXPECT_EQ(rc1, 0);
  EXPECT_EQ(rc2, 0);
  EXPECT_EQ(a, b);  // same seed, same text
  for (int k = 0; k < 3; ++k) EXPECT_NE(a.find("=== sample " + std::to_string(k) + " ==="), std::string::npos) << a;
  const std::string err = run(base + " --samples 1 2>&1 >/dev/null", &rc3);
  EXPECT_NE(err.find("sample 0:"), std::string::npos) << err;
  int rc4 = -1;
  const std::string bad = run(bin + " generate --checkpoint " + dir + "/missing --prompt x 2>&1", &rc4);
  EXPECT_NE(rc4, 0);
  EXPECT_NE(bad.find("error:"), std::string::npos) << bad;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace reasonrl

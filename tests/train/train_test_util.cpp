// train_test_util.cpp: configs and readers shared by the trainer tests.
#include "tests/train/train_test_util.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace reasonrl::train::testing {

std::string scratch_dir(const std::string& name) {
  const std::string dir = std::string(REASONRL_BINARY_DIR) + "/test_scratch/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

SftConfig tiny_sft_config(const std::string& run_dir, int steps) {
  SftConfig c;
  c.run_dir = run_dir;
  c.seed = 3;
  c.data.synthetic.min_operands = 2;
  c.data.synthetic.max_operands = 3;
  c.data.synthetic.max_digits = 1;
  c.data.train_size = 400;
  c.data.heldout_size = 40;
  c.tokenizer.train.vocab_size = 270;
  auto& m = c.model;
  m.hidden_size = 48;
  m.intermediate_size = 96;
  m.moe_intermediate_size = 24;
  m.num_hidden_layers = 2;
  m.num_attention_heads = 2;
  m.q_lora_rank = 24;
  m.kv_lora_rank = 24;
  m.qk_nope_head_dim = 12;
  m.qk_rope_head_dim = 8;
  m.v_head_dim = 12;
  m.n_routed_experts = 4;
  m.num_experts_per_tok = 2;
  m.max_position_embeddings = 128;
  m.num_nextn_predict_layers = 1;
  c.optim.learning_rate = 3e-3;
  c.optim.warmup_steps = 2;
  c.steps = steps;
  c.batch_size = 16;
  c.eval.size = 0;
  c.eval.max_completion_length = 24;
  return c;
}

TrainConfig tiny_train_config(const std::string& run_dir, const std::string& init_from, int steps) {
  TrainConfig c;
  c.run_dir = run_dir;
  c.init_from = init_from;
  c.seed = 5;
  c.data = tiny_sft_config("", 0).data;
  c.rollout.num_generations = 4;
  c.rollout.max_completion_length = 24;
  c.rollout.max_batch = 8;
  c.rewards.rewards = {"accuracy"};
  c.optim.learning_rate = 1e-3;
  c.optim.weight_decay = 0;
  c.optim.min_lr_ratio = 1.0;
  c.steps = steps;
  c.prompts_per_step = 3;
  c.micro_batch_size = 5;
  c.save_every = 2;
  c.eval.size = 0;
  return c;
}

std::map<long, std::map<std::string, double>> read_metrics(const std::string& path) {
  std::map<long, std::map<std::string, double>> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    const long step = j.at("step").get<long>();
    auto& row = out[step];
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& k = it.key();
      if (k == "step" || k.rfind("time/", 0) == 0 || k == "tokens_per_s") continue;
      row[k] = it.value().is_null() ? NAN : it.value().get<double>();
    }
  }
  return out;
}

}  // namespace reasonrl::train::testing

// config.cpp: validation of ModelConfig and its HF config.json form.
#include "model/config.h"

#include <cmath>

namespace reasonrl::model {

namespace {
void need(bool ok, const std::string& msg) {
  if (!ok) throw ConfigError("model config: " + msg);
}
// Keys HF tools expect in config.json that are fixed for our architecture: name -> required value.
json hf_fixed_keys() {
  json j = json::object();
  j["model_type"] = "deepseek_v3";
  j["architectures"] = json::array({"DeepseekV3ForCausalLM"});
  j["scoring_func"] = "sigmoid";
  j["topk_method"] = "noaux_tc";
  j["hidden_act"] = "silu";
  j["tie_word_embeddings"] = false;
  j["attention_bias"] = false;
  j["moe_layer_freq"] = 1;
  j["rope_interleave"] = true;
  j["torch_dtype"] = "float32";
  return j;
}
}  // namespace

void ModelConfig::validate() const {
  need(vocab_size > 0, "vocab_size must be > 0");
  need(hidden_size > 0, "hidden_size must be > 0");
  need(num_hidden_layers > 0, "num_hidden_layers must be > 0");
  need(num_attention_heads > 0, "num_attention_heads must be > 0");
  need(q_lora_rank >= 0, "q_lora_rank must be >= 0 (0 = plain q_proj)");
  need(kv_lora_rank > 0, "kv_lora_rank must be > 0");
  need(qk_nope_head_dim > 0 && v_head_dim > 0, "qk_nope_head_dim and v_head_dim must be > 0");
  need(qk_rope_head_dim > 0 && qk_rope_head_dim % 2 == 0, "qk_rope_head_dim must be even and > 0");
  need(first_k_dense_replace >= 0, "first_k_dense_replace must be >= 0");
  need(first_k_dense_replace == 0 || intermediate_size > 0, "intermediate_size must be > 0 when there are dense layers");
  const bool any_moe = first_k_dense_replace < num_hidden_layers || num_nextn_predict_layers > 0;
  if (any_moe) {
    need(n_routed_experts > 0, "n_routed_experts must be > 0 for MoE layers");
    need(moe_intermediate_size > 0, "moe_intermediate_size must be > 0");
    need(n_shared_experts >= 0, "n_shared_experts must be >= 0");
    need(num_experts_per_tok > 0 && num_experts_per_tok <= n_routed_experts,
         "num_experts_per_tok must be in [1, n_routed_experts]");
    need(n_group >= 1 && n_routed_experts % n_group == 0, "n_group must be >= 1 and divide n_routed_experts");
    need(topk_group >= 1 && topk_group <= n_group, "topk_group must be in [1, n_group]");
    if (n_group > 1) {
      need(n_routed_experts / n_group >= 2, "group-limited routing needs >= 2 experts per group (group score = top-2 sum)");
      need(topk_group * (n_routed_experts / n_group) >= num_experts_per_tok,
           "topk_group groups must hold at least num_experts_per_tok experts");
    }
  }
  need(rms_norm_eps > 0, "rms_norm_eps must be > 0");
  need(rope_theta > 0, "rope_theta must be > 0");
  need(max_position_embeddings > 0, "max_position_embeddings must be > 0");
  need(num_nextn_predict_layers == 0 || num_nextn_predict_layers == 1, "num_nextn_predict_layers must be 0 or 1");
  need(initializer_range > 0, "initializer_range must be > 0");
  need(bias_update_speed >= 0, "bias_update_speed must be >= 0");
  need(seq_aux_alpha >= 0, "seq_aux_alpha must be >= 0");
  need(mtp_loss_weight >= 0, "mtp_loss_weight must be >= 0");
}

float ModelConfig::softmax_scale() const { return float(1.0 / std::sqrt(double(q_head_dim()))); }

bool same_architecture(const ModelConfig& a, const ModelConfig& b) {
  return a.vocab_size == b.vocab_size && a.hidden_size == b.hidden_size && a.intermediate_size == b.intermediate_size &&
         a.moe_intermediate_size == b.moe_intermediate_size && a.num_hidden_layers == b.num_hidden_layers &&
         a.num_attention_heads == b.num_attention_heads && a.q_lora_rank == b.q_lora_rank &&
         a.kv_lora_rank == b.kv_lora_rank && a.qk_nope_head_dim == b.qk_nope_head_dim &&
         a.qk_rope_head_dim == b.qk_rope_head_dim && a.v_head_dim == b.v_head_dim &&
         a.n_shared_experts == b.n_shared_experts && a.n_routed_experts == b.n_routed_experts &&
         a.first_k_dense_replace == b.first_k_dense_replace && a.num_nextn_predict_layers == b.num_nextn_predict_layers;
}

ModelConfig load_model_config(const std::string& path) {
  const std::string text = read_file(path);
  json j = parse_json_text(text, path);
  if (!j.is_object()) throw ConfigError("config error in " + path + ": expected a JSON object");
  const json fixed = hf_fixed_keys();
  for (auto it = fixed.begin(); it != fixed.end(); ++it) {
    auto f = j.find(it.key());
    if (f == j.end()) continue;
    if (it.key() != "torch_dtype" && *f != it.value())
      throw ConfigError("config error in " + path + ": key '" + it.key() + "' is " + f->dump() + ", only " +
                        it.value().dump() + " is supported");
    j.erase(it.key());
  }
  if (auto f = j.find("num_key_value_heads"); f != j.end()) j.erase(f);  // = num_attention_heads
  if (auto f = j.find("rope_scaling"); f != j.end()) {
    if (!f->is_null()) throw ConfigError("config error in " + path + ": rope_scaling (YaRN) is not supported; use null");
    j.erase(f);
  }
  ModelConfig c;
  config_apply_json(c, j, path, text);
  return c;
}

std::string model_config_hf_json(const ModelConfig& c) {
  json j = hf_fixed_keys();
  j["num_key_value_heads"] = c.num_attention_heads;
  j["rope_scaling"] = nullptr;
  const json ours = config_to_json(c);
  for (auto it = ours.begin(); it != ours.end(); ++it) j[it.key()] = it.value();
  return j.dump(2) + "\n";
}

}  // namespace reasonrl::model

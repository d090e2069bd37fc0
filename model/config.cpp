// config.cpp: validation of ModelConfig and its HF config.json form.
#include "model/config.h"

#include <algorithm>
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
  rope_scaling.validate();
  need(max_position_embeddings > 0, "max_position_embeddings must be > 0");
  need(num_nextn_predict_layers == 0 || num_nextn_predict_layers == 1, "num_nextn_predict_layers must be 0 or 1");
  need(initializer_range > 0, "initializer_range must be > 0");
  need(bias_update_speed >= 0, "bias_update_speed must be >= 0");
  need(seq_aux_alpha >= 0, "seq_aux_alpha must be >= 0");
  need(mtp_loss_weight >= 0, "mtp_loss_weight must be >= 0");
}

void RopeScaling::validate() const {
  if (type == RopeScalingType::None) return;
  need(factor >= 1.0, "rope_scaling.factor must be >= 1");
  need(original_max_position_embeddings > 0, "rope_scaling.original_max_position_embeddings must be > 0");
  need(beta_fast > 0 && beta_slow > 0 && beta_fast >= beta_slow, "rope_scaling needs beta_fast >= beta_slow > 0");
  need(mscale >= 0 && mscale_all_dim >= 0, "rope_scaling.mscale and mscale_all_dim must be >= 0");
}

double yarn_get_mscale(double scale, double mscale) { return scale <= 1.0 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0; }

std::vector<double> RopeSpec::inv_freq(int Dr) const {
  const int P = Dr / 2;
  std::vector<double> f(P);
  for (int i = 0; i < P; ++i) f[i] = std::pow(theta, -2.0 * i / Dr);
  if (factor == 1.0) return f;
  // HF DeepseekV3 yarn_find_correction_range / yarn_linear_ramp_mask (ramp over pair index i in [low, high]).
  auto corr_dim = [&](double rot) { return Dr * std::log(original_max_pos / (rot * 2 * M_PI)) / (2 * std::log(theta)); };
  const double low = std::max(std::floor(corr_dim(beta_fast)), 0.0);
  double high = std::min(std::ceil(corr_dim(beta_slow)), double(Dr - 1));
  if (low == high) high += 0.001;
  for (int i = 0; i < P; ++i) {
    const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);  // 0: keep (extrapolate), 1: interpolate
    f[i] = f[i] / factor * ramp + f[i] * (1.0 - ramp);
  }
  return f;
}

RopeSpec ModelConfig::rope_spec() const {
  RopeSpec r;
  r.theta = rope_theta;
  if (rope_scaling.type == RopeScalingType::Yarn) {
    const RopeScaling& y = rope_scaling;
    r.factor = y.factor;
    r.original_max_pos = y.original_max_position_embeddings;
    r.beta_fast = y.beta_fast;
    r.beta_slow = y.beta_slow;
    r.cos_sin_scale = yarn_get_mscale(y.factor, y.mscale) / yarn_get_mscale(y.factor, y.mscale_all_dim);
  }
  return r;
}

float ModelConfig::softmax_scale() const {
  double s = 1.0 / std::sqrt(double(q_head_dim()));
  if (rope_scaling.type == RopeScalingType::Yarn && rope_scaling.mscale_all_dim != 0) {
    const double m = yarn_get_mscale(rope_scaling.factor, rope_scaling.mscale_all_dim);
    s *= m * m;
  }
  return float(s);
}

bool same_architecture(const ModelConfig& a, const ModelConfig& b) {
  return a.vocab_size == b.vocab_size && a.hidden_size == b.hidden_size && a.intermediate_size == b.intermediate_size &&
         a.moe_intermediate_size == b.moe_intermediate_size && a.num_hidden_layers == b.num_hidden_layers &&
         a.num_attention_heads == b.num_attention_heads && a.q_lora_rank == b.q_lora_rank &&
         a.kv_lora_rank == b.kv_lora_rank && a.qk_nope_head_dim == b.qk_nope_head_dim &&
         a.qk_rope_head_dim == b.qk_rope_head_dim && a.v_head_dim == b.v_head_dim &&
         a.n_shared_experts == b.n_shared_experts && a.n_routed_experts == b.n_routed_experts &&
         a.first_k_dense_replace == b.first_k_dense_replace && a.num_nextn_predict_layers == b.num_nextn_predict_layers;
}

bool is_hf_passive_key(const std::string& key) {
  static const char* const keys[] = {
      "bos_token_id", "eos_token_id", "pad_token_id", "transformers_version", "use_cache", "auto_map",
      "attention_dropout", "pretraining_tp", "ep_size", "aux_loss_alpha", "seq_aux", "quantization_config",
      "dtype", "_name_or_path", "output_router_logits", "router_aux_loss_coef", "use_bfloat16", "return_dict"};
  for (const char* k : keys)
    if (key == k) return true;
  return false;
}

ModelConfig load_model_config(const std::string& path) { return parse_model_config(read_file(path), path); }

ModelConfig parse_model_config(const std::string& text, const std::string& path, std::vector<std::string>* notes) {
  json j = parse_json_text(text, path);
  if (!j.is_object()) throw ConfigError("config error in " + path + ": expected a JSON object");
  auto bad = [&](const std::string& key, const std::string& msg) {
    return ConfigError(cfg_detail::where(path, text, key) + "key '" + key + "': " + msg);
  };
  // DeepSeek-V2 names what V3 fixed: accepted where it is this architecture.
  if (j.value("model_type", "") == "deepseek_v2") {
    const std::string sf = j.value("scoring_func", "softmax");
    if (sf != "sigmoid")
      throw bad("scoring_func", "'" + sf + "' gating (DeepSeek-V2) is not implemented; supported: sigmoid");
    j["model_type"] = "deepseek_v3";
    if (j.contains("architectures")) {
      if (j["architectures"] != json::array({"DeepseekV2ForCausalLM"}))
        throw bad("architectures", "model_type deepseek_v2 needs [\"DeepseekV2ForCausalLM\"]");
      j["architectures"] = json::array({"DeepseekV3ForCausalLM"});
    }
    const std::string tm = j.value("topk_method", "greedy");
    if (tm != "greedy" && tm != "group_limited_greedy" && tm != "noaux_tc")
      throw bad("topk_method", "'" + tm + "' is not supported; supported: greedy, group_limited_greedy, noaux_tc");
    j["topk_method"] = "noaux_tc";
    if (notes) notes->push_back(path + ": DeepseekV2 config read as this architecture (router bias 0 if absent)");
  }
  if (auto f = j.find("q_lora_rank"); f != j.end() && f->is_null()) *f = 0;  // V2-Lite: plain q_proj
  if (auto f = j.find("num_key_value_heads"); f != j.end()) {
    if (j.contains("num_attention_heads") && *f != j["num_attention_heads"])
      throw bad("num_key_value_heads", "must equal num_attention_heads (MLA)");
    j.erase(f);
  }
  for (auto it = j.begin(); it != j.end();) it = is_hf_passive_key(it.key()) ? j.erase(it) : std::next(it);
  const json fixed = hf_fixed_keys();
  for (auto it = fixed.begin(); it != fixed.end(); ++it) {
    auto f = j.find(it.key());
    if (f == j.end()) continue;
    if (it.key() != "torch_dtype" && *f != it.value())
      throw bad(it.key(), "is " + f->dump() + ", only " + it.value().dump() + " is supported");
    j.erase(it.key());
  }
  if (auto f = j.find("rope_scaling"); f != j.end()) {
    if (f->is_null()) {
      j.erase(f);
    } else if (f->is_object() && f->contains("rope_type")) {  // newer HF spelling of "type"
      if (f->contains("type") && (*f)["type"] != (*f)["rope_type"])
        throw ConfigError("config error in " + path + ": rope_scaling has both type and rope_type, and they differ");
      (*f)["type"] = (*f)["rope_type"];
      f->erase("rope_type");
    }
  }
  ModelConfig c;
  config_apply_json(c, j, path, text);
  return c;
}

std::string model_config_hf_json(const ModelConfig& c) {
  json j = hf_fixed_keys();
  j["num_key_value_heads"] = c.num_attention_heads;
  const json ours = config_to_json(c);
  for (auto it = ours.begin(); it != ours.end(); ++it) j[it.key()] = it.value();
  if (c.rope_scaling.type == RopeScalingType::None) j["rope_scaling"] = nullptr;
  return j.dump(2) + "\n";
}

}  // namespace reasonrl::model

// config.h: ModelConfig, the DeepSeek-V3-style architecture hyper-parameters under their HF config.json key names,
// plus our training knobs (router-bias update speed, sequence-wise balance loss weight, MTP loss weight).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "rl/util/config.h"

namespace reasonrl::model {

enum class RopeScalingType { None, Yarn };
REASONRL_ENUM_NAMES(RopeScalingType, {RopeScalingType::None, "none"}, {RopeScalingType::Yarn, "yarn"})

// HF `rope_scaling` (null in config.json = type none). YaRN as DeepSeek-V3 configures it: frequency i uses
// theta^(-2i/Dr) / factor below the correction range, theta^(-2i/Dr) above it, and a linear ramp in between; the rotated
// parts are multiplied by get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dim) and the softmax scale by
// get_mscale(factor, mscale_all_dim)^2 (when mscale_all_dim != 0), get_mscale(s, m) = 0.1 m ln(s) + 1 (1 if s <= 1).
struct RopeScaling {
  RopeScalingType type = RopeScalingType::None;
  double factor = 1.0;
  int original_max_position_embeddings = 4096;
  double beta_fast = 32.0;
  double beta_slow = 1.0;
  double mscale = 1.0;
  double mscale_all_dim = 0.0;

  template <class V>
  void visit(V& v) {
    v("type", type, "rope scaling type (HF also spells the key rope_type)");
    v("factor", factor, "YaRN context extension factor s");
    v("original_max_position_embeddings", original_max_position_embeddings, "context length before the extension");
    v("beta_fast", beta_fast, "YaRN: rotations below which a frequency is interpolated fully");
    v("beta_slow", beta_slow, "YaRN: rotations above which a frequency is kept (extrapolated)");
    v("mscale", mscale, "YaRN: mscale of the rotated parts");
    v("mscale_all_dim", mscale_all_dim, "YaRN: mscale of the softmax scale (0 = none)");
  }
  void validate() const;
};

// The RoPE of a config: base, rotated width and YaRN (factor 1 = plain RoPE). inv_freq(i) for pair i < Dr/2 and the
// multiplier of cos / sin; equality compares everything that changes the rotation.
struct RopeSpec {
  double theta = 10000.0;
  double factor = 1.0;         // 1: no YaRN
  double original_max_pos = 0;
  double beta_fast = 32.0, beta_slow = 1.0;
  double cos_sin_scale = 1.0;  // YaRN mscale ratio
  std::vector<double> inv_freq(int Dr) const;
  bool operator==(const RopeSpec&) const = default;
};
double yarn_get_mscale(double scale, double mscale);

struct ModelConfig {
  // ---- architecture (HF DeepseekV3Config keys) ----
  int vocab_size = 512;
  int hidden_size = 128;                 // d
  int intermediate_size = 256;           // dense SwiGLU width (first_k_dense_replace layers)
  int moe_intermediate_size = 64;        // width of one routed / shared expert
  int num_hidden_layers = 4;
  int num_attention_heads = 4;           // n_h (= num_key_value_heads)
  int q_lora_rank = 64;                  // d'_c; 0 = plain q_proj
  int kv_lora_rank = 64;                 // d_c, the cached latent
  int qk_nope_head_dim = 32;             // d_h
  int qk_rope_head_dim = 16;             // d_h^R (even)
  int v_head_dim = 32;
  int n_shared_experts = 1;
  int n_routed_experts = 8;              // N_r
  int num_experts_per_tok = 2;           // K_r
  int n_group = 1;                       // expert groups for group-limited routing
  int topk_group = 1;                    // groups kept per token
  double routed_scaling_factor = 1.0;
  bool norm_topk_prob = true;
  int first_k_dense_replace = 1;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  int max_position_embeddings = 2048;
  RopeScaling rope_scaling;              // HF rope_scaling (YaRN or none)
  int num_nextn_predict_layers = 0;      // MTP depth (0 or 1)
  double initializer_range = 0.02;       // std of the normal init of every linear / embedding weight
  // ---- training knobs (ours) ----
  double bias_update_speed = 0.001;      // u (gamma) of aux-loss-free balancing
  double seq_aux_alpha = 0.0;            // alpha of the sequence-wise balance loss (0 = off; V3 used 1e-4)
  double mtp_loss_weight = 0.3;          // lambda of the MTP loss
  bool activation_checkpointing = false;  // training: keep only each block's input, recompute its forward in backward

  template <class V>
  void visit(V& v) {
    v("vocab_size", vocab_size, "vocabulary size (embedding and lm_head rows)");
    v("hidden_size", hidden_size, "model width d");
    v("intermediate_size", intermediate_size, "dense SwiGLU FFN width (the first first_k_dense_replace layers)");
    v("moe_intermediate_size", moe_intermediate_size, "width of one routed or shared expert");
    v("num_hidden_layers", num_hidden_layers, "number of transformer blocks");
    v("num_attention_heads", num_attention_heads, "attention heads n_h");
    v("q_lora_rank", q_lora_rank, "low-rank query width d'_c (0 = plain q_proj)");
    v("kv_lora_rank", kv_lora_rank, "compressed KV latent width d_c (cached per token and layer)");
    v("qk_nope_head_dim", qk_nope_head_dim, "per-head query/key width without RoPE");
    v("qk_rope_head_dim", qk_rope_head_dim, "per-head decoupled RoPE width (even; the shared key k_R has this width)");
    v("v_head_dim", v_head_dim, "per-head value width");
    v("n_shared_experts", n_shared_experts, "shared experts (always active; one SwiGLU of n_shared_experts*moe_intermediate_size)");
    v("n_routed_experts", n_routed_experts, "routed experts N_r");
    v("num_experts_per_tok", num_experts_per_tok, "routed experts per token K_r");
    v("n_group", n_group, "expert groups for group-limited routing (1 = off)");
    v("topk_group", topk_group, "groups kept per token");
    v("routed_scaling_factor", routed_scaling_factor, "multiplier of the routed gate weights");
    v("norm_topk_prob", norm_topk_prob, "normalise the selected gate weights to sum to 1");
    v("first_k_dense_replace", first_k_dense_replace, "leading layers with a dense SwiGLU instead of MoE");
    v("rms_norm_eps", rms_norm_eps, "RMSNorm epsilon");
    v("rope_theta", rope_theta, "RoPE base");
    v("max_position_embeddings", max_position_embeddings, "longest sequence (positions) the model accepts");
    v("rope_scaling", rope_scaling, "rope scaling (YaRN); type none = plain RoPE");
    v("num_nextn_predict_layers", num_nextn_predict_layers, "multi-token prediction depth (0 or 1)");
    v("initializer_range", initializer_range, "std of the normal initialisation of weights");
    v("bias_update_speed", bias_update_speed, "aux-loss-free balancing: router bias step u per update (0 = frozen)");
    v("seq_aux_alpha", seq_aux_alpha, "weight alpha of the sequence-wise balance loss (0 = off)");
    v("mtp_loss_weight", mtp_loss_weight, "weight lambda of the MTP loss");
    v("activation_checkpointing", activation_checkpointing,
      "training memory: keep only each block's input and recompute the block in backward (same gradients, ~1.3x time)");
  }
  void validate() const;

  // Derived sizes.
  int q_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
  bool is_moe_layer(int l) const { return l >= first_k_dense_replace; }
  float softmax_scale() const;  // 1/sqrt(q_head_dim), times YaRN's mscale(factor, mscale_all_dim)^2
  RopeSpec rope_spec() const;
  // Bytes of KV cache per token over all layers (fp32 c_KV + k_R).
  size_t kv_bytes_per_token() const { return sizeof(float) * size_t(kv_lora_rank + qk_rope_head_dim) * num_hidden_layers; }
};

// Two configs describe the same parameter layout (and so params can be copied between models).
bool same_architecture(const ModelConfig& a, const ModelConfig& b);

// Load a preset / config.json (HF extras such as model_type, architectures, scoring_func are accepted and checked).
// HF's own config.json is accepted as HF writes it for DeepseekV3ForCausalLM (and DeepseekV2ForCausalLM where it is
// this architecture): keys that do not change the computation (bos_token_id, transformers_version, ...) are ignored;
// keys that do and that we do not implement are ConfigErrors naming the key. notes (optional) gets what was mapped.
ModelConfig load_model_config(const std::string& path);
ModelConfig parse_model_config(const std::string& text, const std::string& path,
                               std::vector<std::string>* notes = nullptr);
// HF config.json keys that do not change the computation (ignored on load, carried over on HF export).
bool is_hf_passive_key(const std::string& key);
// config.json text with the HF keys plus model_type/architectures/scoring_func/topk_method/hidden_act/... for HF tools.
std::string model_config_hf_json(const ModelConfig& c);

}  // namespace reasonrl::model

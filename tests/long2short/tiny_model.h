// tiny_model.h: the very small model config the long2short tests use (vocab 40, 2 layers, 4 routed experts).
#pragma once
#include "model/model.h"

namespace reasonrl::long2short::testing {

// `mtp_depth` 0 or 1 (num_nextn_predict_layers).
inline model::ModelConfig tiny_model_config(int hidden = 32, int mtp_depth = 0) {
  model::ModelConfig m;
  m.vocab_size = 40;
  m.hidden_size = hidden;
  m.intermediate_size = 64;
  m.moe_intermediate_size = 16;
  m.num_hidden_layers = 2;
  m.num_attention_heads = 2;
  m.q_lora_rank = 16;
  m.kv_lora_rank = 16;
  m.qk_nope_head_dim = 8;
  m.qk_rope_head_dim = 8;
  m.v_head_dim = 8;
  m.n_routed_experts = 4;
  m.num_experts_per_tok = 2;
  m.max_position_embeddings = 64;
  m.num_nextn_predict_layers = mtp_depth;
  return m;
}

}  // namespace reasonrl::long2short::testing

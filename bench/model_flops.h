// model_flops.h: forward FLOPs per token of the policy model by layer type (shared by the model benchmarks).
#pragma once
#include "model/config.h"

namespace reasonrl::bench {

// Forward FLOPs per token per layer type (2 per multiply-add of every active weight; attention core counted with the
// causal half of the T x T score and value products).
struct Flops {
  double attn = 0, dense = 0, moe = 0, head = 0, mtp = 0;
  double total() const { return attn + dense + moe + head + mtp; }
};
inline Flops flops_per_token(const model::ModelConfig& c, int T) {
  const double D = c.hidden_size, H = c.num_attention_heads, Dq = c.q_head_dim(), Dn = c.qk_nope_head_dim,
               Dv = c.v_head_dim, C = c.kv_lora_rank, Dr = c.qk_rope_head_dim, Q = c.q_lora_rank;
  const double attn_w = (Q > 0 ? D * Q + Q * H * Dq : D * H * Dq) + D * (C + Dr) + C * H * (Dn + Dv) + H * Dv * D;
  const double attn_core = H * (T + 1) / 2.0 * (Dq + Dv);  // multiply-adds per token
  const double one_attn = 2 * (attn_w + attn_core);
  const double dense = 2 * 3 * D * c.intermediate_size;
  const double moe = 2 * (D * c.n_routed_experts + 3 * D * c.moe_intermediate_size *
                                                       (c.n_shared_experts + c.num_experts_per_tok));
  Flops f;
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    f.attn += one_attn;
    if (c.is_moe_layer(l)) f.moe += moe;
    else f.dense += dense;
  }
  f.head = 2 * D * c.vocab_size;
  if (c.num_nextn_predict_layers > 0 && c.mtp_loss_weight > 0)
    f.mtp = 2 * 2 * D * D + one_attn + (c.is_moe_layer(c.num_hidden_layers) ? moe : dense) + 2 * D * c.vocab_size;
  return f;
}

}  // namespace reasonrl::bench

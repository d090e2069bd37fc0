// model_decoder.h: the Decoder adapter over the real policy model (model/) and its paged MLA latent KV cache
// (model::KVCache: blocks of block_tokens positions, allocated as the slots' lengths grow, not n_slots x max_seq_len
// up front; block_tokens = 0 gives one contiguous block of max_seq_len per slot).
#pragma once

#include "model/model.h"
#include "policy/decoder.h"

namespace reasonrl::policy {

class ModelDecoder : public Decoder {
 public:
  // The model is borrowed (it must outlive the decoder); weight updates to it take effect at the next call.
  ModelDecoder(model::Model& m, int n_slots, int max_seq_len, int block_tokens = model::KVCache::kDefaultBlockTokens);
  int vocab() const override;
  int n_slots() const override { return cache_.n_slots(); }
  int max_seq_len() const override { return cache_.max_seq_len(); }
  int length(int slot) const override { return cache_.length(slot); }
  void reset(int slot) override { cache_.reset(slot); }
  void copy_slot(int src, int dst) override { cache_.copy_slot(src, dst); }
  void prefill(int slot, const int32_t* tokens, int n, float* last_logits) override;
  void decode_step(const int* slots, const int32_t* tokens, int n, float* logits) override;
  bool has_fused_sampling() const override { return true; }
  void decode_step_sample(const int* slots, const int32_t* tokens, int n, float temperature, const double* u,
                          int32_t* tok, double* logp) override;
  int32_t sample_logits(const float* logits, float temperature, double u, double* logp) const override;
  size_t kv_bytes_per_token() const override { return cache_.bytes_per_token(); }
  // State: for each layer, the slot's cached positions (length x (kv_lora_rank + qk_rope_head_dim) floats).
  bool save_slot(int slot, std::vector<float>* out) const override;
  void load_slot(int slot, const std::vector<float>& state) override;
  int route_width() const override { return m_.route_width(); }
  const int16_t* last_routes() const override { return m_.last_decode_routes().data(); }
  bool deterministic() const override { return m_.deterministic(); }

  model::Model& model() { return m_; }
  model::KVCache& cache() { return cache_; }

 private:
  model::Model& m_;
  model::KVCache cache_;
};

}  // namespace reasonrl::policy

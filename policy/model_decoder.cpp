// model_decoder.cpp: ModelDecoder forwards to Model::prefill / decode_step (/ decode_step_sample) on its own KVCache.
#include "policy/model_decoder.h"

#include <algorithm>
#include <string>

#include "model/fused_sample.h"
#include "rl/util/error.h"

namespace reasonrl::policy {

ModelDecoder::ModelDecoder(model::Model& m, int n_slots, int max_seq_len, int block_tokens)
    : m_(m), cache_(m.config(), n_slots, max_seq_len, block_tokens) {
  if (max_seq_len > m.config().max_position_embeddings)
    throw ConfigError("decoder max_seq_len " + std::to_string(max_seq_len) + " exceeds the model's max_position_embeddings " +
                      std::to_string(m.config().max_position_embeddings));
}

int ModelDecoder::vocab() const { return m_.config().vocab_size; }

void ModelDecoder::prefill(int slot, const int32_t* tokens, int n, float* last_logits) {
  m_.prefill(cache_, slot, tokens, n, last_logits);
}

void ModelDecoder::decode_step(const int* slots, const int32_t* tokens, int n, float* logits) {
  m_.decode_step(cache_, slots, tokens, n, logits);
}

void ModelDecoder::decode_step_sample(const int* slots, const int32_t* tokens, int n, float temperature, const double* u,
                                      int32_t* tok, double* logp) {
  m_.decode_step_sample(cache_, slots, tokens, n, 1.0f / temperature, u, tok, logp);
}

int32_t ModelDecoder::sample_logits(const float* logits, float temperature, double u, double* logp) const {
  return model::sample_logits_row(logits, vocab(), 1.0f / temperature, u, logp);
}

bool ModelDecoder::save_slot(int slot, std::vector<float>* out) const {
  const auto& c = m_.config();
  const size_t width = size_t(c.kv_lora_rank + c.qk_rope_head_dim), len = size_t(cache_.length(slot));
  out->resize(size_t(c.num_hidden_layers) * len * width);
  const size_t bt = size_t(cache_.block_tokens());
  for (int l = 0; l < c.num_hidden_layers; ++l)
    for (size_t p = 0; p < len; p += bt)  // a block's positions are contiguous
      std::copy_n(cache_.entry(l, slot, int(p)), std::min(bt, len - p) * width, out->data() + (size_t(l) * len + p) * width);
  return true;
}

void ModelDecoder::load_slot(int slot, const std::vector<float>& state) {
  const auto& c = m_.config();
  const size_t width = size_t(c.kv_lora_rank + c.qk_rope_head_dim), per_tok = width * size_t(c.num_hidden_layers);
  if (state.size() % per_tok != 0)
    throw FormatError("saved cache state has " + std::to_string(state.size()) + " floats, not a multiple of " +
                      std::to_string(per_tok) + " (layers x latent width): it is from another model");
  const size_t len = state.size() / per_tok;
  if (len > size_t(cache_.max_seq_len()))
    throw CapacityError("saved cache state holds " + std::to_string(len) + " tokens but a decoder slot holds " +
                        std::to_string(cache_.max_seq_len()));
  cache_.reset(slot);  // fresh blocks: never write into blocks shared with another slot
  cache_.set_length(slot, int(len));
  const size_t bt = size_t(cache_.block_tokens());
  for (int l = 0; l < c.num_hidden_layers; ++l)
    for (size_t p = 0; p < len; p += bt)
      std::copy_n(state.data() + (size_t(l) * len + p) * width, std::min(bt, len - p) * width, cache_.entry(l, slot, int(p)));
}

}  // namespace reasonrl::policy

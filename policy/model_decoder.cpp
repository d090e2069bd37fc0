// model_decoder.cpp: ModelDecoder forwards to Model::prefill / decode_step on its own KVCache.
#include "policy/model_decoder.h"

#include <algorithm>
#include <string>

#include "rl/util/error.h"

namespace reasonrl::policy {

ModelDecoder::ModelDecoder(model::Model& m, int n_slots, int max_seq_len) : m_(m), cache_(m.config(), n_slots, max_seq_len) {
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

bool ModelDecoder::save_slot(int slot, std::vector<float>* out) const {
  const auto& c = m_.config();
  const size_t width = size_t(c.kv_lora_rank + c.qk_rope_head_dim), len = size_t(cache_.length(slot));
  out->resize(size_t(c.num_hidden_layers) * len * width);
  for (int l = 0; l < c.num_hidden_layers; ++l)
    std::copy_n(cache_.entry(l, slot, 0), len * width, out->data() + size_t(l) * len * width);
  return true;
}

void ModelDecoder::load_slot(int slot, const std::vector<float>& state) {
  const auto& c = m_.config();
  const size_t width = size_t(c.kv_lora_rank + c.qk_rope_head_dim), per_tok = width * size_t(c.num_hidden_layers);
  if (state.size() % per_tok != 0)
    throw FormatError("saved cache state has " + std::to_string(state.size()) + " floats, not a multiple of " +
                      std::to_string(per_tok) + " (layers x latent width): it is from another model");
  const size_t len = state.size() / per_tok;
  cache_.set_length(slot, int(len));  // CapacityError if it does not fit
  for (int l = 0; l < c.num_hidden_layers; ++l)
    std::copy_n(state.data() + size_t(l) * len * width, len * width, cache_.entry(l, slot, 0));
}

}  // namespace reasonrl::policy

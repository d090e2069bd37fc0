// model_decoder.cpp: ModelDecoder forwards to Model::prefill / decode_step on its own KVCache.
#include "policy/model_decoder.h"

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

}  // namespace reasonrl::policy

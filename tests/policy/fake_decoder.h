// fake_decoder.h: FakeDecoder, a deterministic stand-in for the model behind the rollout engine's Decoder interface
// (policy/decoder.h), whose logits are a hash of each slot's whole context (for fast tests).
#pragma once

#include <cstdint>
#include <vector>

#include "policy/decoder.h"

namespace reasonrl::policy {

// logits[v] = scale * N(hash(context, v)) + bias[v]; the context is every token cached in the slot. Exceeding
// max_seq_len throws CapacityError, like the real cache.
class FakeDecoder : public Decoder {
 public:
  FakeDecoder(int vocab, int n_slots, int max_seq_len, uint64_t seed = 1, float scale = 2.0f);
  int vocab() const override { return vocab_; }
  int n_slots() const override { return int(slots_.size()); }
  int max_seq_len() const override { return max_seq_len_; }
  int length(int slot) const override;
  void reset(int slot) override;
  void copy_slot(int src, int dst) override;
  void prefill(int slot, const int32_t* tokens, int n, float* last_logits) override;
  void decode_step(const int* slots, const int32_t* tokens, int n, float* logits) override;
  bool save_slot(int slot, std::vector<float>* out) const override;  // the slot's tokens (its whole state)
  void load_slot(int slot, const std::vector<float>& state) override;

  // Added to every logits row (e.g. a large value on an eos id makes sequences short).
  std::vector<float>& bias() { return bias_; }
  // Sum of rows over decode_step calls and of tokens over prefill calls (for compute accounting in tests).
  int64_t rows_decoded() const { return rows_decoded_; }
  int64_t tokens_prefilled() const { return tokens_prefilled_; }

  // The logits of a context given as a whole (what a teacher-forced forward would produce at its last position).
  void logits_for(const int32_t* context, int n, float* out) const;

  // Router replay stand-in: with a width > 0, each row whose logits are written also gets `width` ids in [0, 1000),
  // another hash of the same context (routes_for gives them for a context given as a whole).
  void set_route_width(int width) { route_width_ = width; }
  int route_width() const override { return route_width_; }
  const int16_t* last_routes() const override { return routes_.data(); }
  void routes_for(const int32_t* context, int n, int16_t* out) const;

 private:
  struct Slot {
    std::vector<int32_t> tokens;
    uint64_t hash = 0;
  };
  void append(Slot& s, int32_t tok);
  void write_logits(uint64_t hash, float* out) const;
  void write_routes(uint64_t hash, int16_t* out) const;
  int vocab_, max_seq_len_;
  uint64_t seed_;
  float scale_;
  std::vector<Slot> slots_;
  std::vector<float> bias_;
  int route_width_ = 0;
  std::vector<int16_t> routes_;
  int64_t rows_decoded_ = 0, tokens_prefilled_ = 0;
};

}  // namespace reasonrl::policy

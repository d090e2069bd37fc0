// decoder.h: the small interface the rollout engine drives (a model plus its KV cache, addressed by slots), and
// FakeDecoder, a deterministic stand-in whose logits are a hash of each slot's whole context (for fast tests).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace reasonrl::policy {

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual int vocab() const = 0;
  virtual int n_slots() const = 0;
  virtual int max_seq_len() const = 0;    // tokens per slot
  virtual int length(int slot) const = 0;  // tokens cached in `slot`
  virtual void reset(int slot) = 0;
  virtual void copy_slot(int src, int dst) = 0;  // dst becomes a copy of src (dst is overwritten)
  // Appends n tokens to `slot` and writes the logits after the last one (vocab floats).
  virtual void prefill(int slot, const int32_t* tokens, int n, float* last_logits) = 0;
  // Row i appends tokens[i] to slots[i]; writes logits (n, vocab). Slots are distinct.
  virtual void decode_step(const int* slots, const int32_t* tokens, int n, float* logits) = 0;
  // Size of one cached token in bytes (0 if the decoder has no real cache).
  virtual size_t kv_bytes_per_token() const { return 0; }
  // The cached state of `slot` as floats (a layout of the decoder's own) and its inverse, so a partial rollout can
  // keep its cache across calls instead of re-prefilling (partial_rollout_kv = reuse). save_slot returns false if
  // the decoder cannot; load_slot overwrites `slot` and throws CapacityError / FormatError on a state that does not fit.
  virtual bool save_slot(int slot, std::vector<float>* out) const {
    (void)slot;
    (void)out;
    return false;
  }
  virtual void load_slot(int slot, const std::vector<float>& state);
};

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

 private:
  struct Slot {
    std::vector<int32_t> tokens;
    uint64_t hash = 0;
  };
  void append(Slot& s, int32_t tok);
  void write_logits(uint64_t hash, float* out) const;
  int vocab_, max_seq_len_;
  uint64_t seed_;
  float scale_;
  std::vector<Slot> slots_;
  std::vector<float> bias_;
  int64_t rows_decoded_ = 0, tokens_prefilled_ = 0;
};

}  // namespace reasonrl::policy

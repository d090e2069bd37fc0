// decoder.h: the small interface the rollout engine drives (a model plus its KV cache, addressed by slots).
// The real one is ModelDecoder (model_decoder.h); the tests drive a hash-of-context stand-in (tests/policy/fake_decoder.h).
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
  // The output head fused with sampling from the untruncated softmax (model/fused_sample.h), if the decoder has one.
  // decode_step_sample is decode_step, but row i's next token is drawn from softmax(logits_i / temperature) with the
  // uniform u[i] in [0, 1) and written to tok[i], its log-prob to logp[i]; no (n, vocab) logits are written.
  // sample_logits draws the same way from one given logits row (vocab floats). The defaults throw.
  virtual bool has_fused_sampling() const { return false; }
  virtual void decode_step_sample(const int* slots, const int32_t* tokens, int n, float temperature, const double* u,
                                  int32_t* tok, double* logp);
  virtual int32_t sample_logits(const float* logits, float temperature, double u, double* logp) const;
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
  // Router replay: route_width() int16 expert ids per row (an MoE model's routed experts, model.h); the rows whose
  // logits the last prefill (its last token) or decode_step (every row, in order) wrote. Width 0 = none recorded.
  virtual int route_width() const { return 0; }
  virtual const int16_t* last_routes() const { return nullptr; }
  // True when the decoder's logits are bit-identical to the trainer's forward (model.h set_deterministic): the rollout
  // then records sampling_logprob of them (the trainer's function) instead of the sampler chain's own log-prob.
  virtual bool deterministic() const { return false; }
};

}  // namespace reasonrl::policy

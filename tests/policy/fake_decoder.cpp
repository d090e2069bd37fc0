// fake_decoder.cpp: FakeDecoder, the deterministic hash-of-context decoder used by the engine's fast tests.
#include "tests/policy/fake_decoder.h"

#include <string>

#include "rl/util/error.h"

namespace reasonrl::policy {
namespace {
inline uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace

FakeDecoder::FakeDecoder(int vocab, int n_slots, int max_seq_len, uint64_t seed, float scale)
    : vocab_(vocab), max_seq_len_(max_seq_len), seed_(seed), scale_(scale), slots_(size_t(n_slots)), bias_(size_t(vocab), 0.0f) {
  if (vocab <= 0 || n_slots <= 0 || max_seq_len <= 0) throw ConfigError("FakeDecoder: vocab, n_slots and max_seq_len must be > 0");
  for (auto& s : slots_) s.hash = mix64(seed_);
}

int FakeDecoder::length(int slot) const { return int(slots_.at(size_t(slot)).tokens.size()); }

void FakeDecoder::reset(int slot) {
  auto& s = slots_.at(size_t(slot));
  s.tokens.clear();
  s.hash = mix64(seed_);
}

void FakeDecoder::copy_slot(int src, int dst) { slots_.at(size_t(dst)) = slots_.at(size_t(src)); }

bool FakeDecoder::save_slot(int slot, std::vector<float>* out) const {
  const auto& s = slots_.at(size_t(slot));
  out->assign(s.tokens.begin(), s.tokens.end());  // token ids < 2^24 are exact as floats
  return true;
}

void FakeDecoder::load_slot(int slot, const std::vector<float>& state) {
  reset(slot);
  auto& s = slots_.at(size_t(slot));
  for (float f : state) append(s, int32_t(f));
}

void FakeDecoder::append(Slot& s, int32_t tok) {
  if (int(s.tokens.size()) >= max_seq_len_)
    throw CapacityError("KV cache slot full: " + std::to_string(max_seq_len_) + " tokens (FakeDecoder)");
  if (tok < 0 || tok >= vocab_) throw Error("FakeDecoder: token " + std::to_string(tok) + " outside the vocabulary");
  s.tokens.push_back(tok);
  s.hash = mix64(s.hash ^ (uint64_t(uint32_t(tok)) + 0x9e3779b97f4a7c15ULL));
}

void FakeDecoder::write_logits(uint64_t hash, float* out) const {
  for (int v = 0; v < vocab_; ++v) {
    const uint64_t a = mix64(hash + uint64_t(v) * 0x9e3779b97f4a7c15ULL);
    // sum of four 16-bit uniforms: roughly normal, mean 0, unit variance
    double u = 0;
    for (int k = 0; k < 4; ++k) u += double((a >> (16 * k)) & 0xffff) / 65536.0;
    out[v] = float(scale_ * (u - 2.0) * 1.7320508) + bias_[size_t(v)];
  }
}

void FakeDecoder::prefill(int slot, const int32_t* tokens, int n, float* last_logits) {
  if (n <= 0) throw Error("FakeDecoder::prefill: no tokens");
  auto& s = slots_.at(size_t(slot));
  for (int i = 0; i < n; ++i) append(s, tokens[i]);
  tokens_prefilled_ += n;
  write_logits(s.hash, last_logits);
  routes_.resize(size_t(route_width_));
  write_routes(s.hash, routes_.data());
}

void FakeDecoder::decode_step(const int* slots, const int32_t* tokens, int n, float* logits) {
  for (int i = 0; i < n; ++i) append(slots_.at(size_t(slots[i])), tokens[i]);
  for (int i = 0; i < n; ++i) write_logits(slots_[size_t(slots[i])].hash, logits + int64_t(i) * vocab_);
  routes_.resize(size_t(n) * size_t(route_width_));
  for (int i = 0; i < n; ++i) write_routes(slots_[size_t(slots[i])].hash, routes_.data() + size_t(i) * route_width_);
  rows_decoded_ += n;
}

void FakeDecoder::logits_for(const int32_t* context, int n, float* out) const {
  Slot s;
  s.hash = mix64(seed_);
  for (int i = 0; i < n; ++i) const_cast<FakeDecoder*>(this)->append(s, context[i]);
  write_logits(s.hash, out);
}

void FakeDecoder::write_routes(uint64_t hash, int16_t* out) const {
  for (int k = 0; k < route_width_; ++k) out[k] = int16_t(mix64(hash ^ (0x51ed27ULL + uint64_t(k))) % 1000);
}

void FakeDecoder::routes_for(const int32_t* context, int n, int16_t* out) const {
  Slot s;
  s.hash = mix64(seed_);
  for (int i = 0; i < n; ++i) const_cast<FakeDecoder*>(this)->append(s, context[i]);
  write_routes(s.hash, out);
}

}  // namespace reasonrl::policy

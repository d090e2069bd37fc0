// rng.h: the one random number generator (xoshiro256**), with state that saves to and loads from checkpoints.
// Same seed, same numbers on every platform: no std:: distributions (their output is implementation-defined).
#pragma once
#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>

namespace reasonrl {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) { reseed(seed); }
  void reseed(uint64_t seed);
  // An independent stream for a component: Rng(derive_seed(seed, "rollout", rank)).
  static uint64_t derive_seed(uint64_t seed, uint64_t stream, uint64_t sub = 0);

  uint64_t next_u64();
  // Uniform in [0, 1) with 24 (float) or 53 (double) random bits.
  float uniform_f();
  double uniform();
  // Uniform integer in [0, n), unbiased (n > 0).
  uint64_t below(uint64_t n);
  // Standard normal (Box-Muller, both values used).
  double normal();

  std::array<uint64_t, 4> state() const { return s_; }
  void set_state(const std::array<uint64_t, 4>& s) { s_ = s; has_spare_ = false; }
  nlohmann::ordered_json to_json() const;
  void from_json(const nlohmann::ordered_json& j);

 private:
  std::array<uint64_t, 4> s_{};
  bool has_spare_ = false;
  double spare_ = 0;
};

}  // namespace reasonrl

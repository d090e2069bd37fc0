// test_util.h: helpers shared by the model tests (presets, random tokens, perturbing a fresh model).
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "model/model.h"
#include "rl/util/rng.h"

namespace reasonrl::model::testing {

inline ModelConfig micro_config() { return load_model_config(std::string(REASONRL_SOURCE_DIR) + "/configs/model_micro.json"); }

inline std::vector<int32_t> random_tokens(int n, int V, uint64_t seed) {
  Rng r(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = int32_t(r.below(uint64_t(V)));
  return t;
}

// Make norms, router biases and weights less trivial than a fresh init, so every path carries signal.
template <class M>
void perturb(M& m, uint64_t seed, double norm_noise = 0.2, double bias_noise = 0.05) {
  Rng r(seed);
  auto p = m.params();
  for (const auto& t : m.tensors()) {
    const bool norm = t.shape.size() == 1 && t.name.find("bias") == std::string::npos;
    const bool bias = t.name.find("e_score_correction_bias") != std::string::npos;
    if (!norm && !bias) continue;
    for (size_t i = 0; i < t.size; ++i) p[t.offset + i] += typename M::Scalar((norm ? norm_noise : bias_noise) * r.normal());
  }
}

// Max |a - b| / max |b| (with a floor) over n values.
inline double rel_err(const double* a, const double* b, size_t n, double floor = 1e-12) {
  double num = 0, den = floor;
  for (size_t i = 0; i < n; ++i) {
    num = std::max(num, std::abs(a[i] - b[i]));
    den = std::max(den, std::abs(b[i]));
  }
  return num / den;
}
inline double rel_err(const float* a, const float* b, size_t n, double floor = 1e-12) {
  double num = 0, den = floor;
  for (size_t i = 0; i < n; ++i) {
    num = std::max(num, std::abs(double(a[i]) - double(b[i])));
    den = std::max(den, std::abs(double(b[i])));
  }
  return num / den;
}

}  // namespace reasonrl::model::testing

// test_util.h: helpers shared by the model tests (presets, random tokens, perturbing a fresh model).
#pragma once
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

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

inline std::vector<double> randn(size_t n, uint64_t seed, double s = 1.0) {
  Rng r(seed);
  std::vector<double> v(n);
  for (auto& x : v) x = s * r.normal();
  return v;
}
inline std::vector<float> tof(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

// Central differences of the probe-weighted output sum(out * probe) against the backward's gradient for every input
// element: max |FD - analytic| / max |analytic| < 1e-7 (double).
inline void fd_check(const char* what, std::vector<double>& in, size_t out_n,
              const std::function<void(std::vector<double>&)>& fwd,
              const std::function<std::vector<double>(const std::vector<double>&)>& bwd) {
  auto probe = randn(out_n, 99);
  std::vector<double> out(out_n);
  auto lossf = [&] {
    fwd(out);
    double s = 0;
    for (size_t i = 0; i < out_n; ++i) s += out[i] * probe[i];
    return s;
  };
  lossf();
  const auto g = bwd(probe);
  double num = 0, den = 1e-12;
  for (size_t i = 0; i < in.size(); ++i) {
    const double old = in[i], h = 1e-6;
    in[i] = old + h;
    const double a = lossf();
    in[i] = old - h;
    const double b = lossf();
    in[i] = old;
    num = std::max(num, std::abs((a - b) / (2 * h) - g[i]));
    den = std::max(den, std::abs(g[i]));
  }
  EXPECT_LT(num / den, 1e-7) << what;
}

}  // namespace reasonrl::model::testing

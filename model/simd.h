// simd.h: 64-byte vector-extension helpers shared by the CPU kernels (layers.cpp, flash_attention.cpp, fused_head.cpp):
// lane types, unaligned loads, log-depth lane sums, a vectorised expf and the softmax reductions built on it.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstring>

namespace reasonrl::model::simd {
// Dot products over one 64-byte register of lanes (GCC/Clang vector extensions) with a log-depth final sum: GCC's
// `omp simd reduction` ends in a serial lane-by-lane sum through the stack, which dominated these short dots.
// dot4 shares the loads of b across four a rows.
typedef float Vec64f __attribute__((vector_size(64)));
typedef double Vec64d __attribute__((vector_size(64)));
template <class S>
struct Vec64Of;
template <>
struct Vec64Of<float> {
  using type = Vec64f;
};
template <>
struct Vec64Of<double> {
  using type = Vec64d;
};
template <class S>
using Vec64 = typename Vec64Of<S>::type;
template <class S>
constexpr int kLanes = 64 / int(sizeof(S));
template <class S>
inline Vec64<S> load64(const S* p) {
  Vec64<S> v;
  std::memcpy(&v, p, 64);
  return v;
}
typedef float Vec32f __attribute__((vector_size(32)));
typedef float Vec16f __attribute__((vector_size(16)));
typedef double Vec32d __attribute__((vector_size(32)));
typedef double Vec16d __attribute__((vector_size(16)));
// Sum of the lanes by halving (log depth, stays in registers).
template <class S>
inline S lane_sum(Vec64<S> v);
template <>
inline float lane_sum<float>(Vec64f v) {
  const Vec32f a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                   __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const Vec16f b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return (b[0] + b[2]) + (b[1] + b[3]);
}
template <>
inline double lane_sum<double>(Vec64d v) {
  const Vec32d a = __builtin_shufflevector(v, v, 0, 1, 2, 3) + __builtin_shufflevector(v, v, 4, 5, 6, 7);
  const Vec16d b = __builtin_shufflevector(a, a, 0, 1) + __builtin_shufflevector(a, a, 2, 3);
  return b[0] + b[1];
}
// exp of 16 floats (Cephes' expf: range reduction by ln 2 in two parts, a polynomial, 2^k through the exponent bits;
// within 2 ulp of std::exp; inputs clamped to [-87.3, 88.4], so no inf comes out).
inline Vec64f vexp(Vec64f x) {
  typedef int Vec64i __attribute__((vector_size(64)));
  const Vec64f lo = Vec64f{} - 87.33654f, hi = Vec64f{} + 88.37626f;
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  const Vec64f y = x * 1.44269504088896341f + 0.5f;
  Vec64i k = __builtin_convertvector(y, Vec64i);                   // truncation toward zero
  k += (__builtin_convertvector(k, Vec64f) > y);                   // -> floor (true is -1)
  const Vec64f kf = __builtin_convertvector(k, Vec64f);
  const Vec64f r = x - kf * 0.693359375f + kf * 2.12194440e-4f;
  Vec64f p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const Vec64i bits = (k + 127) << 23;
  Vec64f scale;
  std::memcpy(&scale, &bits, 64);
  return p * scale;
}
// s[j] = exp(s[j] - mx) for j < n, returns the sum. float: vexp, 16 lanes at a time. double (finite-difference tests
// only): std::exp.
inline float exp_shift_sum(float* __restrict s, int n, float mx) {
  constexpr int L = 16;
  Vec64f acc = {};
  int j = 0;
  for (; j + L <= n; j += L) {
    const Vec64f e = vexp(load64(s + j) - mx);
    std::memcpy(s + j, &e, 64);
    acc += e;
  }
  if (j < n) {
    float t[L];
    for (int i = 0; i < L; ++i) t[i] = j + i < n ? s[j + i] - mx : -1000.0f;
    Vec64f e = vexp(load64(t));
    std::memcpy(t, &e, 64);
    for (int i = 0; j + i < n; ++i) {
      s[j + i] = t[i];
      acc[0] += t[i];
    }
  }
  return lane_sum<float>(acc);
}
inline double exp_shift_sum(double* s, int n, double mx) {
  double sum = 0;
  for (int j = 0; j < n; ++j) sum += (s[j] = std::exp(s[j] - mx));
  return sum;
}
// exp_shift_sum without writing the exps back (the same sum, bit for bit: same lanes, same order); with `moment`, also
// *moment = sum_j exp(s[j] - mx) (s[j] - mx), an entropy's numerator.
template <bool kMoment>
inline float exp_sum_impl(const float* __restrict s, int n, float mx, float* moment) {
  constexpr int L = 16;
  Vec64f acc = {}, mom = {};
  int j = 0;
  for (; j + L <= n; j += L) {
    const Vec64f d = load64(s + j) - mx, e = vexp(d);
    acc += e;
    if constexpr (kMoment) mom += e * d;
  }
  if (j < n) {
    float t[L], dt[L];
    for (int i = 0; i < L; ++i) dt[i] = t[i] = j + i < n ? s[j + i] - mx : -1000.0f;
    Vec64f e = vexp(load64(t));
    std::memcpy(t, &e, 64);
    for (int i = 0; j + i < n; ++i) {
      acc[0] += t[i];
      if constexpr (kMoment) mom[0] += t[i] * dt[i];
    }
  }
  if constexpr (kMoment) *moment = lane_sum<float>(mom);
  return lane_sum<float>(acc);
}
inline float exp_sum(const float* s, int n, float mx, float* moment = nullptr) {
  return moment ? exp_sum_impl<true>(s, n, mx, moment) : exp_sum_impl<false>(s, n, mx, nullptr);
}
inline double exp_sum(const double* s, int n, double mx, double* moment = nullptr) {
  double sum = 0, m = 0;
  for (int j = 0; j < n; ++j) {
    const double e = std::exp(s[j] - mx);
    sum += e;
    m += e * (s[j] - mx);
  }
  if (moment) *moment = m;
  return sum;
}
// max of s[0, n), n >= 1, lane-wise (exact: max does not depend on the order; a scalar max chain is latency-bound and
// GCC does not vectorise it without -ffinite-math-only).
template <class S>
inline S max_of(const S* s, int n) {
  constexpr int L = kLanes<S>;
  S mx = s[0];
  int j = 0;
  if (n >= L) {
    Vec64<S> m = load64(s);
    for (j = L; j + L <= n; j += L) {
      const Vec64<S> v = load64(s + j);
      m = m > v ? m : v;
    }
    for (int k = 0; k < L; ++k) mx = std::max(mx, m[k]);
  }
  for (; j < n; ++j) mx = std::max(mx, s[j]);
  return mx;
}
}  // namespace reasonrl::model::simd

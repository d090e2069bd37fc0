// machine_peak.h: the FP32 FMA peak of this machine, measured (shared by the benchmarks).
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstdio>

namespace reasonrl::bench {

// GFLOP/s of `threads` threads each running 12 independent 512-bit FMA chains (`iters` FMAs per lane); best of `reps`.
inline double fma_peak_gflops(int threads, long iters, int reps) {
  typedef float v16 __attribute__((vector_size(64)));
  double best = 0;
  for (int rep = 0; rep < reps; ++rep) {
    const double t0 = omp_get_wtime();
    float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    {
      v16 a[12], m, c;
      for (int i = 0; i < 16; ++i) m[i] = 0.999999f, c[i] = 1e-7f;
      for (int k = 0; k < 12; ++k)
        for (int i = 0; i < 16; ++i) a[k][i] = float(k + i);
      for (long it = 0; it < iters / 12; ++it)
        for (int k = 0; k < 12; ++k) a[k] = a[k] * m + c;
      for (int k = 0; k < 12; ++k)
        for (int i = 0; i < 16; ++i) sink += a[k][i];
    }
    const double dt = omp_get_wtime() - t0;
    best = std::max(best, double(threads) * double(iters / 12) * 12 * 16 * 2 / dt / 1e9);
    if (sink == 42) std::printf(" ");  // keeps the chains live
  }
  return best;
}

}  // namespace reasonrl::bench

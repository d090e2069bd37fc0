// machine_peak.h: the FP32 FMA peak and the read bandwidth of this machine, measured (shared by the benchmarks).
#pragma once
#include <omp.h>

#include <algorithm>
#include <cstddef>
#include <vector>
#include <cstdio>
#include <ctime>

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

// Read bandwidth (GB/s) over a buffer of `bytes` on `threads` threads: each thread sums its own contiguous chunk with
// 4 independent 512-bit accumulators, `passes` times per rep so that a rep reads >= 1 GB (tens of ms, longer than a
// scheduler time slice); best rep of several after a warm-up rep. With `bytes` = a working set that stays in cache,
// the peak rate at which that working set can be read. A bound for short kernels (decode steps of tens of µs) passes
// small `rep_bytes` and many `max_reps`: the best of many short reps is what an undisturbed window allows on a
// loaded machine, where a long rep is cut by other processes.
// cpu_time (one thread only): time each rep by the process's CPU time instead of the wall clock, for a bound that is
// compared with a decode timed the same way on a machine shared with other processes.
inline double read_peak_gbs(size_t bytes, int threads, size_t rep_bytes = size_t(1) << 30, int max_reps = 100,
                            bool cpu_time = false) {
  auto now = [cpu_time] {
    if (!cpu_time) return omp_get_wtime();
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
  };
  typedef float v16 __attribute__((vector_size(64)));
  const size_t n = std::max<size_t>(bytes / 64, 64) * 16;
  const int passes = int(std::max<size_t>(1, rep_bytes / (n * 4)));
  std::vector<float> buf(n, 1.0f);
  double best = 0, sink = 0;
  const double t_start = omp_get_wtime();
  for (int rep = 0; rep < max_reps && (rep < 3 || omp_get_wtime() - t_start < 0.5); ++rep) {
    const double t0 = now();
    double s = 0;
#pragma omp parallel num_threads(threads) reduction(+ : s)
    {
      const size_t nt = size_t(omp_get_num_threads()), id = size_t(omp_get_thread_num());
      const size_t nv = n / 16, b = nv * id / nt, e = nv * (id + 1) / nt;
      const v16* p = reinterpret_cast<const v16*>(buf.data());
      v16 a0 = {}, a1 = {}, a2 = {}, a3 = {};
      for (int pass = 0; pass < passes; ++pass) {
        size_t i = b;
        for (; i + 4 <= e; i += 4) a0 += p[i], a1 += p[i + 1], a2 += p[i + 2], a3 += p[i + 3];
        for (; i < e; ++i) a0 += p[i];
        a1 *= 0.5f;  // keeps the passes dependent on each other (not merged by the compiler)
      }
      const v16 t = a0 + a1 + a2 + a3;
      for (int k = 0; k < 16; ++k) s += t[k];
    }
    const double dt = now() - t0;
    sink += s;
    if (rep > 0) best = std::max(best, double(n) * 4 * passes / dt / 1e9);
  }
  if (sink == 42) std::printf(" ");
  return best;
}

}  // namespace reasonrl::bench

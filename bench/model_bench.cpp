// model_bench.cpp: training-step throughput of the policy model (tokens/s, achieved GFLOP/s on active parameters),
// forward / backward ms and GFLOP/s per layer type, and the FMA peak of this machine measured in the same run.
// Usage: bench_model [config.json] [--B 8] [--T 128] [--steps 10] [--threads N]
#include <omp.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench/machine_peak.h"
#include "bench/model_flops.h"
#include "bench/train_step.h"
#include "model/model.h"

using namespace reasonrl;
using namespace reasonrl::model;
using reasonrl::bench::Flops;
using reasonrl::bench::flops_per_token;

namespace {

// FMA peak: independent chains of vector FMAs on every thread (fp32). Returns GFLOP/s.
double fma_peak_gflops(int threads) { return bench::fma_peak_gflops(threads, 20'000'000, 3); }

}  // namespace

int main(int argc, char** argv) {
  std::string cfg_path = std::string(REASONRL_SOURCE_DIR) + "/configs/model_tiny.json";
  int B = 8, T = 128, steps = 10, threads = omp_get_max_threads();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--B" && i + 1 < argc) B = std::atoi(argv[++i]);
    else if (a == "--T" && i + 1 < argc) T = std::atoi(argv[++i]);
    else if (a == "--steps" && i + 1 < argc) steps = std::atoi(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else cfg_path = a;
  }
  omp_set_num_threads(threads);
  const ModelConfig cfg = load_model_config(cfg_path);
  bench::TrainBatch tb(cfg, B, T);
  Model& m = tb.m;
  const int N = B * T;

  const double peak = fma_peak_gflops(threads);
  const double peak1 = fma_peak_gflops(1);
  auto step = [&] { tb.step(); };
  step();  // warm-up (allocations)
  step();
  m.reset_timings();
  const double t0 = omp_get_wtime();
  for (int s = 0; s < steps; ++s) step();
  const double dt = (omp_get_wtime() - t0) / steps;
  const Flops f = flops_per_token(cfg, T);
  const double step_flops = 3.0 * f.total() * N;  // forward + backward (2x)
  std::printf("machine: %d threads, FMA peak %.1f GFLOP/s (%.1f on 1 thread), fp32 512-bit vectors\n", threads, peak,
              peak1);
  std::printf("model: %s, %zu params (%zu active), B=%d T=%d\n", cfg_path.c_str(), m.num_params(),
              m.num_active_params(), B, T);
  std::printf("train step: %.1f ms, %.0f tokens/s, %.2f GFLOP/s = %.1f%% of peak (model FLOPs = 3 x forward)\n",
              dt * 1e3, N / dt, step_flops / dt / 1e9, 100.0 * step_flops / dt / 1e9 / peak);
  const LayerTimings& tm = m.timings();
  double other = dt * steps;
  for (int k = 0; k < LayerTimings::kKinds; ++k) other -= tm.fwd[k] + tm.bwd[k];
  std::printf("%-10s %9s %9s %9s %9s %8s\n", "layer", "fwd ms", "bwd ms", "fwd GF/s", "bwd GF/s", "of peak");
  const double per_kind[] = {0, f.attn, f.dense, f.moe, f.head, f.mtp};
  for (int k = 0; k < LayerTimings::kKinds; ++k) {
    const double fw = tm.fwd[k] / steps, bw = tm.bwd[k] / steps;
    const double ff = per_kind[k] * N, bf = 2 * per_kind[k] * N;
    std::printf("%-10s %9.2f %9.2f %9.2f %9.2f %7.1f%%\n", LayerTimings::name(k), fw * 1e3, bw * 1e3,
                fw > 0 ? ff / fw / 1e9 : 0.0, bw > 0 ? bf / bw / 1e9 : 0.0,
                fw + bw > 0 && ff > 0 ? 100.0 * (ff + bf) / (fw + bw) / 1e9 / peak : 0.0);
  }
  std::printf("%-10s %9.2f   (loss, optimizer, router bias)\n", "other", other / steps * 1e3);
  return 0;
}

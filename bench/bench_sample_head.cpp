// bench_sample_head: one decode step's output head + sampling at a large vocabulary (issue 20: rollouts with
// DeepSeek-V3's 128k tokenizer), the three ways in one process:
//   gemm       the head GEMM alone, logits (n, V) (linear_forward_decode): what any unfused path pays before sampling
//   reference  the GEMM + the sampler chain per row (policy/sampling.h: temperature -> dist; the rollout's
//              sample_kernel reference)
//   fused      model::fused_head_sample (model/fused_sample.h; sample_kernel fused)
// Each row draws with the same uniform in both sampled variants (a per-row Rng, copied), so the tokens are compared.
// Usage: bench_sample_head [ROWS=64] [VOCAB=128815] [HIDDEN=128] [REPS=5] [TEMPERATURE=1]
// Prints "bench_sample_head ..." lines; times are the best of REPS (ms per step).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "bench/machine_peak.h"
#include "model/fused_sample.h"
#include "model/layers.h"
#include "policy/sampling.h"
#include "rl/util/rng.h"

using namespace reasonrl;

template <class F>
static double best_ms(int reps, F&& f) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const double t0 = omp_get_wtime();
    f();
    best = std::min(best, (omp_get_wtime() - t0) * 1e3);
  }
  return best;
}

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 64;
  const int V = argc > 2 ? std::atoi(argv[2]) : 128815;
  const int D = argc > 3 ? std::atoi(argv[3]) : 128;
  const int reps = argc > 4 ? std::atoi(argv[4]) : 5;
  const float temp = argc > 5 ? float(std::atof(argv[5])) : 1.0f;
  // Weights like an initialised head (std 0.02) and hidden rows like final-normed states (unit RMS, a few large
  // entries), so the softmax is neither flat nor one-hot.
  Rng g(7);
  std::vector<float> w(size_t(V) * D), x(size_t(n) * D), xs(x.size()), logits(size_t(n) * V);
  for (auto& v : w) v = 0.02f * float(g.normal());
  for (auto& v : x) v = float(g.normal()) * (g.uniform() < 0.05 ? 40.0f : 1.0f);
  for (size_t i = 0; i < x.size(); ++i) xs[i] = x[i] / temp;
  std::vector<Rng> rngs;
  for (int r = 0; r < n; ++r) rngs.emplace_back(1000 + uint64_t(r));

  policy::SamplingParams sp;
  sp.temperature = temp;
  policy::SamplerChain proto = policy::make_sampler_chain(sp);
  const size_t rows = static_cast<size_t>(n);
  std::vector<policy::Candidates> cand(rows);
  std::vector<int32_t> tok_ref(rows), tok_fused(rows);
  std::vector<double> lp_ref(rows), lp_fused(rows), u(rows);

  const double t_gemm = best_ms(reps, [&] { model::linear_forward_decode(logits.data(), x.data(), w.data(), n, D, V); });
  const double t_ref = best_ms(reps, [&] {
    model::linear_forward_decode(logits.data(), x.data(), w.data(), n, D, V);
    for (int r = 0; r < n; ++r) {
      Rng rr = rngs[size_t(r)];
      policy::SamplerChain chain = proto;
      tok_ref[size_t(r)] = policy::sample_token(chain, cand[size_t(r)], logits.data() + size_t(r) * V, V, rr,
                                                &lp_ref[size_t(r)]);
    }
  });
  const double t_fused = best_ms(reps, [&] {
    for (int r = 0; r < n; ++r) {
      Rng rr = rngs[size_t(r)];
      u[size_t(r)] = rr.uniform();
    }
    model::fused_head_sample(tok_fused.data(), lp_fused.data(), xs.data(), w.data(), u.data(), n, D, V);
  });
  int same = 0;
  double max_dlp = 0;
  for (int r = 0; r < n; ++r) {
    same += tok_ref[size_t(r)] == tok_fused[size_t(r)];
    if (tok_ref[size_t(r)] == tok_fused[size_t(r)])
      max_dlp = std::max(max_dlp, std::fabs(lp_ref[size_t(r)] - lp_fused[size_t(r)]));
  }
  const double flops = 2.0 * n * D * double(V);
  const int threads = omp_get_max_threads();
  const double peak = bench::fma_peak_gflops(threads, 200000000L / threads, 3);
  std::printf("bench_sample_head rows=%d vocab=%d hidden=%d threads=%d temperature=%g fma_peak_gflops=%.1f\n", n, V, D,
              threads, double(temp), peak);
  std::printf("bench_sample_head variant=gemm ms=%.3f gflops=%.1f of_peak=%.3f\n", t_gemm, flops / t_gemm / 1e6,
              flops / t_gemm / 1e6 / peak);
  std::printf("bench_sample_head variant=reference ms=%.3f sampling_ms_per_row=%.3f x_gemm=%.2f\n", t_ref,
              (t_ref - t_gemm) / n, t_ref / t_gemm);
  std::printf("bench_sample_head variant=fused ms=%.3f x_gemm=%.2f reference_over_fused=%.2f\n", t_fused,
              t_fused / t_gemm, t_ref / t_fused);
  std::printf("bench_sample_head tokens_equal=%d/%d max_abs_logp_diff=%.2e\n", same, n, max_dlp);
  return 0;
}

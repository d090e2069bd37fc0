// bench_long.cpp: long-sequence training and the large-vocabulary head (issue 20). Every configuration runs in its own
// forked process, so its peak resident memory (VmHWM) is its own; ratios come from the same run.
//   train: one train step (forward, next-token loss, backward, AdamW) at B x T with the reference attention kernel
//          (B, H, T, T probabilities) and the tiled one: ms/step, tokens/s, GFLOP/s with the attention core counted,
//          MFU against the FMA peak measured here, peak memory. T = 256 (B = 16), 4,096 and 16,384 (B = 1).
//   head:  the output head + log-softmax + backward for N positions of a V = 128k vocabulary, unfused (logits (N, V),
//          softmax_xent, linear_backward) vs fused (fused_head.h): ms and peak memory.
//   attention: the attention core alone (forward + backward), reference vs tiled, at T = 256, 1,024, 4,096.
// Usage: bench_long [MODEL_CONFIG=configs/model_long.json] [attention|train|head|all=all] [--quick]
//   --quick: T = 1,024 instead of 4,096 and no 16k (a smoke run). Prints "bench_long <what> key=value ..." lines.
#include <omp.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bench/machine_peak.h"
#include "bench/model_flops.h"
#include "bench/train_step.h"
#include "model/flash_attention.h"
#include "model/fused_head.h"
#include "model/layers.h"
#include "model/model.h"
#include "rl/util/rng.h"

using namespace reasonrl;
using namespace reasonrl::model;

namespace {

// Peak resident set (VmHWM) of this process in MB.
double peak_rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  return -1;
}

// Runs fn in a forked child (which starts its own OpenMP threads) and returns what it wrote into `out` (shared page).
template <class F>
std::vector<double> in_child(F fn) {
  auto* shared = static_cast<double*>(mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid == 0) {
    int rc = 0;
    try {
      fn(shared);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_long: %s\n", e.what());
      rc = 1;
    }
    std::fflush(stdout);
    _exit(rc);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  std::vector<double> r(shared, shared + 16);
  munmap(shared, 4096);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "bench_long: a measurement failed (child status %d)\n", status);
    std::exit(1);
  }
  return r;
}

struct TrainResult {
  double ms, tokens_per_s, gflops, mfu, peak_mb;
};

TrainResult train(const ModelConfig& cfg, int B, int T, AttentionKernel k, int steps, double peak_gflops) {
  const auto r = in_child([&](double* out) {
    bench::TrainBatch tb(cfg, B, T);
    tb.m.set_attention_kernel(k);
    auto step = [&] { tb.step(); };
    step();  // warm-up: allocations
    double best = 1e30;
    for (int s = 0; s < steps; ++s) {
      const double t0 = omp_get_wtime();
      step();
      best = std::min(best, omp_get_wtime() - t0);
    }
    out[0] = best;
    out[1] = peak_rss_mb();
  });
  const double flops = 3.0 * bench::flops_per_token(cfg, T).total() * B * T;
  return {r[0] * 1e3, B * T / r[0], flops / r[0] / 1e9, flops / r[0] / 1e9 / peak_gflops, r[1]};
}

void run_train(const ModelConfig& cfg, bool quick, double peak, int threads) {
  const int T_long = quick ? 1024 : 4096;
  struct Case {
    int B, T;
    AttentionKernel k;
    int steps;
  };
  std::vector<Case> cases = {{16, 256, AttentionKernel::Reference, 3}, {16, 256, AttentionKernel::Tiled, 3},
                             {1, T_long, AttentionKernel::Reference, 2}, {1, T_long, AttentionKernel::Tiled, 2}};
  if (!quick) cases.push_back({1, 16384, AttentionKernel::Tiled, 1});
  std::vector<TrainResult> res;
  for (const Case& c : cases) {
    res.push_back(train(cfg, c.B, c.T, c.k, c.steps, peak));
    const TrainResult& r = res.back();
    std::printf("bench_long train B=%d T=%d kernel=%s threads=%d ms_per_step=%.1f tokens_per_s=%.0f "
                "gflops=%.2f mfu=%.4f peak_rss_mb=%.1f attn_flops_share=%.3f\n",
                c.B, c.T, c.k == AttentionKernel::Tiled ? "tiled" : "reference", threads, r.ms, r.tokens_per_s,
                r.gflops, r.mfu, r.peak_mb, bench::flops_per_token(cfg, c.T).attn / bench::flops_per_token(cfg, c.T).total());
    std::fflush(stdout);
  }
  std::printf("bench_long train_ratios T_long=%d peak_mem_tiled_over_reference=%.4f tokens_per_s_long_over_256=%.3f "
              "gflops_long_over_256=%.3f mfu256_tiled_over_reference=%.3f\n",
              T_long, res[3].peak_mb / res[2].peak_mb, res[3].tokens_per_s / res[0].tokens_per_s,
              res[3].gflops / res[0].gflops, res[1].mfu / res[0].mfu);
}

// The attention core alone (forward + backward, tiny's heads and dims): reference vs tiled, B x T = 4,096 tokens.
void run_attention(const ModelConfig& c, int threads) {
  const int H = c.num_attention_heads, Dn = c.qk_nope_head_dim, Dr = c.qk_rope_head_dim, Dv = c.v_head_dim;
  const double scale = c.softmax_scale();
  for (int T : {256, 1024, 4096}) {
    const int B = 4096 / T, N = B * T;
    const auto r = in_child([&](double* out) {
      Rng rng(4);
      auto fill = [&](size_t n) {
        std::vector<float> v(n);
        for (auto& x : v) x = float(rng.normal());
        return v;
      };
      const auto q = fill(size_t(N) * H * (Dn + Dr)), kv = fill(size_t(N) * H * (Dn + Dv)), kpe = fill(size_t(N) * Dr),
                 dout = fill(size_t(N) * H * Dv);
      std::vector<float> o(size_t(N) * H * Dv), lse(size_t(N) * H), dq(q.size()), dkv(kv.size()), dkpe(kpe.size());
      const auto cu = uniform_cu_seqlens(B, T);
      for (int k = 0; k < 2; ++k) {
        double best = 1e30;
        for (int rep = 0; rep < 3; ++rep) {
          const double t0 = omp_get_wtime();
          if (k == 0) {
            std::vector<float> att(size_t(B) * H * T * T);
            mla_attention_forward(o.data(), att.data(), q.data(), kv.data(), kpe.data(), B, T, H, Dn, Dr, Dv, scale);
            mla_attention_backward(dq.data(), dkv.data(), dkpe.data(), dout.data(), att.data(), q.data(), kv.data(),
                                   kpe.data(), B, T, H, Dn, Dr, Dv, scale);
          } else {
            flash_mla_forward(o.data(), lse.data(), q.data(), kv.data(), kpe.data(), cu.data(), B, H, Dn, Dr, Dv, scale);
            flash_mla_backward(dq.data(), dkv.data(), dkpe.data(), dout.data(), o.data(), lse.data(), q.data(),
                               kv.data(), kpe.data(), cu.data(), B, H, Dn, Dr, Dv, scale);
          }
          best = std::min(best, omp_get_wtime() - t0);
        }
        out[k] = best;
      }
    });
    // causal multiply-adds: forward (scores + values) + backward (4 products), half the T x T block
    const double flops = 2.0 * B * H * (T * (T + 1) / 2.0) * (Dn + Dr + Dv) * 3;
    std::printf("bench_long attention B=%d T=%d threads=%d reference_ms=%.1f tiled_ms=%.1f reference_gflops=%.2f "
                "tiled_gflops=%.2f tiled_over_reference_time=%.3f\n",
                B, T, threads, r[0] * 1e3, r[1] * 1e3, flops / r[0] / 1e9, flops / r[1] / 1e9, r[1] / r[0]);
    std::fflush(stdout);
  }
}

void run_head(int threads) {
  const int N = 1024, D = 128, V = 128000, reps = 3;
  for (const bool fused : {false, true}) {
    const auto r = in_child([&](double* out) {
      Rng rng(3);
      std::vector<float> x(size_t(N) * D), w(size_t(V) * D), dx(x.size()), dw(w.size());
      for (auto& v : x) v = float(rng.normal());
      for (auto& v : w) v = float(0.05 * rng.normal());
      std::vector<int32_t> tgt(static_cast<size_t>(N));
      for (auto& t : tgt) t = int32_t(rng.below(uint64_t(V)));
      const double base = peak_rss_mb();
      double best = 1e30, loss = 0;
      for (int rep = 0; rep < reps; ++rep) {
        const double t0 = omp_get_wtime();
        if (fused) {
          std::vector<float> logp(static_cast<size_t>(N)), lse(logp.size()), dlogp(logp.size(), -1.0f / N);
          fused_head_logprob_forward(logp.data(), lse.data(), x.data(), w.data(), tgt.data(), N, D, V);
          fused_head_logprob_backward(dx.data(), dw.data(), dlogp.data(), lse.data(), x.data(), w.data(), tgt.data(),
                                      N, D, V);
          loss = 0;
          for (float l : logp) loss -= l;
        } else {
          std::vector<float> logits(size_t(N) * V);
          linear_forward(logits.data(), x.data(), w.data(), N, D, V);
          loss = softmax_xent(logits.data(), tgt.data(), static_cast<const float*>(nullptr), logits.data(),
                              1.0f / N, N, V);  // in place: logits -> dlogits
          linear_backward(dx.data(), dw.data(), logits.data(), x.data(), w.data(), N, D, V);
        }
        best = std::min(best, omp_get_wtime() - t0);
      }
      out[0] = best;
      out[1] = peak_rss_mb() - base;
      out[2] = loss / N;
    });
    std::printf("bench_long head variant=%s N=%d D=%d V=%d threads=%d ms=%.1f extra_peak_mb=%.1f mean_ce=%.5f\n",
                fused ? "fused" : "unfused", N, D, V, threads, r[0] * 1e3, r[1], r[2]);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string cfg_path = std::string(REASONRL_SOURCE_DIR) + "/configs/model_long.json", what = "all";
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "train" || a == "head" || a == "attention" || a == "all") what = a;
    else cfg_path = a;
  }
  try {
    const ModelConfig cfg = load_model_config(cfg_path);
    const auto pk = in_child([](double* out) {
      out[0] = bench::fma_peak_gflops(omp_get_max_threads(), 100'000'000, 3);
      out[1] = omp_get_max_threads();
    });
    const int threads = int(pk[1]);
    std::printf("bench_long machine fma_peak_gflops=%.1f threads=%d config=%s\n", pk[0], threads, cfg_path.c_str());
    if (what == "attention" || what == "all") run_attention(cfg, threads);
    if (what == "train" || what == "all") run_train(cfg, quick, pk[0], threads);
    if (what == "head" || what == "all") run_head(threads);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_long: %s\n", e.what());
    return 1;
  }
  return 0;
}

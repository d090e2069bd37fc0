// bench_long.cpp: long-sequence training and the large-vocabulary head (issue 20). Every configuration runs in its own
// forked process, so its peak resident memory (VmHWM) is its own; ratios come from the same run.
//   train: one train step (forward, next-token loss, backward, AdamW) at B x T with the reference attention kernel
//          (B, H, T, T probabilities) and the tiled one: ms/step, tokens/s, GFLOP/s with the attention core counted,
//          MFU against the FMA peak measured here, peak memory. T = 256 (B = 16), 4,096 and 16,384 (B = 1).
//   head:  the output head + log-softmax + backward for N positions of a V = 128k vocabulary, unfused (logits (N, V),
//          softmax_xent, linear_backward) vs fused (fused_head.h): ms and peak memory.
//   attention: the attention core alone (forward + backward), reference vs tiled, at T = 256, 1,024, 4,096.
//   decode: decode tokens/s at 1k, 4k and 16k cached positions, batch 1 and 32, and the fraction of the bound.
//   kvmem: the paged latent cache's peak memory for a long-tailed 16k-budget rollout vs the contiguous layout.
// Usage: bench_long [MODEL_CONFIG=configs/model_long.json] [attention|train|head|decode|kvmem|all=all] [--quick]
//   [--16k-both]
//   --quick: T = 1,024 instead of 4,096 and no 16k (a smoke run). --mem-only: the T_long and 16k train cases only,
//   a warm-up step and one timed step each (the steady-state peak memory; the tokens/s ratios need the full run). At 16k the train step runs with activation
//   checkpointing only (--16k-both: also without). Prints "bench_long <what> key=value ..." lines.
#include <omp.h>
#include <sys/mman.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
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

// CPU time of this process (all threads), seconds.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

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

TrainResult train(ModelConfig cfg, int B, int T, AttentionKernel k, bool ckpt, bool fused, int steps,
                  double peak_gflops) {
  cfg.activation_checkpointing = ckpt;
  const auto r = in_child([&](double* out) {
    bench::TrainBatch tb(cfg, B, T);
    tb.m.set_attention_kernel(k);
    if (fused) {  // step_fused does not use the (B, T, V) buffers
      std::vector<float>().swap(tb.logits);
      std::vector<float>().swap(tb.dl);
    }
    auto step = [&] { fused ? tb.step_fused() : tb.step(); };
    step();  // warm-up: first allocations and AdamW's moments; the peak below is a later step's (steady state)
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

void run_train(const ModelConfig& cfg, bool quick, bool only_ckpt_16k, bool mem_only, double peak, int threads) {
  const int T_long = quick ? 1024 : 4096;
  struct Case {
    int B, T;
    AttentionKernel k;
    bool ckpt;   // activation checkpointing
    bool fused;  // the fused head (forward_hidden + selected_logprobs) instead of (B, T, V) logits
    int steps;
  };
  const auto R = AttentionKernel::Reference, Ti = AttentionKernel::Tiled;
  // res[0..3] as before; [4] tiled + activation checkpointing at T_long, [5] the same through the fused head; then
  // 16k (tiled + checkpointing + fused head; --16k-both: also tiled alone)
  std::vector<Case> cases = {{16, 256, R, false, false, 3}, {16, 256, Ti, false, false, 3},
                             {1, T_long, R, false, false, 2}, {1, T_long, Ti, false, false, 2},
                             {1, T_long, Ti, true, false, 2}, {1, T_long, Ti, true, true, 2}};
  if (mem_only) {  // --mem-only: warm-up + one step per case, no T = 256 cases (peak memory does not depend on the load)
    cases.erase(cases.begin(), cases.begin() + 2);
    for (auto& c : cases) c.steps = 1;
  }
  if (!quick) cases.push_back({1, 16384, Ti, true, true, 1});
  if (!quick && !only_ckpt_16k) cases.push_back({1, 16384, Ti, false, false, 1});
  std::vector<TrainResult> res;
  for (const Case& c : cases) {
    res.push_back(train(cfg, c.B, c.T, c.k, c.ckpt, c.fused, c.steps, peak));
    const TrainResult& r = res.back();
    std::printf("bench_long train B=%d T=%d kernel=%s activation_checkpointing=%d fused_head=%d threads=%d "
                "ms_per_step=%.1f tokens_per_s=%.0f gflops=%.2f mfu=%.4f peak_rss_mb=%.1f attn_flops_share=%.3f\n",
                c.B, c.T, c.k == AttentionKernel::Tiled ? "tiled" : "reference", int(c.ckpt), int(c.fused), threads, r.ms,
                r.tokens_per_s,
                r.gflops, r.mfu, r.peak_mb, bench::flops_per_token(cfg, c.T).attn / bench::flops_per_token(cfg, c.T).total());
    std::fflush(stdout);
  }
  if (mem_only) {
    std::printf("bench_long train_ratios T_long=%d peak_mem_tiled_over_reference=%.4f "
                "peak_mem_tiled_checkpointed_over_reference=%.4f peak_mem_tiled_checkpointed_fused_over_reference=%.4f "
                "checkpointed_step_time_over_tiled=%.3f\n",
                T_long, res[1].peak_mb / res[0].peak_mb, res[2].peak_mb / res[0].peak_mb, res[3].peak_mb / res[0].peak_mb,
                res[2].ms / res[1].ms);
    return;
  }
  std::printf("bench_long train_ratios T_long=%d peak_mem_tiled_over_reference=%.4f "
              "peak_mem_tiled_checkpointed_over_reference=%.4f peak_mem_tiled_checkpointed_fused_over_reference=%.4f "
              "tokens_per_s_long_over_256=%.3f gflops_long_over_256=%.3f mfu256_tiled_over_reference=%.3f "
              "checkpointed_step_time_over_tiled=%.3f\n",
              T_long, res[3].peak_mb / res[2].peak_mb, res[4].peak_mb / res[2].peak_mb, res[5].peak_mb / res[2].peak_mb,
              res[3].tokens_per_s / res[0].tokens_per_s, res[3].gflops / res[0].gflops, res[1].mfu / res[0].mfu,
              res[4].ms / res[3].ms);
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

// Decode at long context (issue 20 section 5): `batch` rows each holding `ctx` cached positions (filled with random
// latent entries: decode's cost does not depend on their values), then `steps` decode steps; tokens/s (best of
// several passes, the rows truncated back to ctx before each; on one thread timed by the process's CPU time, so that
// a shared machine's time-slicing does not enter the ratio) against the bound min(bytes read per step / the read
// bandwidth of a buffer of that size, FLOPs per token / the FMA peak), both peaks measured in the same process.
void run_decode(const ModelConfig& cfg, int threads) {
  const int steps = 16;
  for (int ctx : {1024, 4096, cfg.max_position_embeddings - steps})
    for (int batch : {1, 32}) {
      const auto r = in_child([&](double* out) {
        Model m(cfg);
        m.init_weights(1);
        KVCache cache(cfg, batch, ctx + steps);
        const int W = cfg.kv_lora_rank + cfg.qk_rope_head_dim, bt = cache.block_tokens();
        for (int s = 0; s < batch; ++s) {
          cache.set_length(s, ctx);
          for (int l = 0; l < cfg.num_hidden_layers; ++l)
            for (int p = 0; p < ctx; p += bt) {
              float* e = cache.entry(l, s, p);
              for (int i = 0; i < std::min(bt, ctx - p) * W; ++i)  // cheap pseudo-random values in [-1, 1)
                e[i] = float(int((uint32_t(s * 7919 + l * 104729 + p * W + i) * 2654435761u) >> 16) - 32768) / 32768.0f;
            }
        }
        std::vector<int> slots(static_cast<size_t>(batch));
        for (int s = 0; s < batch; ++s) slots[size_t(s)] = s;
        std::vector<int32_t> toks(static_cast<size_t>(batch));
        std::vector<float> lg(size_t(batch) * cfg.vocab_size);
        // Wall time and the process's CPU time: on one thread the CPU time is the time the decode was on a core,
        // which a shared machine does not stretch (its wall time is stretched by the other processes' share).
        double best = 1e30, best_cpu = 1e30, spent = 0;
        for (int rep = 0; rep < 3 || spent < 1.0; ++rep) {
          for (int s = 0; s < batch; ++s) cache.set_length(s, ctx);
          const double t0 = omp_get_wtime(), c0 = cpu_seconds();
          for (int k = 0; k < steps; ++k) {
            for (int s = 0; s < batch; ++s) toks[size_t(s)] = int32_t((s * 31 + k * 7) % cfg.vocab_size);
            m.decode_step(cache, slots.data(), toks.data(), batch, lg.data());
          }
          const double dt = omp_get_wtime() - t0;
          best = std::min(best, dt);
          best_cpu = std::min(best_cpu, cpu_seconds() - c0);
          spent += dt;
          if (rep >= 20) break;
        }
        // Bytes per step: the dense weights, the routed experts the batch touches (uniform routing), the embedding
        // rows and lm_head, and every row's cached positions. FLOPs per token: 2 x active non-embedding parameters +
        // the absorbed attention (scores over C + Dr, values over C, per head and cached position).
        double dense = 0, expert = 0, embed = 0;  // parameters; the MTP module is not used in decoding
        const std::string mtp_prefix = "model.layers." + std::to_string(cfg.num_hidden_layers) + ".";
        for (const auto& t : m.tensors()) {
          if (t.name.rfind(mtp_prefix, 0) == 0) continue;
          if (t.name.find(".mlp.experts.") != std::string::npos) expert += double(t.size);
          else if (t.name == "model.embed_tokens.weight") embed += double(t.size);
          else dense += double(t.size);
        }
        const double ctx_mean = ctx + (steps - 1) / 2.0;
        const double k_frac = double(cfg.num_experts_per_tok) / std::max(1, cfg.n_routed_experts);
        const double touched = 1.0 - std::pow(1.0 - k_frac, batch);
        const double bytes_step = 4.0 * (dense + expert * touched + double(batch) * cfg.hidden_size) +
                                  double(batch) * ctx_mean * double(cache.bytes_per_token());
        const double L = cfg.num_hidden_layers, H = cfg.num_attention_heads, C = cfg.kv_lora_rank,
                     Dr = cfg.qk_rope_head_dim;
        const double flops_tok = 2.0 * (double(m.num_active_params()) - embed) + 2.0 * L * H * ctx_mean * (2 * C + Dr);
        const double gflops = bench::fma_peak_gflops(threads, 4'000'000, 100);
        const double bw = bench::read_peak_gbs(size_t(bytes_step), threads, std::max(size_t(24) << 20, size_t(bytes_step)),
                                               200, threads == 1);  // timed like the decode
        const double tps = double(batch) * steps / (threads == 1 ? best_cpu : best);
        const double mem_bound = double(batch) / (bytes_step / (bw * 1e9)), cmp_bound = gflops * 1e9 / flops_tok;
        out[0] = tps;
        out[1] = mem_bound;
        out[2] = cmp_bound;
        out[3] = bytes_step;
        out[4] = flops_tok;
        out[5] = bw;
        out[6] = gflops;
        out[7] = double(cache.pool_bytes());
        out[8] = double(batch) * steps / best;
      });
      const double bound = std::min(r[1], r[2]);
      std::printf("bench_long decode ctx=%d batch=%d threads=%d tokens_per_s=%.0f timed_by=%s wall_tokens_per_s=%.0f "
                  "mem_bound=%.0f compute_bound=%.0f bound=%.0f fraction_of_bound=%.3f limit=%s bytes_per_step_mb=%.2f "
                  "mflop_per_token=%.2f read_gbs=%.1f fma_peak_gflops=%.1f kv_pool_mb=%.1f\n",
                  ctx, batch, threads, r[0], threads == 1 ? "cpu_time" : "wall", r[8], r[1], r[2], bound, r[0] / bound,
                  r[1] < r[2] ? "memory" : "compute", r[3] / 1e6, r[4] / 1e6, r[5], r[6], r[7] / 1e6);
      std::fflush(stdout);
    }
}

// KV-cache memory of a rollout with a long-tailed length distribution under a 16k budget (issue 20 section 5):
// groups of G = 8 samples of one prompt, continuous batching over max_batch = 8 rows plus a staging slot, each
// sample's length drawn from a log-normal (median 2,000 tokens, sigma 1) capped at the budget (R1-style responses). The
// engine's cache operations are replayed on the cache alone (prefill the prompt into the staging slot, copy_slot to
// each member's row, one position per decode step per row, reset when a row finishes): peak pool bytes and peak RSS,
// paged (blocks of 64) vs the contiguous layout (block_tokens 0: max_seq_len per slot, what the cache allocated up
// front before paging).
void run_kv_memory(const ModelConfig& cfg) {
  const int G = 8, groups = 8, prompt = 64, budget = 16384 - prompt, slots = G + 1;
  Rng rng(9);
  std::vector<int> lens;
  for (int i = 0; i < G * groups; ++i)  // log-normal, median 2,000 tokens (sigma 1): p90 ~7k, a few cut at the budget
    lens.push_back(std::clamp(int(std::exp(std::log(2000.0) + rng.normal())), 1, budget));
  std::vector<int> sorted = lens;
  std::sort(sorted.begin(), sorted.end());
  double mean = 0;
  for (int l : lens) mean += l;
  mean /= double(lens.size());
  std::printf("bench_long kv_lengths samples=%zu budget=%d mean=%.0f p50=%d p90=%d max=%d\n", lens.size(), budget,
              mean, sorted[sorted.size() / 2], sorted[sorted.size() * 9 / 10], sorted.back());
  for (int bt : {0, 64}) {
    const auto r = in_child([&](double* out) {
      const double base = peak_rss_mb();
      KVCache cache(cfg, slots, prompt + budget, bt);
      const int W = cfg.kv_lora_rank + cfg.qk_rope_head_dim, L = cfg.num_hidden_layers;
      if (bt == 0)  // the cache before paging zero-filled every slot's max_seq_len positions up front (resident)
        for (int s = 0; s < slots; ++s) {
          cache.set_length(s, prompt + budget);
          for (int l = 0; l < L; ++l) std::fill_n(cache.entry(l, s, 0), size_t(prompt + budget) * W, 0.0f);
          cache.reset(s);
        }
      auto append = [&](int s, int n) {  // what decode_tokens does: prepare, write every layer's entries, set length
        const int p0 = cache.length(s);
        cache.prepare_append(s, n);
        for (int p = p0; p < p0 + n; ++p)
          for (int l = 0; l < L; ++l) std::fill_n(cache.entry(l, s, p), W, 1.0f);
        cache.set_length(s, p0 + n);
      };
      size_t peak_pool = 0, peak_tokens = 0;
      std::vector<int> row_slot, row_left;  // active rows
      std::vector<int> free_slots;
      for (int s = slots - 1; s >= 0; --s) free_slots.push_back(s);
      int next = 0;
      while (next < int(lens.size()) || !row_slot.empty()) {
        if (row_slot.empty()) {  // admit the next group: prefill once, fork to G rows (max_batch = G)
          const int staging = free_slots.back();
          free_slots.pop_back();
          append(staging, prompt);
          for (int g = 0; g < G; ++g, ++next) {
            const int s = free_slots.back();
            free_slots.pop_back();
            cache.copy_slot(staging, s);
            row_slot.push_back(s);
            row_left.push_back(lens[size_t(next)]);
          }
          cache.reset(staging);
          free_slots.push_back(staging);
        }
        for (size_t i = 0; i < row_slot.size(); ++i) append(row_slot[i], 1);
        size_t tok = 0;
        for (int s : row_slot) tok += size_t(cache.length(s));
        peak_tokens = std::max(peak_tokens, tok);
        peak_pool = std::max(peak_pool, cache.pool_bytes());
        for (size_t i = row_slot.size(); i-- > 0;)
          if (--row_left[i] == 0) {
            cache.reset(row_slot[i]);
            free_slots.push_back(row_slot[i]);
            row_slot.erase(row_slot.begin() + long(i));
            row_left.erase(row_left.begin() + long(i));
          }
      }
      out[0] = double(peak_pool);
      out[1] = peak_rss_mb() - base;
      out[2] = double(peak_tokens) * double(cache.bytes_per_token());
      out[3] = double(slots) * double(prompt + budget) * double(cache.bytes_per_token());
    });
    std::printf("bench_long kv_memory block_tokens=%d slots=%d max_seq_len=%d peak_pool_mb=%.1f peak_rss_extra_mb=%.1f "
                "peak_tokens_in_use_mb=%.1f upfront_slots_x_max_len_mb=%.1f\n",
                bt, slots, prompt + budget, r[0] / 1e6, r[1], r[2] / 1e6, r[3] / 1e6);
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string cfg_path = std::string(REASONRL_SOURCE_DIR) + "/configs/model_long.json", what = "all";
  bool quick = false, both_16k = false, mem_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--16k-both") both_16k = true;
    else if (a == "--mem-only") mem_only = true;
    else if (a == "train" || a == "head" || a == "attention" || a == "decode" || a == "kvmem" || a == "all") what = a;
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
    if (what == "train" || what == "all") run_train(cfg, quick, !both_16k, mem_only, pk[0], threads);
    if (what == "decode" || what == "all") run_decode(cfg, threads);
    if (what == "kvmem" || what == "all") run_kv_memory(cfg);
    if (what == "head" || what == "all") run_head(threads);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_long: %s\n", e.what());
    return 1;
  }
  return 0;
}

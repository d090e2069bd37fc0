// bench_rollout.cpp: the rollout engine on the real model: decode tokens/s at batch 1/8/32/64 next to memory and
// compute bounds measured in the same run, useful-token fraction (continuous vs padded static batches) and partial vs
// synchronous rollouts on a long-tailed length distribution, and KV bytes per token vs the MLA formula (+ MLA/MHA).
// Prints one machine-readable line per measurement ("bench_rollout <what> key=value ...").
//   bench_rollout [MODEL_CONFIG=configs/model_tiny.json] [SAMPLES_PER_ITER=64] [ITERS=4] [REPS=2] [decode|rollout]
// `decode`: only the KV bytes, the bounds and decode; `rollout`: only the rollout sections (useful tokens, partial vs
// synchronous). The thread count is OMP_NUM_THREADS (scripts/bench.sh: decode on 1 thread, rollouts on 1 and 2).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/machine_peak.h"
#include "model/model.h"
#include "policy/model_decoder.h"
#include "policy/rollout.h"
#include "rl/util/log.h"

using namespace reasonrl;
using namespace reasonrl::policy;

namespace {

// Forces a long-tailed response length on any decoder: with r response tokens cached, the next token is EOS with
// probability a / (r + b) (decided by a hash of the slot's whole context, so it is deterministic and survives a
// re-prefill), and EOS is never chosen otherwise. Survival S(n) ~ (b / (n + b))^a: a Pareto tail.
class LongTailDecoder : public Decoder {
 public:
  LongTailDecoder(Decoder& in, int prompt_len, int eos, double a, double b)
      : in_(in), prompt_len_(prompt_len), eos_(eos), a_(a), b_(b), h_(size_t(in.n_slots()), 0) {}
  int vocab() const override { return in_.vocab(); }
  int n_slots() const override { return in_.n_slots(); }
  int max_seq_len() const override { return in_.max_seq_len(); }
  int length(int s) const override { return in_.length(s); }
  void reset(int s) override { in_.reset(s), h_[size_t(s)] = 0; }
  void copy_slot(int src, int dst) override { in_.copy_slot(src, dst), h_[size_t(dst)] = h_[size_t(src)]; }
  void prefill(int s, const int32_t* t, int n, float* lg) override {
    in_.prefill(s, t, n, lg);
    for (int i = 0; i < n; ++i) mix(s, t[i]);
    shape(s, lg);
  }
  void decode_step(const int* slots, const int32_t* t, int n, float* lg) override {
    in_.decode_step(slots, t, n, lg);
    for (int i = 0; i < n; ++i) {
      mix(slots[i], t[i]);
      shape(slots[i], lg + size_t(i) * size_t(vocab()));
    }
  }
  size_t kv_bytes_per_token() const override { return in_.kv_bytes_per_token(); }
  // The inner state, then this slot's context hash as four 16-bit pieces (exact as floats).
  bool save_slot(int s, std::vector<float>* out) const override {
    if (!in_.save_slot(s, out)) return false;
    for (int k = 0; k < 4; ++k) out->push_back(float((h_[size_t(s)] >> (16 * k)) & 0xffff));
    return true;
  }
  void load_slot(int s, const std::vector<float>& st) override {
    uint64_t h = 0;
    for (int k = 0; k < 4; ++k) h |= uint64_t(st[st.size() - 4 + size_t(k)]) << (16 * k);
    in_.load_slot(s, std::vector<float>(st.begin(), st.end() - 4));
    h_[size_t(s)] = h;
  }

 private:
  void mix(int s, int32_t t) {
    uint64_t z = h_[size_t(s)] ^ (uint64_t(uint32_t(t)) + 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    h_[size_t(s)] = z ^ (z >> 31);
  }
  void shape(int s, float* lg) {
    const int r = in_.length(s) - prompt_len_;
    const double u = double(h_[size_t(s)] >> 11) * (1.0 / 9007199254740992.0);
    lg[eos_] = u < a_ / (r + b_) ? 1e4f : -1e4f;
  }
  Decoder& in_;
  int prompt_len_, eos_;
  double a_, b_;
  std::vector<uint64_t> h_;
};

struct Partition {
  double dense = 0, expert = 0, embed = 0;  // floats
  int n_experts_per_layer = 0, n_moe_layers = 0;
};

Partition partition(const model::Model& m) {
  Partition p;
  const auto& c = m.config();
  const std::string mtp = "model.layers." + std::to_string(c.num_hidden_layers) + ".";
  for (const auto& t : m.tensors()) {
    if (t.name.rfind(mtp, 0) == 0) continue;  // the MTP module is not used when decoding
    if (t.name == "model.embed_tokens.weight") p.embed += double(t.size);
    else if (t.name.find(".mlp.experts.") != std::string::npos) p.expert += double(t.size);
    else p.dense += double(t.size);
  }
  p.n_moe_layers = std::max(0, c.num_hidden_layers - c.first_k_dense_replace);
  p.n_experts_per_layer = c.n_routed_experts;
  return p;
}

std::vector<Prompt> make_prompts(int n, int len, int V, int64_t first_id) {
  std::vector<Prompt> ps;
  for (int i = 0; i < n; ++i) {
    Prompt p;
    p.id = first_id + i;
    for (int k = 0; k < len; ++k) p.tokens.push_back(int32_t(2 + (uint64_t(p.id) * 2654435761ULL + uint64_t(k) * 40503ULL) % uint64_t(V - 2)));
    ps.push_back(p);
  }
  return ps;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cfg_path = argc > 1 ? argv[1] : std::string(REASONRL_SOURCE_DIR) + "/configs/model_tiny.json";
  const int samples_per_iter = argc > 2 ? std::atoi(argv[2]) : 64;
  int iters = argc > 3 ? std::atoi(argv[3]) : 4;
  const int reps = argc > 4 ? std::atoi(argv[4]) : 2;
  const bool decode_only = argc > 5 && std::string(argv[5]) == "decode";
  const bool rollout_only = argc > 5 && std::string(argv[5]) == "rollout";
  model::ModelConfig mc = model::load_model_config(cfg_path);
  model::Model m(mc);
  m.init_weights(1);
  const int V = mc.vocab_size, L = mc.num_hidden_layers;
  const double param_bytes = double(m.num_params()) * 4;
  const Partition part = partition(m);
  std::printf("# model %s: %zu params (%.2f MB fp32), %zu active per token; threads %d\n", cfg_path.c_str(), m.num_params(),
              param_bytes / 1e6, m.num_active_params(), omp_get_max_threads());

  // ---- KV bytes per token: measured vs formula, MLA / MHA -----------------------------------------------------
  if (!rollout_only) {
    ModelDecoder d(m, 1, 8);
    const double formula = double(L) * (mc.kv_lora_rank + mc.qk_rope_head_dim) * 4;
    const double mha = double(L) * mc.num_attention_heads * (mc.qk_nope_head_dim + mc.qk_rope_head_dim + mc.v_head_dim) * 4;
    std::printf("bench_rollout kv_bytes_per_token measured=%zu formula=%.0f mha_same_heads=%.0f mla_over_mha=%.4f\n",
                d.kv_bytes_per_token(), formula, mha, formula / mha);
    // DeepSeek-V3 671B (61 layers, d_c 512, d_R 64, 128 heads of 128 + 64 key / 128 value), bf16, formula only
    const double v3_mla = 61.0 * (512 + 64) * 2, v3_mha = 61.0 * 128 * (128 + 64 + 128) * 2;
    std::printf("bench_rollout kv_bytes_per_token_v3_671b mla=%.0f mha=%.0f mla_over_mha=%.4f\n", v3_mla, v3_mha, v3_mla / v3_mha);
  }

  // ---- bounds, then decode tokens/s at batch 1, 8, 32, 64 ------------------------------------------------------
  if (!rollout_only) {
    // The bound's two sides are machine peaks, measured with the decode's thread count: the FMA peak (independent
    // 512-bit FMA chains) and the peak read bandwidth of a buffer the size of the model's working set (cache-resident
    // here). Decode cannot beat either, so a fraction above 1 means the bound is wrong (bench/aggregate.py fails).
    // Short repetitions, many of them (best of): a decode pass is ~1.5 ms, and on a shared machine only a short window
    // is undisturbed.
    const int threads = omp_get_max_threads();
    const double gflops = bench::fma_peak_gflops(threads, 4'000'000, 200);
    const double bw_ws = bench::read_peak_gbs(size_t(param_bytes), threads, size_t(24) << 20, 2000);
    const double bw_dram = bench::read_peak_gbs(size_t(256) << 20, threads);  // far beyond any cache
    std::printf("bench_rollout machine fma_peak_gflops=%.1f read_gbs_working_set=%.1f read_gbs_256mb=%.1f "
                "working_set_mb=%.2f threads=%d\n",
                gflops, bw_ws, bw_dram, param_bytes / 1e6, threads);

    // ---- decode tokens/s at batch 1, 8, 32, 64 ------------------------------------------------------------------
    {
      const int prompt = 32, steps = 32;
      ModelDecoder d(m, 64, prompt + steps + 4);
      std::vector<float> lg(size_t(64) * size_t(V));
      const auto ps = make_prompts(64, prompt, V, 0);
      for (int b : {1, 8, 32, 64}) {
        // Best of several passes (at least 5 and 0.2 s): one pass of 32 steps at batch 1 lasts ~1.5 ms.
        std::vector<int> slots(static_cast<size_t>(b));
        std::vector<int32_t> toks(size_t(b), 5);
        for (int s = 0; s < b; ++s) slots[size_t(s)] = s;
        double best_dt = 1e30, spent = 0;
        for (int rep = 0; rep < 5 || spent < 0.2; ++rep) {
          for (int s = 0; s < 64; ++s) d.reset(s);
          for (int s = 0; s < b; ++s) d.prefill(s, ps[size_t(s)].tokens.data(), prompt, lg.data());
          d.decode_step(slots.data(), toks.data(), b, lg.data());  // warm-up
          const double t0 = now_seconds();
          for (int k = 0; k < steps; ++k) {
            for (int s = 0; s < b; ++s) toks[size_t(s)] = int32_t((s * 31 + k * 7) % V);
            d.decode_step(slots.data(), toks.data(), b, lg.data());
          }
          const double dt = now_seconds() - t0;
          best_dt = std::min(best_dt, dt);
          spent += dt;
        }
        const double tps = double(b) * steps / best_dt;
        // Per step: dense weights once, the routed experts the batch touches (uniform routing), B embedding rows,
        // and each row's cached context. FLOPs per token: 2 x active non-embedding params + absorbed attention.
        const double ctx = prompt + steps / 2.0;
        const double k_frac = double(mc.num_experts_per_tok) / std::max(1, mc.n_routed_experts);
        const double touched = 1.0 - std::pow(1.0 - k_frac, b);
        const double bytes_step = 4.0 * (part.dense + part.expert * touched + double(b) * mc.hidden_size) +
                                  double(b) * ctx * double(d.kv_bytes_per_token());
        const double active_nonembed = double(m.num_active_params()) - part.embed;
        const double flops_tok = 2.0 * active_nonembed +
                                 4.0 * L * mc.num_attention_heads * ctx * (mc.kv_lora_rank + mc.qk_rope_head_dim);
        const double mem_bound = double(b) / (bytes_step / (bw_ws * 1e9));
        const double cmp_bound = gflops * 1e9 / flops_tok;
        const double bound = std::min(mem_bound, cmp_bound);
        std::printf("bench_rollout decode batch=%d tokens_per_s=%.0f mem_bound=%.0f compute_bound=%.0f bound=%.0f "
                    "fraction_of_bound=%.3f bytes_per_step_mb=%.3f mflop_per_token=%.2f\n",
                    b, tps, mem_bound, cmp_bound, bound, tps / bound, bytes_step / 1e6, flops_tok / 1e6);
      }
    }

    // Prefill tokens/s (what re-prefilling a continued partial rollout costs), 128 tokens into one slot.
    {
      ModelDecoder d(m, 1, 160);
      std::vector<float> lg(static_cast<size_t>(V));
      const auto ps = make_prompts(1, 128, V, 0);
      d.prefill(0, ps[0].tokens.data(), 128, lg.data());  // warm-up
      int reps_done = 0;
      const double t0 = now_seconds();
      while (now_seconds() - t0 < 0.3 || reps_done < 2) {
        d.reset(0);
        d.prefill(0, ps[0].tokens.data(), 128, lg.data());
        ++reps_done;
      }
      std::printf("bench_rollout prefill tokens=128 tokens_per_s=%.0f\n", 128.0 * reps_done / (now_seconds() - t0));
    }
  }
  if (decode_only) return 0;
  // ---- long-tailed lengths: continuous vs static batching; partial vs synchronous rollouts -------------------
  const int G = 8, prompt_len = 16, max_len = 256, eos = 1;
  const int prompts_per_iter = std::max(1, samples_per_iter / G);
  RolloutConfig rc;
  rc.num_generations = G;
  rc.max_completion_length = max_len;
  rc.sampling_params.temperature = 1.0;
  rc.max_batch = 32;
  rc.stop_token_ids = {eos};
  rc.repeat_detection = false;
  rc.seed = 7;
  auto run_sync = [&](bool static_batch, double* secs, RolloutStats* total, std::vector<int>* lengths) {
    RolloutConfig c = rc;
    c.static_batch = static_batch;
    RolloutEngine eng(c);
    ModelDecoder md(m, eng.slots_needed(), prompt_len + max_len);
    LongTailDecoder d(md, prompt_len, eos, 1.2, 8.0);
    const double t0 = now_seconds();
    int64_t samples = 0;
    for (int it = 0; it < iters; ++it) {
      auto r = eng.generate(d, make_prompts(prompts_per_iter, prompt_len, V, 1000 * it), it);
      samples += int64_t(r.trajectories.size());
      total->tokens_generated += r.stats.tokens_generated;
      total->rows_computed += r.stats.rows_computed;
      total->decode_steps += r.stats.decode_steps;
      total->prefill_tokens += r.stats.prefill_tokens;
      total->decode_seconds += r.stats.decode_seconds;
      total->sample_seconds += r.stats.sample_seconds;
      total->prefill_seconds += r.stats.prefill_seconds;
      total->seconds += r.stats.seconds;
      if (lengths)
        for (auto& t : r.trajectories) lengths->push_back(t.length());
    }
    *secs = now_seconds() - t0;
    return samples;
  };
  // Continuous batching vs a padded static batch, one iteration each (useful-token fraction and wall time).
  {
    double t_c = 0, t_s = 0;
    RolloutStats c1, s1;
    const int saved_iters = iters;
    iters = 1;
    run_sync(false, &t_c, &c1, nullptr);
    run_sync(true, &t_s, &s1, nullptr);
    iters = saved_iters;
    std::printf("bench_rollout useful_fraction continuous=%.4f static_padded=%.4f wall_s_continuous=%.2f wall_s_static=%.2f "
                "samples=%d max_batch=%d engine_overhead_fraction=%.4f\n",
                double(c1.tokens_generated) / double(c1.rows_computed), double(s1.tokens_generated) / double(s1.rows_computed),
                t_c, t_s, prompts_per_iter * G, rc.max_batch,
                (c1.seconds - c1.decode_seconds - c1.prefill_seconds) / c1.seconds);
  }

  // Synchronous (every iteration runs its samples to the end) vs partial rollouts at the same number of finished
  // samples. Partial calls get new prompts while fewer than SAMPLES_PER_ITER trajectories are unfinished, so the batch
  // stays full; the long tail is cut (per-trajectory segment cap or a per-call token budget) and continued later.
  struct PartialVariant {
    const char* name;
    int segment;
    int64_t budget;
    int queue;  // trajectories kept queued per call, in units of the synchronous iteration's samples
    PartialKv kv;
  };
  std::vector<int> lengths;
  constexpr int kVariants = 6;
  double best_sync = 1e30, best_part[kVariants];
  std::fill(best_part, best_part + kVariants, 1e30);
  RolloutStats s_sync;
  int64_t n_sync = 0;
  std::vector<std::string> part_lines(kVariants);
  for (int rep = 0; rep < reps; ++rep) {
    double t = 0;
    RolloutStats st;
    lengths.clear();
    n_sync = run_sync(false, &t, &st, &lengths);
    best_sync = std::min(best_sync, t);
    s_sync = st;
    const int64_t budget = s_sync.tokens_generated / iters;  // the synchronous run's tokens per iteration
    // budget_queue2: the per-call token budget of the synchronous iteration, with twice its samples queued, so the
    // budget (not the last long response) ends the call and the batch stays full until then.
    // Each with the context re-prefilled under the current weights (recompute) or its saved latent cache restored
    // (reuse).
    const PartialVariant variants[kVariants] = {
        {"segment", 64, 0, 1, PartialKv::Recompute},       {"segment", 128, 0, 1, PartialKv::Recompute},
        {"budget_queue2", 0, budget, 2, PartialKv::Recompute}, {"segment", 64, 0, 1, PartialKv::Reuse},
        {"segment", 128, 0, 1, PartialKv::Reuse},          {"budget_queue2", 0, budget, 2, PartialKv::Reuse}};
    for (int vi = 0; vi < kVariants; ++vi) {
      const auto& pv = variants[vi];
      RolloutConfig c = rc;
      c.partial_rollout = true;
      c.partial_rollout_segment = pv.segment;
      c.partial_rollout_budget = pv.budget;
      c.partial_rollout_kv = pv.kv;
      c.max_staleness = -1;
      c.loss_segments = LossSegments::All;
      RolloutEngine eng(c);
      ModelDecoder md(m, eng.slots_needed(), prompt_len + max_len);
      LongTailDecoder d(md, prompt_len, eos, 1.2, 8.0);
      ReplayBuffer buf;
      const double t0 = now_seconds();
      int64_t finished = 0, next_id = 0, tokens = 0, rows = 0, prefill = 0, steps = 0;
      double stale_tok = 0, stale_traj = 0;
      int calls = 0;
      while (finished < n_sync && calls < 1000) {
        const int64_t want = int64_t(pv.queue) * prompts_per_iter * G - int64_t(buf.num_unfinished());
        const int n_new = want > 0 ? int((want + G - 1) / G) : 0;
        auto r = eng.generate(d, make_prompts(n_new, prompt_len, V, 1000000 + next_id), calls, &buf);
        next_id += n_new;
        finished += int64_t(r.trajectories.size());
        tokens += r.stats.tokens_generated;
        rows += r.stats.rows_computed;
        prefill += r.stats.prefill_tokens;
        steps += r.stats.decode_steps;
        stale_tok += r.stats.mean_token_staleness * double(r.trajectories.size());
        stale_traj += r.stats.mean_trajectory_staleness * double(r.trajectories.size());
        ++calls;
      }
      const double t_part = now_seconds() - t0;
      best_part[vi] = std::min(best_part[vi], t_part);
      char line[1024];
      std::snprintf(line, sizeof line,
                    "bench_rollout partial mode=%s kv=%s segment=%d budget=%lld calls=%d finished=%lld sync_finished=%lld "
                    "tokens=%lld sync_tokens=%lld prefill_tokens=%lld sync_prefill_tokens=%lld decode_steps=%lld "
                    "sync_decode_steps=%lld useful_fraction=%.4f mean_token_staleness=%.3f "
                    "mean_trajectory_staleness=%.3f buffered_unfinished=%zu",
                    pv.name, enum_to_string(pv.kv), pv.segment, (long long)pv.budget, calls, (long long)finished, (long long)n_sync,
                    (long long)tokens, (long long)s_sync.tokens_generated, (long long)prefill,
                    (long long)s_sync.prefill_tokens, (long long)steps, (long long)s_sync.decode_steps,
                    double(tokens) / double(rows), stale_tok / double(std::max<int64_t>(1, finished)),
                    stale_traj / double(std::max<int64_t>(1, finished)), buf.num_unfinished());
      part_lines[size_t(vi)] = line;
    }
  }
  std::sort(lengths.begin(), lengths.end());
  double mean_len = 0;
  for (int x : lengths) mean_len += x;
  mean_len /= double(std::max<size_t>(1, lengths.size()));
  std::printf("bench_rollout lengths samples=%lld mean=%.1f p50=%d p90=%d p99=%d max=%d\n", (long long)n_sync, mean_len,
              lengths[lengths.size() / 2], lengths[lengths.size() * 9 / 10], lengths[lengths.size() * 99 / 100], lengths.back());
  for (int vi = 0; vi < kVariants; ++vi)
    std::printf("%s wall_s=%.2f sync_wall_s=%.2f speedup=%.3f (best of %d)\n", part_lines[size_t(vi)].c_str(),
                best_part[vi], best_sync, best_sync / best_part[vi], reps);
  return 0;
}

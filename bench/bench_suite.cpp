// bench_suite.cpp: the suite's own measurements in one process (scripts/bench.sh runs it, bench/aggregate.py reads
// its lines): machine limits (FP32 FMA peak on 1 and 2 threads, read bandwidth at the model's working-set size and
// from DRAM), GEMM efficiency on the model's real shapes (forward, dX, dW), the training step (tokens/s, FLOPs per
// token, time split by stage) and, with --peer DIR, a fixed-seed checkpoint plus inputs for the PyTorch peer
// (bench/torch_peer.py), our log-probs on them, and our greedy KV-cache decode at batch 1 and 64.
// Prints one machine-readable line per figure: "bench_suite <what> key=value ...".
//   bench_suite [MODEL_CONFIG=configs/model_tiny.json] [--B 8] [--T 128] [--steps 8] [--peer DIR] [--repeat]
// --repeat measures only the train step and the greedy decode again (scripts/bench.sh runs it after the peer, and the
// suite keeps the better of the two runs on both sides, as the peer keeps its best of four configs).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/layers.h"
#include "bench/machine_peak.h"
#include "bench/train_step.h"
#include "model/model.h"
#include "rl/util/log.h"
#include "rl/util/rng.h"

using namespace reasonrl;
using namespace reasonrl::model;

namespace {

// ---- machine limits ------------------------------------------------------------------------------------------
// FMA peak: 12 independent chains of 512-bit FMAs per thread (fp32), best of 4 reps. GFLOP/s.
double fma_peak_gflops(int threads) { return bench::fma_peak_gflops(threads, 480'000'000, 4); }

double read_gbs(size_t bytes, int threads) { return bench::read_peak_gbs(bytes, threads); }  // machine_peak.h

// Seconds per call of f: warm-up, then batches of calls until >= min_s; the best batch (the least disturbed by the
// other processes on this shared machine).
double time_call(const std::function<void()>& f, double min_s = 0.03) {
  f();
  double best = 1e30;
  int batch = 1;
  for (int round = 0; round < 3; ++round) {
    double t0 = omp_get_wtime();
    for (int i = 0; i < batch; ++i) f();
    double dt = omp_get_wtime() - t0;
    while (dt < min_s / 3) {  // grow the batch until one batch takes a measurable time
      batch *= 2;
      t0 = omp_get_wtime();
      for (int i = 0; i < batch; ++i) f();
      dt = omp_get_wtime() - t0;
    }
    best = std::min(best, dt / batch);
  }
  return best;
}

// ---- FLOPs of the model --------------------------------------------------------------------------------------
// Forward FLOPs per token (2 per multiply-add of every active weight incl. the router, lm_head and the MTP block;
// attention core with the causal half of the T x T score and value products). Training = 3 x forward.
double forward_flops_per_token(const ModelConfig& c, int T, double* attn_core_out = nullptr) {
  const double D = c.hidden_size, H = c.num_attention_heads, Dq = c.q_head_dim(), Dn = c.qk_nope_head_dim,
               Dv = c.v_head_dim, C = c.kv_lora_rank, Dr = c.qk_rope_head_dim, Q = c.q_lora_rank;
  const double attn_w = (Q > 0 ? D * Q + Q * H * Dq : D * H * Dq) + D * (C + Dr) + C * H * (Dn + Dv) + H * Dv * D;
  const double core = 2 * H * (T + 1) / 2.0 * (Dq + Dv);
  const double dense = 2 * 3 * D * c.intermediate_size;
  const double moe = 2 * (D * c.n_routed_experts +
                          3 * D * c.moe_intermediate_size * (c.n_shared_experts + c.num_experts_per_tok));
  const bool mtp = c.num_nextn_predict_layers > 0 && c.mtp_loss_weight > 0;
  const int blocks = c.num_hidden_layers + (mtp ? 1 : 0);
  double f = 0, cores = 0;
  for (int l = 0; l < blocks; ++l) {
    f += 2 * attn_w + core + (c.is_moe_layer(l) ? moe : dense);
    cores += core;
  }
  f += 2 * D * c.vocab_size * (mtp ? 2 : 1);
  if (mtp) f += 2 * 2 * D * D;
  if (attn_core_out) *attn_core_out = cores;
  return f;
}

// ---- the GEMMs of one training step ---------------------------------------------------------------------------
struct Gemm {
  std::string name;
  int N, I, O;
  int count;          // calls per step (per replayed group)
  bool experts;       // E experts of N rows each, run in parallel over experts (as the model does)
  bool router;        // the MoE gate (counted under "router", not "GEMM", in the stage split)
  bool moe;           // belongs to an MoE layer (shared or routed expert)
};

std::vector<Gemm> step_gemms(const ModelConfig& c, int N) {
  const int D = c.hidden_size, H = c.num_attention_heads, Dq = c.q_head_dim(), Dn = c.qk_nope_head_dim,
            Dv = c.v_head_dim, C = c.kv_lora_rank, Dr = c.qk_rope_head_dim, Q = c.q_lora_rank, E = c.n_routed_experts;
  const bool mtp = c.num_nextn_predict_layers > 0 && c.mtp_loss_weight > 0;
  const int blocks = c.num_hidden_layers + (mtp ? 1 : 0);
  int n_dense = 0, n_moe = 0;
  for (int l = 0; l < blocks; ++l) (c.is_moe_layer(l) ? n_moe : n_dense)++;
  std::vector<Gemm> g;
  if (Q > 0) {
    g.push_back({"attn.q_a", N, D, Q, blocks, false, false, false});
    g.push_back({"attn.q_b", N, Q, H * Dq, blocks, false, false, false});
  } else {
    g.push_back({"attn.q", N, D, H * Dq, blocks, false, false, false});
  }
  g.push_back({"attn.kv_a", N, D, C + Dr, blocks, false, false, false});
  g.push_back({"attn.kv_b", N, C, H * (Dn + Dv), blocks, false, false, false});
  g.push_back({"attn.o", N, H * Dv, D, blocks, false, false, false});
  if (n_dense > 0) {
    g.push_back({"dense.gate_up", N, D, 2 * c.intermediate_size, n_dense, false, false, false});
    g.push_back({"dense.down", N, c.intermediate_size, D, n_dense, false, false, false});
  }
  if (n_moe > 0) {
    const int Fs = c.n_shared_experts * c.moe_intermediate_size, Fm = c.moe_intermediate_size;
    const int ne = std::max(1, N * c.num_experts_per_tok / E);  // rows per expert under balanced routing
    g.push_back({"moe.router", N, D, E, n_moe, false, true, true});
    if (Fs > 0) {
      g.push_back({"moe.shared.gate_up", N, D, 2 * Fs, n_moe, false, false, true});
      g.push_back({"moe.shared.down", N, Fs, D, n_moe, false, false, true});
    }
    g.push_back({"moe.experts.gate_up", ne, D, 2 * Fm, n_moe, true, false, true});
    g.push_back({"moe.experts.down", ne, Fm, D, n_moe, true, false, true});
  }
  g.push_back({"lm_head", N, D, c.vocab_size, mtp ? 2 : 1, false, false, false});
  if (mtp) g.push_back({"mtp.eh_proj", N, 2 * D, D, 1, false, false, false});
  return g;
}

struct Buffers {
  std::vector<float> x, w, y;
  explicit Buffers(size_t nx, size_t nw, size_t ny) : x(nx), w(nw), y(ny) {
    Rng r(11);
    for (auto& v : x) v = float(r.normal());
    for (auto& v : w) v = float(r.normal() * 0.02);
    for (auto& v : y) v = float(r.normal());
  }
};

// Seconds per call (all experts for an expert GEMM) of mode 0 = forward, 1 = dX, 2 = dW.
double time_gemm(const Gemm& g, int mode, int E) {
  const int groups = g.experts ? E : 1;
  Buffers b(size_t(groups) * g.N * g.I, size_t(groups) * g.O * g.I, size_t(groups) * g.N * g.O);
  std::vector<float> dx(b.x.size()), dw(b.w.size());
  auto one = [&](int e) {
    const float* x = b.x.data() + size_t(e) * g.N * g.I;
    const float* w = b.w.data() + size_t(e) * g.O * g.I;
    float* y = b.y.data() + size_t(e) * g.N * g.O;
    if (mode == 0) linear_forward(y, x, w, g.N, g.I, g.O);
    else if (mode == 1) linear_backward(dx.data() + size_t(e) * g.N * g.I, static_cast<float*>(nullptr), y, x, w, g.N, g.I, g.O);
    else linear_backward(static_cast<float*>(nullptr), dw.data() + size_t(e) * g.O * g.I, y, x, w, g.N, g.I, g.O);
  };
  if (!g.experts) return time_call([&] { one(0); });
  return time_call([&] {
#pragma omp parallel for schedule(dynamic, 1)
    for (int e = 0; e < E; ++e) one(e);
  });
}

struct GemmTotals {
  double secs[3] = {}, flops[3] = {};  // per step, per mode; router and non-router separately below
  double router_secs = 0, moe_secs = 0;
};

GemmTotals run_gemms(const ModelConfig& c, int N, double peak, int threads) {
  omp_set_num_threads(threads);
  const int E = c.n_routed_experts;
  GemmTotals tot;
  const char* modes[3] = {"fwd", "dx", "dw"};
  for (const Gemm& g : step_gemms(c, N)) {
    const int groups = g.experts ? E : 1;
    const double fl = 2.0 * g.N * g.I * g.O * groups;
    std::printf("bench_suite gemm_shape threads=%d name=%s N=%d I=%d O=%d groups=%d calls_per_step=%d", threads,
                g.name.c_str(), g.N, g.I, g.O, groups, g.count);
    for (int m = 0; m < 3; ++m) {
      const double s = time_gemm(g, m, E);
      std::printf(" %s_gflops=%.1f %s_of_peak=%.3f", modes[m], fl / s / 1e9, modes[m], fl / s / 1e9 / peak);
      if (g.router) {
        tot.router_secs += s * g.count;
      } else {
        tot.secs[m] += s * g.count;
        tot.flops[m] += fl * g.count;
        if (g.moe) tot.moe_secs += s * g.count;
      }
    }
    std::printf("\n");
  }
  for (int m = 0; m < 3; ++m)
    std::printf("bench_suite gemm mode=%s threads=%d N=%d gflops=%.1f peak_gflops=%.1f of_peak=%.3f ms_per_step=%.3f\n",
                modes[m], threads, N, tot.flops[m] / tot.secs[m] / 1e9, peak, tot.flops[m] / tot.secs[m] / 1e9 / peak,
                tot.secs[m] * 1e3);
  return tot;
}

// ---- training step ----------------------------------------------------------------------------------------------
void run_train(const ModelConfig& cfg, int B, int T, int steps, int threads, double peak, const GemmTotals* gt) {
  omp_set_num_threads(threads);
  bench::TrainBatch tb(cfg, B, T);
  Model& m = tb.m;
  AdamW& opt = tb.opt;
  const int V = cfg.vocab_size, N = B * T;
  const std::vector<int32_t>& tok = tb.tok;
  std::vector<float>&logits = tb.logits, &dl = tb.dl;
  double t_fwd = 0, t_loss = 0, t_bwd = 0, t_opt = 0;
  auto step = [&] {
    double t0 = omp_get_wtime();
    m.zero_grad();
    m.forward(tok.data(), B, T, logits.data());
    double t1 = omp_get_wtime();
    next_token_loss(logits.data(), tok.data(), B, T, V, nullptr, dl.data());
    double t2 = omp_get_wtime();
    m.backward(dl.data());
    double t3 = omp_get_wtime();
    opt.step(m, 1e-3f);
    m.update_router_bias();
    double t4 = omp_get_wtime();
    t_fwd += t1 - t0, t_loss += t2 - t1, t_bwd += t3 - t2, t_opt += t4 - t3;
  };
  step();
  const double t_one = omp_get_wtime();
  step();
  // Best of 3 rounds of up to `steps` steps (the least disturbed by other processes), within a time budget.
  steps = std::max(2, std::min(steps, int(1.5 / (omp_get_wtime() - t_one))));
  const double deadline = omp_get_wtime() + 8.0;
  double best = 1e30, bf = 0, bl = 0, bb = 0, bo = 0;
  LayerTimings best_tm;
  for (int round = 0; round < 3 && (round == 0 || omp_get_wtime() < deadline); ++round) {
    t_fwd = t_loss = t_bwd = t_opt = 0;
    m.reset_timings();
    const double t0 = omp_get_wtime();
    for (int s = 0; s < steps; ++s) step();
    const double dt = (omp_get_wtime() - t0) / steps;
    if (dt < best) {
      best = dt, bf = t_fwd / steps, bl = t_loss / steps, bb = t_bwd / steps, bo = t_opt / steps;
      best_tm = m.timings();
    }
  }
  double core_flops = 0;
  const double fpt = 3.0 * forward_flops_per_token(cfg, T, &core_flops);
  std::printf("bench_suite train threads=%d B=%d T=%d tokens_per_step=%d step_ms=%.2f tokens_per_s=%.0f "
              "train_flops_per_token=%.0f attn_core_flops_per_token=%.0f gflops=%.2f peak_gflops=%.1f mfu=%.3f "
              "params=%zu active_params=%zu fwd_ms=%.2f loss_ms=%.2f bwd_ms=%.2f optimizer_ms=%.2f\n",
              threads, B, T, N, best * 1e3, N / best, fpt, 3.0 * core_flops, fpt * N / best / 1e9, peak,
              peak > 0 ? fpt * N / best / 1e9 / peak : 0.0, m.num_params(), m.num_active_params(), bf * 1e3, bl * 1e3, bb * 1e3,
              bo * 1e3);
  if (!gt) return;
  // Stage split: kernels replayed alone on the step's real shapes (same threads), the optimizer timed in the step,
  // router + MoE dispatch = the MoE layers' own timers (in the step) minus their replayed GEMM / SwiGLU / norm kernels.
  const int D = cfg.hidden_size, H = cfg.num_attention_heads, Dn = cfg.qk_nope_head_dim, Dr = cfg.qk_rope_head_dim,
            Dv = cfg.v_head_dim, Dq = cfg.q_head_dim(), K = cfg.num_experts_per_tok;
  const bool mtp = cfg.num_nextn_predict_layers > 0 && cfg.mtp_loss_weight > 0;
  const int blocks = cfg.num_hidden_layers + (mtp ? 1 : 0);
  int n_moe = 0, n_moe_main = 0;
  for (int l = 0; l < blocks; ++l)
    if (cfg.is_moe_layer(l)) ++n_moe, n_moe_main += l < cfg.num_hidden_layers;
  // attention core
  Buffers q(size_t(N) * H * Dq, size_t(N) * H * (Dn + Dv), size_t(N) * Dr);
  std::vector<float> o(size_t(N) * H * Dv), att(size_t(B) * H * T * T), dq(q.x.size()), dkv(q.w.size()),
      dkpe(q.y.size()), dout(o.size(), 0.01f);
  const double scale = cfg.softmax_scale();
  const double attn_fwd = time_call([&] {
    mla_attention_forward(o.data(), att.data(), q.x.data(), q.w.data(), q.y.data(), B, T, H, Dn, Dr, Dv, scale);
  });
  const double attn_bwd = time_call([&] {
    mla_attention_backward(dq.data(), dkv.data(), dkpe.data(), dout.data(), att.data(), q.x.data(), q.w.data(),
                           q.y.data(), B, T, H, Dn, Dr, Dv, scale);
  });
  const double attention = (attn_fwd + attn_bwd) * blocks;
  // norms: per block in_norm, post_norm (D), kv_a_layernorm (C), q_a_layernorm (Q); final norm; MTP enorm, hnorm,
  // shared_head.norm.
  auto norm_time = [&](int width) {
    Buffers b(size_t(N) * width, size_t(width), size_t(N) * width);
    std::vector<float> rstd(static_cast<size_t>(N)), dx(b.x.size()), dw(static_cast<size_t>(width));
    const double f = time_call([&] { rmsnorm_forward(b.y.data(), rstd.data(), b.x.data(), b.w.data(), N, width, 1e-6); });
    const double bw = time_call(
        [&] { rmsnorm_backward(dx.data(), dw.data(), b.y.data(), b.x.data(), b.w.data(), rstd.data(), N, width); });
    return f + bw;
  };
  const double nD = norm_time(D);
  double norms = nD * (2 * blocks + 1 + (mtp ? 3 : 0)) + norm_time(cfg.kv_lora_rank) * blocks;
  if (cfg.q_lora_rank > 0) norms += norm_time(cfg.q_lora_rank) * blocks;
  // SwiGLU activations (dense FFN, shared experts, routed experts)
  auto swiglu_time = [&](int rows, int F) {
    Buffers b(size_t(rows) * 2 * F, size_t(rows) * F, size_t(rows) * 2 * F);
    const double f = time_call([&] { swiglu_forward(b.w.data(), b.x.data(), rows, F); });
    const double bw = time_call([&] { swiglu_backward(b.y.data(), b.w.data(), b.x.data(), rows, F); });
    return f + bw;
  };
  const int n_dense = blocks - n_moe;
  const double sw_dense = n_dense > 0 ? swiglu_time(N, cfg.intermediate_size) : 0.0;
  const double sw_moe = (cfg.n_shared_experts > 0 ? swiglu_time(N, cfg.n_shared_experts * cfg.moe_intermediate_size) : 0.0) +
                        swiglu_time(N * K, cfg.moe_intermediate_size);
  const double swiglu = sw_dense * n_dense + sw_moe * n_moe;
  // loss (softmax cross-entropy over the vocabulary: main next-token loss + MTP)
  Buffers lb(size_t(N) * V, 0, size_t(N) * V);
  std::vector<int32_t> tgt(tok);
  const double xent = time_call([&] {
    softmax_xent(lb.x.data(), tgt.data(), static_cast<const float*>(nullptr), lb.y.data(), 1.0f / N, N, V);
  }) * (mtp ? 2 : 1);
  // router + dispatch: MoE layer timers (main model) minus the replayed GEMMs / SwiGLU / post-norm backward in them,
  // scaled to every MoE block (incl. the MTP one), plus nothing else.
  const double moe_measured = best_tm.fwd[LayerTimings::Moe] / steps + best_tm.bwd[LayerTimings::Moe] / steps;
  const double moe_kernels_per_layer = (gt->moe_secs + gt->router_secs) / std::max(1, n_moe) + sw_moe + nD / 2;
  const double router = std::max(0.0, moe_measured / std::max(1, n_moe_main) - moe_kernels_per_layer) * n_moe +
                        gt->router_secs;
  const double gemm = gt->secs[0] + gt->secs[1] + gt->secs[2];
  const double known = gemm + attention + router + norms + swiglu + xent + bo;
  std::printf("bench_suite stages threads=%d step_ms=%.2f gemm_ms=%.2f attention_ms=%.2f router_ms=%.2f norms_ms=%.2f "
              "swiglu_ms=%.2f loss_ms=%.2f optimizer_ms=%.2f rest_ms=%.2f\n",
              threads, best * 1e3, gemm * 1e3, attention * 1e3, router * 1e3, norms * 1e3, swiglu * 1e3, xent * 1e3,
              bo * 1e3, (best - known) * 1e3);
  std::printf("bench_suite layer_timers threads=%d", threads);
  for (int k = 0; k < LayerTimings::kKinds; ++k)
    std::printf(" %s_ms=%.2f", LayerTimings::name(k), (best_tm.fwd[k] + best_tm.bwd[k]) / steps * 1e3);
  std::printf("\n");
}

// ---- the PyTorch peer's inputs, our log-probs and our greedy decode ----------------------------------------------
int argmax(const float* p, int n) { return int(std::max_element(p, p + n) - p); }

// write = false (--repeat): only the greedy decode is measured again, nothing is written.
void run_peer_side(const ModelConfig& cfg, const std::string& dir, int B, int T, int steps, bool write) {
  namespace fs = std::filesystem;
  omp_set_num_threads(2);
  Model m(cfg);
  m.init_weights(1);
  if (write) {
    fs::create_directories(dir);
    save_checkpoint(m, dir);
  }
  const int V = cfg.vocab_size;
  nlohmann::json j;
  // 1. log-probs of a check batch (every position's next token), the full forward
  const int cb = 4, ct = 64;
  Rng rng(3);
  std::vector<int32_t> ctok(size_t(cb) * ct);
  for (auto& t : ctok) t = int32_t(rng.below(uint64_t(V)));
  std::vector<float> lg(size_t(cb) * ct * V);
  m.forward(ctok.data(), cb, ct, lg.data());
  nlohmann::json lp = nlohmann::json::array(), toks = nlohmann::json::array();
  for (int b = 0; b < cb; ++b) {
    nlohmann::json row = nlohmann::json::array(), trow = nlohmann::json::array();
    for (int t = 0; t < ct; ++t) trow.push_back(ctok[size_t(b) * ct + t]);
    for (int t = 0; t + 1 < ct; ++t) {
      const float* l = lg.data() + (size_t(b) * ct + t) * V;
      const double mx = *std::max_element(l, l + V);
      double z = 0;
      for (int v = 0; v < V; ++v) z += std::exp(double(l[v]) - mx);
      row.push_back(double(l[ctok[size_t(b) * ct + t + 1]]) - mx - std::log(z));
    }
    lp.push_back(row);
    toks.push_back(trow);
  }
  j["check"] = {{"tokens", toks}, {"logprobs", lp}};
  // 2. the training batch and our loss on it (before any update)
  const int N = B * T;
  Rng r2(2);
  std::vector<int32_t> tok(static_cast<size_t>(N));
  for (auto& t : tok) t = int32_t(r2.below(uint64_t(V)));
  std::vector<float> logits(size_t(N) * V);
  m.forward(tok.data(), B, T, logits.data());
  const double ce = next_token_loss(logits.data(), tok.data(), B, T, V, nullptr, nullptr);
  nlohmann::json ttoks = nlohmann::json::array();
  for (int b = 0; b < B; ++b) ttoks.push_back(std::vector<int32_t>(tok.begin() + size_t(b) * T, tok.begin() + size_t(b + 1) * T));
  const AdamWConfig oc;
  j["train"] = {{"tokens", ttoks},
                {"ce", ce},
                {"mtp", double(m.last_mtp_loss())},
                {"bal", double(m.last_balance_loss())},
                {"steps", steps},
                {"lr", 1e-3},
                {"adamw", {{"beta1", oc.adam_beta1}, {"beta2", oc.adam_beta2}, {"eps", oc.adam_epsilon},
                           {"weight_decay", oc.weight_decay}, {"max_grad_norm", oc.max_grad_norm}}}};
  // 3. greedy decode with the latent KV cache: prompts of 32 tokens, 64 new tokens, batch 1 and 64; the decode steps
  // are timed (not the prefill), best of 1 and 2 threads.
  const int prompt = 32, new_tokens = 64, maxb = 64;
  std::vector<std::vector<int32_t>> prompts(maxb, std::vector<int32_t>(prompt));
  Rng r3(4);
  for (auto& p : prompts)
    for (auto& t : p) t = int32_t(r3.below(uint64_t(V)));
  j["decode"] = {{"prompt_len", prompt}, {"new_tokens", new_tokens}, {"prompts", prompts}};
  KVCache cache(cfg, maxb, prompt + new_tokens + 1);
  std::vector<float> dl(size_t(maxb) * V);
  for (int b : {1, 64}) {
    double best = 1e30;
    int best_threads = 1;
    std::vector<std::vector<int32_t>> out;
    for (int threads : {1, 2}) {
      omp_set_num_threads(threads);
      for (int rep = 0; rep < 2; ++rep) {
        cache.reset_all();
        std::vector<int> slots(static_cast<size_t>(b));
        std::vector<int32_t> cur(static_cast<size_t>(b));
        std::vector<std::vector<int32_t>> gen(static_cast<size_t>(b));
        for (int s = 0; s < b; ++s) {
          slots[size_t(s)] = s;
          m.prefill(cache, s, prompts[size_t(s)].data(), prompt, dl.data());
          cur[size_t(s)] = argmax(dl.data(), V);
          gen[size_t(s)].push_back(cur[size_t(s)]);
        }
        const double t0 = omp_get_wtime();
        for (int k = 1; k < new_tokens; ++k) {
          m.decode_step(cache, slots.data(), cur.data(), b, dl.data());
          for (int s = 0; s < b; ++s) {
            cur[size_t(s)] = argmax(dl.data() + size_t(s) * V, V);
            gen[size_t(s)].push_back(cur[size_t(s)]);
          }
        }
        const double dt = omp_get_wtime() - t0;
        if (dt < best) best = dt, best_threads = threads;
        out = gen;
      }
    }
    const double tps = double(b) * (new_tokens - 1) / best;
    std::printf("bench_suite decode_greedy batch=%d prompt=%d new_tokens=%d tokens_per_s=%.0f threads=%d cache=mla_latent\n",
                b, prompt, new_tokens, tps, best_threads);
    j["decode"]["ours_batch" + std::to_string(b)] = {{"tokens_per_s", tps}, {"threads", best_threads}};
    if (b == 1) j["decode"]["greedy_b1"] = out[0];
  }
  if (!write) return;
  std::ofstream(dir + "/peer_inputs.json") << j.dump();
  std::printf("bench_suite peer_inputs dir=%s check_rows=%d check_T=%d train_B=%d train_T=%d ce=%.6f mtp=%.6f bal=%.6g\n",
              dir.c_str(), cb, ct, B, T, ce, double(m.last_mtp_loss()), double(m.last_balance_loss()));
}

}  // namespace

int main(int argc, char** argv) {
  std::string cfg_path = std::string(REASONRL_SOURCE_DIR) + "/configs/model_tiny.json", peer_dir;
  int B = 8, T = 128, steps = 8;
  bool repeat = false;  // --repeat: only the train step and the greedy decode again (bench.sh runs it after the peer)
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--B" && i + 1 < argc) B = std::atoi(argv[++i]);
    else if (a == "--T" && i + 1 < argc) T = std::atoi(argv[++i]);
    else if (a == "--steps" && i + 1 < argc) steps = std::atoi(argv[++i]);
    else if (a == "--peer" && i + 1 < argc) peer_dir = argv[++i];
    else if (a == "--repeat") repeat = true;
    else cfg_path = a;
  }
  try {
    const ModelConfig cfg = load_model_config(cfg_path);
    if (repeat) {
      run_train(cfg, B, T, steps, 1, 0.0, nullptr);
      run_train(cfg, B, T, steps, 2, 0.0, nullptr);
      run_peer_side(cfg, peer_dir, B, T, steps, false);
      return 0;
    }
    Model probe(cfg);
    const double ws_bytes = double(probe.num_params()) * 4;
    const double peak1 = fma_peak_gflops(1), peak2 = fma_peak_gflops(2);
    std::printf("bench_suite fma_peak threads=1 gflops=%.1f\n", peak1);
    std::printf("bench_suite fma_peak threads=2 gflops=%.1f\n", peak2);
    for (int th : {1, 2}) {
      std::printf("bench_suite read_bw threads=%d working_set_mb=%.2f working_set_gbs=%.1f dram_mb=512 dram_gbs=%.1f\n", th,
                  ws_bytes / 1e6, read_gbs(size_t(ws_bytes), th), read_gbs(size_t(512) << 20, th));
      std::fflush(stdout);
    }
    std::printf("bench_suite model config=%s params=%zu active_params=%zu working_set_mb=%.2f\n", cfg_path.c_str(),
                probe.num_params(), probe.num_active_params(), ws_bytes / 1e6);
    const GemmTotals gt1 = run_gemms(cfg, B * T, peak1, 1);
    std::fflush(stdout);
    const GemmTotals gt2 = run_gemms(cfg, B * T, peak2, 2);
    std::fflush(stdout);
    run_train(cfg, B, T, steps, 1, peak1, &gt1);
    std::fflush(stdout);
    run_train(cfg, B, T, steps, 2, peak2, &gt2);
    std::fflush(stdout);
    if (!peer_dir.empty()) run_peer_side(cfg, peer_dir, B, T, steps, true);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_suite: %s\n", e.what());
    return 1;
  }
  return 0;
}

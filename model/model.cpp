// model.cpp: the model: parameter arena layout, forward / backward of the blocks (MLA + dense or DeepSeekMoE FFN),
// MTP, router-bias balancing, and latent-cache decoding with absorbed MLA.
#include "model/model.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "model/flash_attention.h"
#include "model/fused_head.h"
#include "model/fused_sample.h"
#include "model/layers.h"
#include "model/parallel.h"
#include "rl/util/error.h"
#include "rl/util/rng.h"

namespace reasonrl::model {

const char* LayerTimings::name(int k) {
  static const char* names[] = {"embed", "attention", "dense_ffn", "moe", "head", "mtp"};
  return k >= 0 && k < kKinds ? names[k] : "?";
}

namespace {

// Offsets of one layer's tensors in the arena. gate_proj and up_proj of one FFN are adjacent, so [gate | up] is one
// (2F, D) matrix and one GEMM.
struct FfnOff {
  size_t gate_up = 0, down = 0;
  int F = 0;
};
struct LayerOff {
  size_t in_norm = 0, q_a = 0, q_a_norm = 0, q_b = 0, q = 0, kv_a = 0, kv_a_norm = 0, kv_b = 0, o = 0, post_norm = 0;
  bool moe = false;
  FfnOff dense;
  size_t router = 0, router_bias = 0;
  FfnOff shared;
  std::vector<FfnOff> experts;
  int moe_slot = -1;  // index into the router load counters
};
struct MtpOff {
  size_t enorm = 0, hnorm = 0, eh_proj = 0, head_norm = 0;
  LayerOff block;
};

enum class Init { Normal, One, Zero };

template <class S>
S* grow(std::vector<S>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}
template <class S>
S* zeroed(std::vector<S>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  std::fill(v.begin(), v.begin() + n, S(0));
  return v.data();
}

struct ScopedTimer {
  double* slot;
  double t0;
  explicit ScopedTimer(double* s) : slot(s), t0(s ? omp_get_wtime() : 0.0) {}
  ~ScopedTimer() {
    if (slot) *slot += omp_get_wtime() - t0;
  }
};

// Top-k indices of v (descending value, ties to the lower index) into out[0..k).
template <class S>
void topk_indices(const S* v, int n, int k, int* out) {
  for (int j = 0; j < k; ++j) out[j] = -1;
  for (int i = 0; i < n; ++i) {
    const S x = v[i];
    int p = k;
    while (p > 0 && (out[p - 1] < 0 || v[out[p - 1]] < x)) --p;
    if (p < k) {
      for (int j = k - 1; j > p; --j) out[j] = out[j - 1];
      out[p] = i;
    }
  }
}

}  // namespace

// ---- activation caches ------------------------------------------------------------------------------
template <class S>
struct FfnCache {
  std::vector<S> gu, a;  // (N, 2F) [gate | up] pre-activation, (N, F) silu(gate) * up
};
template <class S>
struct MoeCache {
  std::vector<S> s;           // (N, E) sigmoid affinities
  std::vector<int> idx;       // (N, K) selected experts
  std::vector<S> w;           // (N, K) gate weights
  std::vector<int> aux_idx;   // (N, K) unbiased top-k (indicator of the balance loss)
  std::vector<int> own_idx;   // (N, K) the router's own top-k when routes were forced (router replay), else empty
  int routed_N = -1;          // N of the stored selection (for frozen routing)
  std::vector<int> ebegin;    // (E + 1) first dispatched row of each expert
  std::vector<int> row_tok;   // (N*K) token of each dispatched row
  std::vector<int> pos;       // (N*K) dispatched row of (n, k)
  std::vector<S> xe, gue, ae, ye;  // (N*K, D), (N*K, 2F), (N*K, F), (N*K, D)
  FfnCache<S> shared;
  std::vector<S> bal_g;       // (B, E) dL_bal/ds'_i per row
  std::vector<S> ssum;        // (N) sum_i s_i
  bool bal_on = false;
};
template <class S>
struct BlockCache {
  std::vector<S> xn1, rstd1;         // (N, D), (N)
  std::vector<S> cq, cqn, rstdq;     // (N, Q), (N, Q), (N)
  std::vector<S> q;                  // (N, H, Dn+Dr) rope part rotated
  std::vector<S> ckv, ckvn, rstdkv;  // (N, C), (N, C), (N)
  std::vector<S> kpe;                // (N, Dr) rotated
  std::vector<S> kv;                 // (N, H, Dn+Dv)
  std::vector<S> att;                // (B, H, T, T) softmax probabilities (reference attention kernel)
  std::vector<S> lse;                // (N, H) log-sum-exp per row and head (tiled attention kernel)
  std::vector<S> o;                  // (N, H*Dv)
  std::vector<S> xmid;               // (N, D) residual after attention
  std::vector<S> xn2, rstd2;         // (N, D), (N)
  FfnCache<S> dense;
  MoeCache<S> moe;
};

template <class S>
struct BasicModel<S>::Impl {
  ModelConfig cfg;
  std::vector<TensorInfo> tensors;
  std::vector<Init> inits;
  size_t arena = 0;
  std::vector<S> params, grads;
  size_t embed = 0, final_norm = 0, lm_head = 0;
  std::vector<LayerOff> layers;
  bool has_mtp = false;
  MtpOff mtp;
  size_t n_active = 0;
  // router state: per MoE layer (main layers, then the MTP block) the counted loads, (n_moe, E) flattened
  std::vector<double> loads;
  std::vector<size_t> bias_off;
  bool frozen = false;
  // router replay: routes forced on the next training forward, (B*T, n_main_moe * K), rows of -1 route themselves
  std::vector<int16_t> forced;
  int n_main_moe = 0;  // MoE layers of the main model (route slots 0 .. n_main_moe - 1; the MTP block's comes after)
  std::vector<int16_t> d_routes;  // decode: (rows whose logits were written, n_main_moe * K)
  // activations of the last forward
  int B = 0, T = 0;
  bool have_forward = false;
  AttentionKernel attn_kernel = AttentionKernel::Auto;
  bool tiled = false;       // the kernel the last forward used (backward uses the same)
  // Sequences of the last forward (cu_seqlens, issue 20 §2): uniform_cu_seqlens(B, T) for a padded batch; for a packed
  // one (forward_hidden_packed: B = 1, T = N) the caller's boundaries. seg_of (N) = each token's sequence.
  std::vector<int> cu, seg_of;
  bool packed = false;
  std::vector<int32_t> tokens, pos;
  std::vector<S> mask;
  std::vector<std::vector<S>> resid;  // L + 1 of (N, D)
  std::vector<BlockCache<S>> blocks;  // L (+ 1 for the MTP block)
  // Activation checkpointing (cfg.activation_checkpointing, as of the last forward): every block (main layers and
  // the MTP block) keeps its activations in the one cache `rc`; backward recomputes a block's forward from its
  // stored input (resid[l], mtp_hin) just before its backward. `replaying` suppresses the forward's side effects
  // (router loads, balance loss); `rc_holds` is the block whose activations rc holds (-1 none, L = the MTP block).
  bool ckpt = false, replaying = false;
  int rc_holds = -1;
  BlockCache<S> rc;
  std::vector<S> w_replay;  // (N, D) the recomputed block's output (equal to the stored one; not used)
  BlockCache<S>& cache_for(int b) { return ckpt ? rc : blocks[size_t(b)]; }
  // With checkpointing, only the running block's FFN type keeps its cache and backward workspaces (the dense layer's
  // are 3F wide per token, the MoE's K*D-wide dispatched rows): a block of the other type releases them. Its own
  // buffers are then grown again; every value in them is written before it is read, so results do not change.
  void release_other_ffn(bool moe) {
    if (moe) {
      rc.dense = FfnCache<S>{};
      std::vector<S>().swap(w_dgu);  // also the shared experts' (narrower): grown again at their size
      std::vector<S>().swap(w_da);
    } else {
      rc.moe = MoeCache<S>{};
      for (auto* v : {&w_dye, &w_dw, &w_dae, &w_dgue, &w_dxe, &w_ds}) std::vector<S>().swap(*v);
    }
  }
  // Before block b's backward: recompute its forward into rc (nothing without checkpointing, or if rc holds it).
  void recompute(int b, const LayerOff& L, const S* xin, const S* cnt) {
    if (!ckpt || rc_holds == b) return;
    struct Replay {  // restores the flag on every exit
      bool& f;
      explicit Replay(bool& flag) : f(flag) { f = true; }
      ~Replay() { f = false; }
    } replay_scope(replaying);
    rc_holds = -1;
    block_forward(L, rc, xin, grow(w_replay, size_t(B) * T * cfg.hidden_size), B, T, cnt, -1);
    rc_holds = b;
  }
  std::vector<S> xf, rstdf;           // (N, D) final-normed hidden, (N)
  bool mtp_on = false;
  std::vector<int32_t> mtp_next, mtp_tgt;
  std::vector<S> mtp_emb, mtp_en, mtp_rstde, mtp_hn, mtp_rstdh, mtp_cat, mtp_hin, mtp_hout, mtp_hn2, mtp_rstd2;
  std::vector<S> mtp_dlogits, mtp_w;  // (N, V) d(mtp loss)/dlogits (unscaled by aux), (N)
  S mtp_loss = 0, bal_loss = 0;
  // Fused-head mode (forward_hidden): no (N, V) logits; the head runs on chosen rows only (fused_head.h).
  bool head_fused = false;
  std::vector<int32_t> sel_pos, sel_tgt;   // (M) flat positions b*T + t, their targets tokens[b*T + t + 1]
  std::vector<S> sel_x, sel_lse;           // (M, D) gathered final-normed rows (times sel_scale), (M)
  S sel_scale = 1;                         // the logit scale (1 / temperature) of the last selected_logprobs
  bool have_selected = false;
  std::vector<int32_t> mtp_rows, mtp_rtgt; // fused MTP head: rows with a counted target, their targets
  std::vector<S> mtp_rx, mtp_rlse;         // (M2, D), (M2)
  S mtp_scale = 0;
  S aux_scale = 1;
  LayerTimings tim;
  // workspaces
  std::vector<S> w_tmp, w_kva, w_do, w_dq, w_dkv, w_dkpe, w_dckvn, w_dckv, w_dkva, w_dcqn, w_dcq, w_dxn1, w_dxn2,
      w_dxmid, w_dye, w_dw, w_dae, w_dgue, w_dxe, w_ds, w_dgu, w_da, w_dA, w_dB, w_dxf, w_mtp, w_qlat, w_lat;
  std::vector<const S*> d_kv;         // decode: every row's block table for one layer, rows one after another
  std::vector<const S* const*> d_tab;  // decode: row m's block table (into d_kv)
  std::vector<int> d_len;
  std::vector<const S*> d_kvc;  // deterministic training forward: each token's sequence start in BlockCache::lat
  // decode workspace
  std::vector<S> d_x, d_xn, d_out, d_y, d_xf, d_rstd;
  // True inside decode_tokens: the linears shared with training (projections, FFN, experts) then take the decode
  // kernels (linear_forward_decode), and training's results stay those of linear_forward.
  bool decoding = false;
  // Deterministic mode (set_deterministic): every linear of training and decoding is linear_forward_invariant and
  // both take the decode activation, so a row's numbers do not depend on the batch or the thread count.
  bool det = false;
  void lin(S* y, const S* x, const S* w, int N, int I, int O) const {
    if (det) linear_forward_invariant(y, x, w, N, I, O);
    else if (decoding) linear_forward_decode(y, x, w, N, I, O);
    else linear_forward(y, x, w, N, I, O);
  }
  void act(S* a, const S* gu, int N, int F) const {
    if (decoding || det) swiglu_forward_decode(a, gu, N, F);
    else swiglu_forward(a, gu, N, F);
  }
  BlockCache<S> dec;

  const S* P(size_t off) const { return params.data() + off; }
  S* G(size_t off) { return grads.data() + off; }
  void ensure_grads() {
    if (grads.size() != params.size()) grads.assign(params.size(), S(0));
  }

  // ---- layout -------------------------------------------------------------------------------------
  size_t add(const std::string& name, std::vector<int64_t> shape, Init init, bool trainable = true) {
    TensorInfo t;
    t.name = name;
    t.shape = std::move(shape);
    t.size = 1;
    for (auto d : t.shape) t.size *= size_t(d);
    t.offset = arena;
    t.trainable = trainable;
    t.decay = trainable && t.shape.size() >= 2;
    arena += t.size;
    tensors.push_back(t);
    inits.push_back(init);
    return t.offset;
  }
  FfnOff add_ffn(const std::string& pre, int F) {
    const int D = cfg.hidden_size;
    FfnOff f;
    f.F = F;
    f.gate_up = add(pre + "gate_proj.weight", {F, D}, Init::Normal);
    add(pre + "up_proj.weight", {F, D}, Init::Normal);
    f.down = add(pre + "down_proj.weight", {D, F}, Init::Normal);
    return f;
  }
  LayerOff add_layer(int l, bool moe) {
    const ModelConfig& c = cfg;
    const int D = c.hidden_size, H = c.num_attention_heads;
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerOff L;
    L.in_norm = add(p + "input_layernorm.weight", {D}, Init::One);
    if (c.q_lora_rank > 0) {
      L.q_a = add(p + "self_attn.q_a_proj.weight", {c.q_lora_rank, D}, Init::Normal);
      L.q_a_norm = add(p + "self_attn.q_a_layernorm.weight", {c.q_lora_rank}, Init::One);
      L.q_b = add(p + "self_attn.q_b_proj.weight", {H * c.q_head_dim(), c.q_lora_rank}, Init::Normal);
    } else {
      L.q = add(p + "self_attn.q_proj.weight", {H * c.q_head_dim(), D}, Init::Normal);
    }
    L.kv_a = add(p + "self_attn.kv_a_proj_with_mqa.weight", {c.kv_lora_rank + c.qk_rope_head_dim, D}, Init::Normal);
    L.kv_a_norm = add(p + "self_attn.kv_a_layernorm.weight", {c.kv_lora_rank}, Init::One);
    L.kv_b = add(p + "self_attn.kv_b_proj.weight", {H * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank},
                 Init::Normal);
    L.o = add(p + "self_attn.o_proj.weight", {D, H * c.v_head_dim}, Init::Normal);
    L.post_norm = add(p + "post_attention_layernorm.weight", {D}, Init::One);
    L.moe = moe;
    if (!moe) {
      L.dense = add_ffn(p + "mlp.", c.intermediate_size);
    } else {
      L.router = add(p + "mlp.gate.weight", {c.n_routed_experts, D}, Init::Normal);
      L.router_bias = add(p + "mlp.gate.e_score_correction_bias", {c.n_routed_experts}, Init::Zero, false);
      for (int e = 0; e < c.n_routed_experts; ++e)
        L.experts.push_back(add_ffn(p + "mlp.experts." + std::to_string(e) + ".", c.moe_intermediate_size));
      if (c.n_shared_experts > 0)
        L.shared = add_ffn(p + "mlp.shared_experts.", c.n_shared_experts * c.moe_intermediate_size);
      L.moe_slot = int(bias_off.size());
      bias_off.push_back(L.router_bias);
    }
    return L;
  }
  void build(bool alloc = true) {
    const ModelConfig& c = cfg;
    const int D = c.hidden_size, V = c.vocab_size;
    if (c.qk_rope_head_dim > 512) throw ConfigError("model config: qk_rope_head_dim must be <= 512");
    if (c.n_routed_experts > 1024) throw ConfigError("model config: n_routed_experts must be <= 1024");
    embed = add("model.embed_tokens.weight", {V, D}, Init::Normal);
    for (int l = 0; l < c.num_hidden_layers; ++l) layers.push_back(add_layer(l, c.is_moe_layer(l)));
    n_main_moe = int(bias_off.size());
    final_norm = add("model.norm.weight", {D}, Init::One);
    lm_head = add("lm_head.weight", {V, D}, Init::Normal);
    has_mtp = c.num_nextn_predict_layers > 0;
    if (has_mtp) {
      const int l = c.num_hidden_layers;
      const std::string p = "model.layers." + std::to_string(l) + ".";
      mtp.enorm = add(p + "enorm.weight", {D}, Init::One);
      mtp.hnorm = add(p + "hnorm.weight", {D}, Init::One);
      mtp.eh_proj = add(p + "eh_proj.weight", {D, 2 * D}, Init::Normal);
      mtp.block = add_layer(l, c.is_moe_layer(l));
      mtp.head_norm = add(p + "shared_head.norm.weight", {D}, Init::One);
    }
    if (alloc) {
      const auto too_large = [&] {
        const double gib = 2.0 * double(arena) * sizeof(S) / double(1ull << 30);
        return CapacityError("out of memory: the model's " + std::to_string(arena) + " parameters need " +
                             std::to_string(gib) + " GiB for weights and gradients (training adds as much again for "
                             "AdamW's moments). HINT: `reasonrl model-info` prints the sizes of a config");
      };
      try {
        params.assign(arena, S(0));  // grads: on first use (ensure_grads), so an inference-only model has none
      } catch (const std::bad_alloc&) {
        throw too_large();
      } catch (const std::length_error&) {
        throw too_large();
      }
    }
    loads.assign(bias_off.size() * size_t(std::max(c.n_routed_experts, 1)), 0.0);
    // active parameters per token (main model)
    size_t total_main = lm_head + size_t(V) * D;  // everything before the MTP module
    size_t inactive = 0;
    for (const auto& L : layers)
      if (L.moe) inactive += size_t(c.n_routed_experts - c.num_experts_per_tok) * 3 * c.moe_intermediate_size * D;
    n_active = total_main - inactive;
    blocks.resize(layers.size() + (has_mtp ? 1 : 0));
    resid.resize(layers.size() + 1);
  }
  void init(uint64_t seed) {
    Rng rng(seed);
    const double std = cfg.initializer_range;
    for (size_t i = 0; i < tensors.size(); ++i) {
      S* p = params.data() + tensors[i].offset;
      for (size_t k = 0; k < tensors[i].size; ++k)
        p[k] = inits[i] == Init::One ? S(1) : inits[i] == Init::Zero ? S(0) : S(rng.normal() * std);
    }
  }

  // ---- FFN (dense SwiGLU; also a shared or routed expert) ------------------------------------------
  // y (N, D) = down(silu(gate x) * up x)
  void ffn_forward(const FfnOff& f, FfnCache<S>& fc, const S* x, S* y, int N) {
    const int D = cfg.hidden_size, F = f.F;
    S* gu = grow(fc.gu, size_t(N) * 2 * F);
    S* a = grow(fc.a, size_t(N) * F);
    lin(gu, x, P(f.gate_up), N, D, 2 * F);
    act(a, gu, N, F);
    lin(y, a, P(f.down), N, F, D);
  }
  // dx (N, D) += ...
  void ffn_backward(const FfnOff& f, FfnCache<S>& fc, const S* dy, const S* x, S* dx, int N) {
    const int D = cfg.hidden_size, F = f.F;
    S* da = zeroed(w_da, size_t(N) * F);
    linear_backward(da, G(f.down), dy, fc.a.data(), P(f.down), N, F, D);
    S* dgu = grow(w_dgu, size_t(N) * 2 * F);
    swiglu_backward(dgu, da, fc.gu.data(), N, F);
    linear_backward(dx, G(f.gate_up), dgu, x, P(f.gate_up), N, D, 2 * F);
  }

  // ---- DeepSeekMoE -------------------------------------------------------------------------------------
  // x (N, D) normed input, y (N, D) output. training: count loads (rows with cnt != 0), honour frozen routing,
  // compute the sequence-wise balance loss over the sequences of cu (the B rows of a padded batch).
  void moe_forward(const LayerOff& L, MoeCache<S>& mc, const S* x, S* y, int N, int /*B*/, int /*T*/, const S* cnt,
                   bool training) {
    const ModelConfig& c = cfg;
    const int D = c.hidden_size, E = c.n_routed_experts, K = c.num_experts_per_tok, Fm = c.moe_intermediate_size;
    const bool bal = training && c.seq_aux_alpha > 0;
    const bool reuse = training && frozen && mc.routed_N == N;
    // router replay: this layer's forced routes (row n at fr + n * fstride), main-model layers only
    const int fstride = n_main_moe * K;
    const int16_t* fr = training && !reuse && !forced.empty() && L.moe_slot < n_main_moe
                            ? forced.data() + size_t(L.moe_slot) * K
                            : nullptr;
    int* own = fr ? grow(mc.own_idx, size_t(N) * K) : nullptr;
    if (!fr && training && !reuse) mc.own_idx.clear();
    S* s = grow(mc.s, size_t(N) * E);
    lin(s, x, P(L.router), N, D, E);
    int* idx = grow(mc.idx, size_t(N) * K);
    int* aux_idx = grow(mc.aux_idx, size_t(N) * K);
    S* w = grow(mc.w, size_t(N) * K);
    const S* bias = P(L.router_bias);
    const int gsz = E / c.n_group;
    const S rsf = S(c.routed_scaling_factor);
    parallel_for(N, N > 64, [&](int n) {
      S* sn = s + size_t(n) * E;
      for (int e = 0; e < E; ++e) sn[e] = S(1) / (S(1) + std::exp(-sn[e]));
      int* in = idx + size_t(n) * K;
      if (!reuse) {
        S biased[1024];
        for (int e = 0; e < E; ++e) biased[e] = sn[e] + bias[e];
        if (c.n_group > 1) {
          S gscore[1024];
          for (int g = 0; g < c.n_group; ++g) {
            int t2[2];
            topk_indices(biased + g * gsz, gsz, 2, t2);
            gscore[g] = biased[g * gsz + t2[0]] + biased[g * gsz + t2[1]];
          }
          int keep[1024];
          topk_indices(gscore, c.n_group, c.topk_group, keep);
          bool kept[1024] = {};
          for (int j = 0; j < c.topk_group; ++j) kept[keep[j]] = true;
          for (int e = 0; e < E; ++e)
            if (!kept[e / gsz]) biased[e] = -INFINITY;
        }
        topk_indices(biased, E, K, in);
        if (bal) topk_indices(sn, E, K, aux_idx + size_t(n) * K);
        if (fr) {
          int* on = own + size_t(n) * K;
          std::copy(in, in + K, on);
          const int16_t* f = fr + size_t(n) * fstride;
          if (f[0] >= 0) {  // the forced set, in the order the biased scores rank it (ties to the lower id): with
                            // the own top-k set this is the own order, so the forward stays bit-identical
            for (int k = 0; k < K; ++k) {
              const int e = f[k];
              const S v = sn[e] + bias[e];
              int p = k;
              while (p > 0 && (sn[in[p - 1]] + bias[in[p - 1]] < v ||
                               (sn[in[p - 1]] + bias[in[p - 1]] == v && in[p - 1] > e))) {
                in[p] = in[p - 1];
                --p;
              }
              in[p] = e;
            }
          }
        }
      }
      S* wn = w + size_t(n) * K;
      S sum = 0;
      for (int k = 0; k < K; ++k) sum += sn[in[k]];
      for (int k = 0; k < K; ++k) wn[k] = (c.norm_topk_prob ? sn[in[k]] / (sum + S(1e-20)) : sn[in[k]]) * rsf;
    });
    if (training && !replaying) {
      mc.routed_N = N;
      double* ld = loads.data() + size_t(L.moe_slot) * E;
      for (int n = 0; n < N; ++n)
        if (!cnt || cnt[n] != S(0))
          for (int k = 0; k < K; ++k) ld[idx[size_t(n) * K + k]] += 1.0;
    }
    // dispatch: rows of each expert contiguous
    const int R = N * K;
    int* eb = grow(mc.ebegin, size_t(E) + 1);
    std::fill(eb, eb + E + 1, 0);
    for (int r = 0; r < R; ++r) eb[idx[r] + 1]++;
    for (int e = 0; e < E; ++e) eb[e + 1] += eb[e];
    int* rt = grow(mc.row_tok, size_t(R));
    int* pos = grow(mc.pos, size_t(R));
    {
      std::vector<int> fill(eb, eb + E);
      for (int r = 0; r < R; ++r) {
        const int row = fill[idx[r]]++;
        pos[r] = row;
        rt[row] = r / K;
      }
    }
    S* xe = grow(mc.xe, size_t(R) * D);
    S* gue = grow(mc.gue, size_t(R) * 2 * Fm);
    S* ae = grow(mc.ae, size_t(R) * Fm);
    S* ye = grow(mc.ye, size_t(R) * D);
    parallel_for(R, R > 64, [&](int r) { std::memcpy(xe + size_t(r) * D, x + size_t(rt[r]) * D, sizeof(S) * D); });
    parallel_for_dynamic(E, true, [&](int e) {
      const int r0 = eb[e], ne = eb[e + 1] - r0;
      if (ne == 0) return;
      const FfnOff& f = L.experts[e];
      lin(gue + size_t(r0) * 2 * Fm, xe + size_t(r0) * D, P(f.gate_up), ne, D, 2 * Fm);
      act(ae + size_t(r0) * Fm, gue + size_t(r0) * 2 * Fm, ne, Fm);
      lin(ye + size_t(r0) * D, ae + size_t(r0) * Fm, P(f.down), ne, Fm, D);
    });
    if (c.n_shared_experts > 0) ffn_forward(L.shared, mc.shared, x, y, N);
    else std::fill(y, y + size_t(N) * D, S(0));
    parallel_for(N, N > 64, [&](int n) {
      S* yn = y + size_t(n) * D;
      for (int k = 0; k < K; ++k) {
        const S g = w[size_t(n) * K + k];
        const S* src = ye + size_t(pos[size_t(n) * K + k]) * D;
        for (int d = 0; d < D; ++d) yn[d] += g * src[d];
      }
    });
    // sequence-wise balance loss: alpha * sum_i f_i P_i per row, averaged over rows with counted tokens
    mc.bal_on = bal;
    if (bal) {  // per sequence of cu (the B rows of a padded batch)
      const int nseg = int(cu.size()) - 1;
      S* bg = zeroed(mc.bal_g, size_t(nseg) * E);
      S* ss = grow(mc.ssum, size_t(N));
      for (int n = 0; n < N; ++n) {
        S t = 0;
        for (int e = 0; e < E; ++e) t += s[size_t(n) * E + e];
        ss[n] = t;
      }
      int rows = 0;
      for (int b = 0; b < nseg; ++b) {
        int Tb = 0;
        for (int n = cu[b]; n < cu[b + 1]; ++n) Tb += (!cnt || cnt[n] != S(0));
        rows += Tb > 0;
      }
      double loss = 0;
      for (int b = 0; b < nseg; ++b) {
        std::vector<double> f(E, 0.0), Pm(E, 0.0);
        int Tb = 0;
        for (int n = cu[b]; n < cu[b + 1]; ++n) {
          if (cnt && cnt[n] == S(0)) continue;
          ++Tb;
          for (int k = 0; k < K; ++k) f[aux_idx[size_t(n) * K + k]] += 1.0;
          for (int e = 0; e < E; ++e) Pm[e] += double(s[size_t(n) * E + e] / ss[n]);
        }
        if (Tb == 0) continue;
        for (int e = 0; e < E; ++e) {
          const double fi = f[e] * E / (double(K) * Tb);
          loss += c.seq_aux_alpha * fi * Pm[e] / Tb / rows;
          bg[size_t(b) * E + e] = S(c.seq_aux_alpha * fi / Tb / rows);
        }
      }
      if (!replaying) bal_loss += S(loss);
    }
  }

  // dy (N, D) -> dx (N, D) +=
  void moe_backward(const LayerOff& L, MoeCache<S>& mc, const S* dy, const S* x, S* dx, int N, int /*T*/,
                    const S* cnt) {
    const ModelConfig& c = cfg;
    const int D = c.hidden_size, E = c.n_routed_experts, K = c.num_experts_per_tok, Fm = c.moe_intermediate_size;
    const int R = N * K;
    if (c.n_shared_experts > 0) ffn_backward(L.shared, mc.shared, dy, x, dx, N);
    const int* idx = mc.idx.data();
    const int* pos = mc.pos.data();
    const S* w = mc.w.data();
    const S* s = mc.s.data();
    S* dye = grow(w_dye, size_t(R) * D);
    S* dw = grow(w_dw, size_t(R));
#pragma omp parallel for schedule(static) if (N > 64)
    for (int n = 0; n < N; ++n) {
      const S* g = dy + size_t(n) * D;
      for (int k = 0; k < K; ++k) {
        const int r = pos[size_t(n) * K + k];
        const S* ye = mc.ye.data() + size_t(r) * D;
        S* de = dye + size_t(r) * D;
        const S wk = w[size_t(n) * K + k];
        S acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int d = 0; d < D; ++d) {
          acc += g[d] * ye[d];
          de[d] = wk * g[d];
        }
        dw[size_t(n) * K + k] = acc;
      }
    }
    S* dae = zeroed(w_dae, size_t(R) * Fm);
    S* dgue = grow(w_dgue, size_t(R) * 2 * Fm);
    S* dxe = zeroed(w_dxe, size_t(R) * D);
    const int* eb = mc.ebegin.data();
#pragma omp parallel for schedule(dynamic, 1)
    for (int e = 0; e < E; ++e) {
      const int r0 = eb[e], ne = eb[e + 1] - r0;
      if (ne == 0) continue;
      const FfnOff& f = L.experts[e];
      linear_backward(dae + size_t(r0) * Fm, G(f.down), dye + size_t(r0) * D, mc.ae.data() + size_t(r0) * Fm,
                      P(f.down), ne, Fm, D);
      swiglu_backward(dgue + size_t(r0) * 2 * Fm, dae + size_t(r0) * Fm, mc.gue.data() + size_t(r0) * 2 * Fm, ne, Fm);
      linear_backward(dxe + size_t(r0) * D, G(f.gate_up), dgue + size_t(r0) * 2 * Fm, mc.xe.data() + size_t(r0) * D,
                      P(f.gate_up), ne, D, 2 * Fm);
    }
    S* ds = zeroed(w_ds, size_t(N) * E);
    const S rsf = S(c.routed_scaling_factor);
#pragma omp parallel for schedule(static) if (N > 64)
    for (int n = 0; n < N; ++n) {
      S* dxn = dx + size_t(n) * D;
      for (int k = 0; k < K; ++k) {
        const S* src = dxe + size_t(pos[size_t(n) * K + k]) * D;
        for (int d = 0; d < D; ++d) dxn[d] += src[d];
      }
      const int* in = idx + size_t(n) * K;
      const S* sn = s + size_t(n) * E;
      const S* dwn = dw + size_t(n) * K;
      S* dsn = ds + size_t(n) * E;
      if (c.norm_topk_prob) {
        S Z = S(1e-20), a = 0;
        for (int k = 0; k < K; ++k) {
          Z += sn[in[k]];
          a += dwn[k] * sn[in[k]];
        }
        for (int k = 0; k < K; ++k) dsn[in[k]] += rsf * (dwn[k] / Z - a / (Z * Z));
      } else {
        for (int k = 0; k < K; ++k) dsn[in[k]] += rsf * dwn[k];
      }
      if (mc.bal_on && (!cnt || cnt[n] != S(0))) {
        const S* g = mc.bal_g.data() + size_t(seg_of[size_t(n)]) * E;
        const S sum = mc.ssum[n];
        S dot = 0;
        for (int e = 0; e < E; ++e) dot += g[e] * sn[e] / sum;
        for (int e = 0; e < E; ++e) dsn[e] += aux_scale * (g[e] - dot) / sum;
      }
      for (int e = 0; e < E; ++e) dsn[e] *= sn[e] * (S(1) - sn[e]);
    }
    linear_backward(dx, G(L.router), ds, x, P(L.router), N, D, E);
  }

  // ---- MLA, expanded (training) -------------------------------------------------------------------------
  // Query, latent and rope-key projections for N tokens at positions pos: fills bc.q (rotated), bc.ckv, bc.ckvn,
  // bc.kpe (rotated) (and bc.cq / bc.cqn with a low-rank query).
  void mla_project(const LayerOff& L, BlockCache<S>& bc, const S* xn, int N, const int32_t* pos) {
    const ModelConfig& c = cfg;
    const int D = c.hidden_size, H = c.num_attention_heads, Dq = c.q_head_dim(), Dn = c.qk_nope_head_dim,
              Dr = c.qk_rope_head_dim, C = c.kv_lora_rank, Q = c.q_lora_rank;
    S* q = grow(bc.q, size_t(N) * H * Dq);
    if (Q > 0) {
      S* cq = grow(bc.cq, size_t(N) * Q);
      S* cqn = grow(bc.cqn, size_t(N) * Q);
      lin(cq, xn, P(L.q_a), N, D, Q);
      rmsnorm_forward(cqn, grow(bc.rstdq, size_t(N)), cq, P(L.q_a_norm), N, Q, c.rms_norm_eps);
      lin(q, cqn, P(L.q_b), N, Q, H * Dq);
    } else {
      lin(q, xn, P(L.q), N, D, H * Dq);
    }
    S* kva = grow(w_kva, size_t(N) * (C + Dr));
    lin(kva, xn, P(L.kv_a), N, D, C + Dr);
    S* ckv = grow(bc.ckv, size_t(N) * C);
    S* kpe = grow(bc.kpe, size_t(N) * Dr);
    for (int n = 0; n < N; ++n) {
      std::memcpy(ckv + size_t(n) * C, kva + size_t(n) * (C + Dr), sizeof(S) * C);
      std::memcpy(kpe + size_t(n) * Dr, kva + size_t(n) * (C + Dr) + C, sizeof(S) * Dr);
    }
    rmsnorm_forward(grow(bc.ckvn, size_t(N) * C), grow(bc.rstdkv, size_t(N)), ckv, P(L.kv_a_norm), N, C,
                    c.rms_norm_eps);
    rope_apply(q + Dn, N, H * Dq, H, Dq, pos, Dr, c.rope_spec(), +1);
    rope_apply(kpe, N, Dr, 1, Dr, pos, Dr, c.rope_spec(), +1);
  }

  // xn (N, D) -> out (N, D)
  void attn_forward(const LayerOff& L, BlockCache<S>& bc, const S* xn, S* out, int B, int T) {
    const ModelConfig& c = cfg;
    const int D = c.hidden_size, H = c.num_attention_heads, Dn = c.qk_nope_head_dim, Dr = c.qk_rope_head_dim,
              Dv = c.v_head_dim, C = c.kv_lora_rank;
    const int N = B * T;
    mla_project(L, bc, xn, N, pos.data());
    S* kv = grow(bc.kv, size_t(N) * H * (Dn + Dv));
    linear_forward(kv, bc.ckvn.data(), P(L.kv_b), N, C, H * (Dn + Dv));
    S* o = grow(bc.o, size_t(N) * H * Dv);
    if (tiled)
      flash_mla_forward(o, grow(bc.lse, size_t(N) * H), bc.q.data(), kv, bc.kpe.data(), cu.data(), int(cu.size()) - 1,
                        H, Dn, Dr, Dv, c.softmax_scale());
    else
      mla_attention_forward(o, grow(bc.att, size_t(B) * H * T * T), bc.q.data(), kv, bc.kpe.data(), B, T, H, Dn, Dr,
                            Dv, c.softmax_scale());
    if (det) {  // the output decode computes: absorbed MLA over each token's sequence so far (the expanded forward
                // above stays for the backward, which is the same function's gradient)
      const int W = C + Dr;
      S* lat = grow(w_lat, size_t(N) * W);  // (N, C+Dr) = [kv_norm(c_KV) | rotated k_R], the decode cache's rows
      for (int n = 0; n < N; ++n) {
        std::memcpy(lat + size_t(n) * W, bc.ckvn.data() + size_t(n) * C, sizeof(S) * C);
        std::memcpy(lat + size_t(n) * W + C, bc.kpe.data() + size_t(n) * Dr, sizeof(S) * Dr);
      }
      d_kvc.resize(size_t(N));
      d_len.resize(size_t(N));
      int max_len = 1;
      for (int n = 0; n < N; ++n) {
        const int s0 = cu[size_t(seg_of[size_t(n)])];
        d_kvc[size_t(n)] = lat + size_t(s0) * W;
        d_len[size_t(n)] = n - s0 + 1;
        max_len = std::max(max_len, d_len[size_t(n)]);
      }
      mla_decode_attention_forward(o, bc.q.data(), d_kvc.data(), d_len.data(), P(L.kv_b), N, H, Dn, Dr, Dv, C,
                                   c.softmax_scale(), grow(w_qlat, size_t(N) * mla_decode_work(H, C, Dr, max_len)));
    }
    lin(out, o, P(L.o), N, H * Dv, D);
  }

  // dout (N, D) -> dxn (N, D) +=
  void attn_backward(const LayerOff& L, BlockCache<S>& bc, const S* dout, const S* xn, S* dxn, int B, int T) {
    const ModelConfig& c = cfg;
    const int D = c.hidden_size, H = c.num_attention_heads, Dq = c.q_head_dim(), Dn = c.qk_nope_head_dim,
              Dr = c.qk_rope_head_dim, Dv = c.v_head_dim, C = c.kv_lora_rank, Q = c.q_lora_rank;
    const int N = B * T;
    S* d_o = zeroed(w_do, size_t(N) * H * Dv);
    linear_backward(d_o, G(L.o), dout, bc.o.data(), P(L.o), N, H * Dv, D);
    S* dq = grow(w_dq, size_t(N) * H * Dq);
    S* dkv = grow(w_dkv, size_t(N) * H * (Dn + Dv));
    S* dkpe = grow(w_dkpe, size_t(N) * Dr);
    if (tiled)
      flash_mla_backward(dq, dkv, dkpe, d_o, bc.o.data(), bc.lse.data(), bc.q.data(), bc.kv.data(), bc.kpe.data(),
                         cu.data(), int(cu.size()) - 1, H, Dn, Dr, Dv, c.softmax_scale());
    else
      mla_attention_backward(dq, dkv, dkpe, d_o, bc.att.data(), bc.q.data(), bc.kv.data(), bc.kpe.data(), B, T, H, Dn,
                             Dr, Dv, c.softmax_scale());
    rope_apply(dq + Dn, N, H * Dq, H, Dq, pos.data(), Dr, c.rope_spec(), -1);
    rope_apply(dkpe, N, Dr, 1, Dr, pos.data(), Dr, c.rope_spec(), -1);
    S* dckvn = zeroed(w_dckvn, size_t(N) * C);
    linear_backward(dckvn, G(L.kv_b), dkv, bc.ckvn.data(), P(L.kv_b), N, C, H * (Dn + Dv));
    S* dckv = zeroed(w_dckv, size_t(N) * C);
    rmsnorm_backward(dckv, G(L.kv_a_norm), dckvn, bc.ckv.data(), P(L.kv_a_norm), bc.rstdkv.data(), N, C);
    S* dkva = grow(w_dkva, size_t(N) * (C + Dr));
    for (int n = 0; n < N; ++n) {
      std::memcpy(dkva + size_t(n) * (C + Dr), dckv + size_t(n) * C, sizeof(S) * C);
      std::memcpy(dkva + size_t(n) * (C + Dr) + C, dkpe + size_t(n) * Dr, sizeof(S) * Dr);
    }
    linear_backward(dxn, G(L.kv_a), dkva, xn, P(L.kv_a), N, D, C + Dr);
    if (Q > 0) {
      S* dcqn = zeroed(w_dcqn, size_t(N) * Q);
      linear_backward(dcqn, G(L.q_b), dq, bc.cqn.data(), P(L.q_b), N, Q, H * Dq);
      S* dcq = zeroed(w_dcq, size_t(N) * Q);
      rmsnorm_backward(dcq, G(L.q_a_norm), dcqn, bc.cq.data(), P(L.q_a_norm), bc.rstdq.data(), N, Q);
      linear_backward(dxn, G(L.q_a), dcq, xn, P(L.q_a), N, D, Q);
    } else {
      linear_backward(dxn, G(L.q), dq, xn, P(L.q), N, D, H * Dq);
    }
  }

  // ---- block ----------------------------------------------------------------------------------------------
  // xin (N, D) -> xout (N, D)
  void block_forward(const LayerOff& L, BlockCache<S>& bc, const S* xin, S* xout, int B, int T, const S* cnt,
                     int kind_attn) {
    const int D = cfg.hidden_size, N = B * T;
    if (ckpt) release_other_ffn(L.moe);
    S* tmp = grow(w_tmp, size_t(N) * D);
    {
      ScopedTimer tm(kind_attn < 0 ? nullptr : &tim.fwd[kind_attn]);
      rmsnorm_forward(grow(bc.xn1, size_t(N) * D), grow(bc.rstd1, size_t(N)), xin, P(L.in_norm), N, D,
                      cfg.rms_norm_eps);
      attn_forward(L, bc, bc.xn1.data(), tmp, B, T);
      S* xm = grow(bc.xmid, size_t(N) * D);
      for (size_t i = 0; i < size_t(N) * D; ++i) xm[i] = xin[i] + tmp[i];
      rmsnorm_forward(grow(bc.xn2, size_t(N) * D), grow(bc.rstd2, size_t(N)), xm, P(L.post_norm), N, D,
                      cfg.rms_norm_eps);
    }
    {
      ScopedTimer tm(kind_attn < 0 ? nullptr : &tim.fwd[L.moe ? LayerTimings::Moe : LayerTimings::DenseFfn]);
      if (L.moe) moe_forward(L, bc.moe, bc.xn2.data(), tmp, N, B, T, cnt, true);
      else ffn_forward(L.dense, bc.dense, bc.xn2.data(), tmp, N);
      for (size_t i = 0; i < size_t(N) * D; ++i) xout[i] = bc.xmid[i] + tmp[i];
    }
  }

  // dout (N, D) -> din (N, D) (written)
  void block_backward(const LayerOff& L, BlockCache<S>& bc, const S* xin, const S* dout, S* din, int B, int T,
                      const S* cnt, int kind_attn) {
    const int D = cfg.hidden_size, N = B * T;
    S* dxmid = grow(w_dxmid, size_t(N) * D);
    {
      ScopedTimer tm(kind_attn < 0 ? nullptr : &tim.bwd[L.moe ? LayerTimings::Moe : LayerTimings::DenseFfn]);
      S* dxn2 = zeroed(w_dxn2, size_t(N) * D);
      if (L.moe) moe_backward(L, bc.moe, dout, bc.xn2.data(), dxn2, N, T, cnt);
      else ffn_backward(L.dense, bc.dense, dout, bc.xn2.data(), dxn2, N);
      std::memcpy(dxmid, dout, sizeof(S) * N * D);
      rmsnorm_backward(dxmid, G(L.post_norm), dxn2, bc.xmid.data(), P(L.post_norm), bc.rstd2.data(), N, D);
    }
    {
      ScopedTimer tm(kind_attn < 0 ? nullptr : &tim.bwd[kind_attn]);
      S* dxn1 = zeroed(w_dxn1, size_t(N) * D);
      attn_backward(L, bc, dxmid, bc.xn1.data(), dxn1, B, T);
      std::memcpy(din, dxmid, sizeof(S) * N * D);
      rmsnorm_backward(din, G(L.in_norm), dxn1, xin, P(L.in_norm), bc.rstd1.data(), N, D);
    }
  }

  void check_tokens(const int32_t* tok, size_t n) const {
    for (size_t i = 0; i < n; ++i)
      if (tok[i] < 0 || tok[i] >= cfg.vocab_size)
        throw FormatError("token id " + std::to_string(tok[i]) + " at index " + std::to_string(i) +
                          " is outside the vocabulary [0, " + std::to_string(cfg.vocab_size) + ")");
  }

  // ---- model forward / backward ---------------------------------------------------------------------------
  void forward(const int32_t* tok, int B_, int T_, S* logits, const S* loss_mask) {
    const ModelConfig& c = cfg;
    if (B_ <= 0 || T_ <= 0) throw Error("model forward: B and T must be > 0 (got " + std::to_string(B_) + ", " +
                                        std::to_string(T_) + ")");
    if (T_ > c.max_position_embeddings && !packed)
      throw CapacityError("model forward: T = " + std::to_string(T_) + " exceeds max_position_embeddings = " +
                          std::to_string(c.max_position_embeddings));
    B = B_;
    T = T_;
    ckpt = c.activation_checkpointing;
    if (ckpt && frozen)
      throw Error("model forward: activation_checkpointing does not support frozen routing (set_routing_frozen)");
    if (ckpt) {  // release the per-block activations of earlier forwards without checkpointing
      for (auto& bc : blocks) bc = BlockCache<S>{};
    } else {
      rc = BlockCache<S>{};
    }
    rc_holds = -1;
    if (packed) {  // cu holds the caller's sequences (checked by forward_hidden_packed); only the tiled kernel packs
      tiled = true;
    } else {
      tiled = attn_kernel == AttentionKernel::Tiled || (attn_kernel == AttentionKernel::Auto && T >= kTiledAttentionMinT);
      cu = uniform_cu_seqlens(B, T);
    }
    const int N = B * T, D = c.hidden_size, V = c.vocab_size, Ln = c.num_hidden_layers;
    check_tokens(tok, size_t(N));
    if (!forced.empty() && forced.size() != size_t(N) * size_t(n_main_moe) * size_t(c.num_experts_per_tok)) {
      const size_t rows = forced.size() / (size_t(n_main_moe) * size_t(c.num_experts_per_tok));
      forced.clear();
      throw Error("model forward: forced routes were given for " + std::to_string(rows) + " rows, the batch has " +
                  std::to_string(N));
    }
    struct ClearForced {  // forced routes hold for one forward
      std::vector<int16_t>& f;
      ~ClearForced() { f.clear(); }
    } clear_forced{forced};
    tokens.assign(tok, tok + N);
    seg_of.resize(size_t(N));
    for (size_t s = 0; s + 1 < cu.size(); ++s) std::fill(seg_of.begin() + cu[s], seg_of.begin() + cu[s + 1], int(s));
    pos.resize(N);
    for (int n = 0; n < N; ++n) pos[n] = n - cu[size_t(seg_of[size_t(n)])];  // RoPE restarts per sequence
    mask.resize(N);
    for (int n = 0; n < N; ++n) mask[n] = loss_mask ? loss_mask[n] : S(1);
    bal_loss = 0;
    mtp_loss = 0;
    for (auto& r : resid) grow(r, size_t(N) * D);
    {
      ScopedTimer tm(&tim.fwd[LayerTimings::Embed]);
      S* x0 = resid[0].data();
#pragma omp parallel for schedule(static) if (N > 256)
      for (int n = 0; n < N; ++n) std::memcpy(x0 + size_t(n) * D, P(embed) + size_t(tok[n]) * D, sizeof(S) * D);
    }
    for (int l = 0; l < Ln; ++l)
      block_forward(layers[l], cache_for(l), resid[l].data(), resid[l + 1].data(), B, T, mask.data(),
                    LayerTimings::Attention);
    if (ckpt) rc_holds = Ln - 1;
    {
      ScopedTimer tm(&tim.fwd[LayerTimings::Head]);
      rmsnorm_forward(grow(xf, size_t(N) * D), grow(rstdf, size_t(N)), resid[Ln].data(), P(final_norm), N, D,
                      c.rms_norm_eps);
      if (!head_fused) lin(logits, xf.data(), P(lm_head), N, D, V);
    }
    mtp_on = has_mtp && c.mtp_loss_weight > 0;
    if (mtp_on) mtp_forward();
    have_forward = true;
  }

  void mtp_forward() {
    ScopedTimer tm(&tim.fwd[LayerTimings::Mtp]);
    const ModelConfig& c = cfg;
    const int N = B * T, D = c.hidden_size, V = c.vocab_size;
    mtp_next.resize(N);
    mtp_tgt.resize(N);
    S* wv = grow(mtp_w, size_t(N));
    S nvalid = 0;
    for (int n = 0; n < N; ++n) {  // within n's sequence [.., end)
      const int end = cu[size_t(seg_of[size_t(n)]) + 1];
      mtp_next[n] = tokens[std::min(n + 1, end - 1)];
      const bool ok = n + 2 < end;
      mtp_tgt[n] = ok ? tokens[n + 2] : 0;
      wv[n] = ok ? mask[n + 2] : S(0);
      nvalid += wv[n];
    }
    S* emb = grow(mtp_emb, size_t(N) * D);
    for (int n = 0; n < N; ++n) std::memcpy(emb + size_t(n) * D, P(embed) + size_t(mtp_next[n]) * D, sizeof(S) * D);
    rmsnorm_forward(grow(mtp_en, size_t(N) * D), grow(mtp_rstde, size_t(N)), emb, P(mtp.enorm), N, D, c.rms_norm_eps);
    rmsnorm_forward(grow(mtp_hn, size_t(N) * D), grow(mtp_rstdh, size_t(N)), xf.data(), P(mtp.hnorm), N, D,
                    c.rms_norm_eps);
    S* cat = grow(mtp_cat, size_t(N) * 2 * D);
    for (int n = 0; n < N; ++n) {  // [enorm(emb) | hnorm(h)]: embedding first, as in the released weights
      std::memcpy(cat + size_t(n) * 2 * D, mtp_en.data() + size_t(n) * D, sizeof(S) * D);
      std::memcpy(cat + size_t(n) * 2 * D + D, mtp_hn.data() + size_t(n) * D, sizeof(S) * D);
    }
    S* hin = grow(mtp_hin, size_t(N) * D);
    linear_forward(hin, cat, P(mtp.eh_proj), N, 2 * D, D);
    S* hout = grow(mtp_hout, size_t(N) * D);
    block_forward(mtp.block, cache_for(c.num_hidden_layers), hin, hout, B, T, wv, -1);
    if (ckpt) rc_holds = c.num_hidden_layers;
    rmsnorm_forward(grow(mtp_hn2, size_t(N) * D), grow(mtp_rstd2, size_t(N)), hout, P(mtp.head_norm), N, D,
                    c.rms_norm_eps);
    const S scale = nvalid > 0 ? S(c.mtp_loss_weight) / nvalid : S(0);
    if (head_fused) {  // the head on the counted rows only, without (N, V) logits
      mtp_scale = scale;
      mtp_rows.clear();
      mtp_rtgt.clear();
      for (int n = 0; n < N; ++n)
        if (wv[n] != S(0)) mtp_rows.push_back(n), mtp_rtgt.push_back(mtp_tgt[n]);
      const int M = int(mtp_rows.size());
      S* rx = grow(mtp_rx, size_t(M) * D);
      for (int i = 0; i < M; ++i) std::memcpy(rx + size_t(i) * D, mtp_hn2.data() + size_t(mtp_rows[i]) * D, sizeof(S) * D);
      std::vector<S> logp(mtp_rows.size());
      fused_head_logprob_forward(logp.data(), grow(mtp_rlse, size_t(M)), rx, P(lm_head), mtp_rtgt.data(), M, D, V);
      double tot = 0;
      for (int i = 0; i < M; ++i) tot -= double(wv[mtp_rows[i]]) * double(logp[i]);
      mtp_loss = S(tot * double(scale));
      return;
    }
    S* ml = grow(mtp_dlogits, size_t(N) * V);
    linear_forward(ml, mtp_hn2.data(), P(lm_head), N, D, V);
    const double tot = softmax_xent(ml, mtp_tgt.data(), wv, ml, scale, N, V);  // in place: logits -> dlogits
    mtp_loss = S(tot * double(scale));
  }

  void backward(const S* dlogits, S aux) {
    if (!have_forward) throw Error("model backward: call forward first");
    const int N = B * T, D = cfg.hidden_size, V = cfg.vocab_size;
    if (head_fused) throw Error("model backward: the last forward was forward_hidden; use backward_selected");
    aux_scale = aux;
    S* dxf = zeroed(w_dxf, size_t(N) * D);
    {
      ScopedTimer tm(&tim.bwd[LayerTimings::Head]);
      linear_backward(dxf, G(lm_head), dlogits, xf.data(), P(lm_head), N, D, V);
    }
    backward_body(dxf);
  }

  // positions (M) -> logp (M): the fused head on the chosen rows of the last forward_hidden.
  void selected_logprobs(const int32_t* positions, int M, S* logp, S* entropy, S logit_scale) {
    if (!have_forward || !head_fused) throw Error("selected_logprobs: call forward_hidden first");
    if (M < 0) throw Error("selected_logprobs: M must be >= 0 (got " + std::to_string(M) + ")");
    ScopedTimer tm(&tim.fwd[LayerTimings::Head]);
    const int N = B * T, D = cfg.hidden_size, V = cfg.vocab_size;
    sel_pos.assign(positions, positions + M);
    sel_tgt.resize(size_t(M));
    S* x = grow(sel_x, size_t(M) * D);
    for (int i = 0; i < M; ++i) {
      const int32_t p = positions[i];
      if (p < 0 || p >= N || p + 1 >= cu[size_t(seg_of[size_t(p)]) + 1])
        throw Error("selected_logprobs: position " + std::to_string(p) + " (index " + std::to_string(i) +
                    ") is not b*T + t with t < T-1 = " + std::to_string(T - 1) + " in a batch of " +
                    std::to_string(B) + " rows (packed: not followed by a token of its sequence)");
      sel_tgt[size_t(i)] = tokens[size_t(p) + 1];
      std::memcpy(x + size_t(i) * D, xf.data() + size_t(p) * D, sizeof(S) * D);
      if (logit_scale != S(1))  // logits / temperature = (x / temperature) w^T
        for (int d = 0; d < D; ++d) x[size_t(i) * D + d] *= logit_scale;
    }
    sel_scale = logit_scale;
    fused_head_logprob_forward(logp, grow(sel_lse, size_t(M)), x, P(lm_head), sel_tgt.data(), M, D, V, entropy);
    have_selected = true;
  }

  void backward_selected(const S* dlogp, S aux) {
    if (!have_selected) throw Error("backward_selected: call forward_hidden and selected_logprobs first");
    const int N = B * T, D = cfg.hidden_size, V = cfg.vocab_size, M = int(sel_pos.size());
    aux_scale = aux;
    S* dxf = zeroed(w_dxf, size_t(N) * D);
    {
      ScopedTimer tm(&tim.bwd[LayerTimings::Head]);
      std::vector<S> dx(size_t(M) * D, S(0));
      fused_head_logprob_backward(dx.data(), G(lm_head), dlogp, sel_lse.data(), sel_x.data(), P(lm_head),
                                  sel_tgt.data(), M, D, V);
      for (int i = 0; i < M; ++i) {  // positions may repeat: add
        S* row = dxf + size_t(sel_pos[size_t(i)]) * D;
        for (int d = 0; d < D; ++d) row[d] += sel_scale == S(1) ? dx[size_t(i) * D + d] : sel_scale * dx[size_t(i) * D + d];
      }
    }
    backward_body(dxf);
  }

  // From dxf (N, D) = dLoss/d(final-normed hidden) of the caller's loss: MTP, final norm, blocks, embedding.
  void backward_body(S* dxf) {
    const ModelConfig& c = cfg;
    const int N = B * T, D = c.hidden_size, Ln = c.num_hidden_layers;
    if (mtp_on) mtp_backward(dxf);
    S* dA = grow(w_dA, size_t(N) * D);
    S* dB = grow(w_dB, size_t(N) * D);
    {
      ScopedTimer tm(&tim.bwd[LayerTimings::Head]);
      std::fill(dA, dA + size_t(N) * D, S(0));
      rmsnorm_backward(dA, G(final_norm), dxf, resid[Ln].data(), P(final_norm), rstdf.data(), N, D);
    }
    for (int l = Ln - 1; l >= 0; --l) {
      recompute(l, layers[l], resid[l].data(), mask.data());
      block_backward(layers[l], cache_for(l), resid[l].data(), dA, dB, B, T, mask.data(), LayerTimings::Attention);
      std::swap(dA, dB);
    }
    ScopedTimer tm(&tim.bwd[LayerTimings::Embed]);
    S* ge = G(embed);
    for (int n = 0; n < N; ++n) {
      S* row = ge + size_t(tokens[n]) * D;
      const S* g = dA + size_t(n) * D;
      for (int d = 0; d < D; ++d) row[d] += g[d];
    }
  }

  void mtp_backward(S* dxf) {
    ScopedTimer tm(&tim.bwd[LayerTimings::Mtp]);
    const ModelConfig& c = cfg;
    const int N = B * T, D = c.hidden_size, V = c.vocab_size;
    // Each buffer lives only as long as it is needed: the block backward below (the step's peak at long T) sees
    // dhout and dhin only.
    std::vector<S> dhn2(size_t(N) * D, S(0)), dhout(size_t(N) * D, S(0));
    if (head_fused) {
      const int M = int(mtp_rows.size());
      std::vector<S> dlogp(mtp_rows.size()), dx(mtp_rows.size() * D, S(0));
      for (int i = 0; i < M; ++i) dlogp[size_t(i)] = -mtp_scale * mtp_w[size_t(mtp_rows[size_t(i)])] * aux_scale;
      fused_head_logprob_backward(dx.data(), G(lm_head), dlogp.data(), mtp_rlse.data(), mtp_rx.data(), P(lm_head),
                                  mtp_rtgt.data(), M, D, V);
      for (int i = 0; i < M; ++i)
        std::memcpy(dhn2.data() + size_t(mtp_rows[size_t(i)]) * D, dx.data() + size_t(i) * D, sizeof(S) * D);
    } else {
      const S* dml = mtp_dlogits.data();
      std::vector<S> scaled;
      if (aux_scale != S(1)) {
        scaled.assign(mtp_dlogits.begin(), mtp_dlogits.begin() + size_t(N) * V);
        for (auto& v : scaled) v *= aux_scale;
        dml = scaled.data();
      }
      linear_backward(dhn2.data(), G(lm_head), dml, mtp_hn2.data(), P(lm_head), N, D, V);
    }
    rmsnorm_backward(dhout.data(), G(mtp.head_norm), dhn2.data(), mtp_hout.data(), P(mtp.head_norm),
                     mtp_rstd2.data(), N, D);
    std::vector<S>().swap(dhn2);
    std::vector<S> dhin(size_t(N) * D);
    recompute(c.num_hidden_layers, mtp.block, mtp_hin.data(), mtp_w.data());
    block_backward(mtp.block, cache_for(c.num_hidden_layers), mtp_hin.data(), dhout.data(), dhin.data(), B, T, mtp_w.data(),
                   -1);
    std::vector<S>().swap(dhout);
    std::vector<S> dcat(size_t(N) * 2 * D, S(0));
    linear_backward(dcat.data(), G(mtp.eh_proj), dhin.data(), mtp_cat.data(), P(mtp.eh_proj), N, 2 * D, D);
    std::vector<S>().swap(dhin);
    std::vector<S> den(size_t(N) * D), dhn(size_t(N) * D);
    for (int n = 0; n < N; ++n) {
      std::memcpy(den.data() + size_t(n) * D, dcat.data() + size_t(n) * 2 * D, sizeof(S) * D);
      std::memcpy(dhn.data() + size_t(n) * D, dcat.data() + size_t(n) * 2 * D + D, sizeof(S) * D);
    }
    std::vector<S>().swap(dcat);
    std::vector<S> demb(size_t(N) * D, S(0));
    rmsnorm_backward(demb.data(), G(mtp.enorm), den.data(), mtp_emb.data(), P(mtp.enorm), mtp_rstde.data(), N, D);
    S* ge = G(embed);
    for (int n = 0; n < N; ++n) {
      S* row = ge + size_t(mtp_next[n]) * D;
      for (int d = 0; d < D; ++d) row[d] += demb[size_t(n) * D + d];
    }
    rmsnorm_backward(dxf, G(mtp.hnorm), dhn.data(), xf.data(), P(mtp.hnorm), mtp_rstdh.data(), N, D);
  }

  // ---- decoding (absorbed MLA over the latent cache) ------------------------------------------------------
  // M tokens; token m goes to slot sl[m] at position ps[m]. Logits of rows with want[m] go to out (in order).
  void decode_tokens(BasicKVCache<S>& cache, const int* sl, const int32_t* ps, const int32_t* tok, int M,
                     const std::vector<int>& want, S* out) {
    const S* xn = decode_hidden(cache, sl, ps, tok, M, want);  // (W, D)
    Decoding decoding_scope(decoding);
    lin(out, xn, P(lm_head), int(want.size()), cfg.hidden_size, cfg.vocab_size);
  }
  struct Decoding {  // sets the decoding flag, restores it on every exit
    bool& f;
    explicit Decoding(bool& flag) : f(flag) { f = true; }
    ~Decoding() { f = false; }
  };
  // The decode body up to the final norm: returns the normed hidden rows (want.size(), D) of the rows `want`.
  S* decode_hidden(BasicKVCache<S>& cache, const int* sl, const int32_t* ps, const int32_t* tok, int M,
                   const std::vector<int>& want) {
    const ModelConfig& c = cfg;
    const int D = c.hidden_size, H = c.num_attention_heads, Dn = c.qk_nope_head_dim,
              Dr = c.qk_rope_head_dim, Dv = c.v_head_dim, C = c.kv_lora_rank;
    const double scale = c.softmax_scale();
    check_tokens(tok, size_t(M));
    Decoding decoding_scope(decoding);
    S* x = grow(d_x, size_t(M) * D);
    S* xn = grow(d_xn, size_t(M) * D);
    S* att_out = grow(d_out, size_t(M) * D);
    S* y = grow(d_y, size_t(M) * D);
    S* rs = grow(d_rstd, size_t(M));
    for (int m = 0; m < M; ++m) std::memcpy(x + size_t(m) * D, P(embed) + size_t(tok[m]) * D, sizeof(S) * D);
    BlockCache<S>& bc = dec;
    int max_len = 0;
    for (int m = 0; m < M; ++m) max_len = std::max(max_len, int(ps[m]) + 1);
    const int bt = cache.block_tokens(), nbmax = (max_len + bt - 1) / bt;
    d_kv.resize(size_t(M) * size_t(nbmax));
    d_tab.resize(size_t(M));
    d_len.resize(size_t(M));
    const int K = c.num_experts_per_tok, RW = n_main_moe * K;
    d_routes.resize(want.size() * size_t(RW));
    for (int l = 0; l < c.num_hidden_layers; ++l) {
      const LayerOff& L = layers[l];
      rmsnorm_forward(xn, rs, x, P(L.in_norm), M, D, c.rms_norm_eps);
      mla_project(L, bc, xn, M, ps);
      for (int m = 0; m < M; ++m) {
        S* e = cache.entry(l, sl[m], ps[m]);
        std::memcpy(e, bc.ckvn.data() + size_t(m) * C, sizeof(S) * C);
        std::memcpy(e + C, bc.kpe.data() + size_t(m) * Dr, sizeof(S) * Dr);
      }
      S* o = grow(bc.o, size_t(M) * H * Dv);
      const S* wkvb = P(L.kv_b);  // (H*(Dn+Dv), C): rows h*(Dn+Dv) + [0, Dn) = W^UK_h, + [Dn, Dn+Dv) = W^UV_h
      for (int m = 0; m < M; ++m) {
        d_len[size_t(m)] = ps[m] + 1;
        cache.layer_blocks(l, sl[m], d_len[size_t(m)], d_kv.data() + size_t(m) * nbmax);
        d_tab[size_t(m)] = d_kv.data() + size_t(m) * nbmax;
      }
      S* work = grow(w_qlat, size_t(M) * mla_decode_work(H, C, Dr, max_len));
      mla_decode_attention_forward_paged(o, bc.q.data(), d_tab.data(), bt, d_len.data(), wkvb, M, H, Dn, Dr, Dv, C,
                                         scale, work);
      lin(att_out, o, P(L.o), M, H * Dv, D);
      for (size_t i = 0; i < size_t(M) * D; ++i) x[i] += att_out[i];
      rmsnorm_forward(xn, rs, x, P(L.post_norm), M, D, c.rms_norm_eps);
      if (L.moe) moe_forward(L, bc.moe, xn, y, M, 1, M, nullptr, false);
      else ffn_forward(L.dense, bc.dense, xn, y, M);
      if (L.moe)  // router replay: the experts each wanted row was routed to
        for (size_t i = 0; i < want.size(); ++i)
          for (int k = 0; k < K; ++k)
            d_routes[i * RW + size_t(L.moe_slot) * K + k] = int16_t(bc.moe.idx[size_t(want[i]) * K + k]);
      for (size_t i = 0; i < size_t(M) * D; ++i) x[i] += y[i];
    }
    const int W = int(want.size());
    S* xw = grow(d_xf, size_t(W) * D);
    for (int i = 0; i < W; ++i) std::memcpy(xw + size_t(i) * D, x + size_t(want[i]) * D, sizeof(S) * D);
    rmsnorm_forward(xn, rs, xw, P(final_norm), W, D, c.rms_norm_eps);
    return xn;
  }
};

// ---- BasicKVCache (paged) -----------------------------------------------------------------------------------
template <class S>
BasicKVCache<S>::BasicKVCache(const ModelConfig& cfg, int n_slots, int max_seq_len, int block_tokens)
    : n_layers_(cfg.num_hidden_layers),
      n_slots_(n_slots),
      max_len_(max_seq_len),
      width_(cfg.kv_lora_rank + cfg.qk_rope_head_dim),
      block_(block_tokens == 0 ? max_seq_len : block_tokens) {
  if (n_slots <= 0 || max_seq_len <= 0)
    throw CapacityError("KV cache: n_slots and max_seq_len must be > 0 (got " + std::to_string(n_slots) + ", " +
                        std::to_string(max_seq_len) + ")");
  if (block_tokens < 0 || (block_tokens > 0 && block_tokens % 4 != 0))
    throw ConfigError("KV cache: block_tokens must be 0 (one block per slot) or a positive multiple of 4 (got " +
                      std::to_string(block_tokens) + ")");
  table_.resize(size_t(n_slots_));
  len_.assign(n_slots_, 0);
}
template <class S>
int BasicKVCache<S>::alloc_block() {
  int b;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else {
    b = int(blocks_.size());
    try {
      blocks_.push_back(std::make_unique_for_overwrite<S[]>(block_floats()));
    } catch (const std::bad_alloc&) {
      throw CapacityError("KV cache: out of memory allocating block " + std::to_string(b) + " (" +
                          std::to_string(block_floats() * sizeof(S)) + " bytes; " + std::to_string(blocks_in_use()) +
                          " blocks in use)");
    }
    refs_.push_back(0);
  }
  refs_[size_t(b)] = 1;
  return b;
}
template <class S>
void BasicKVCache<S>::release_block(int b) {
  if (--refs_[size_t(b)] == 0) free_.push_back(b);
}
template <class S>
void BasicKVCache<S>::truncate(int slot, int len) {
  auto& t = table_[size_t(slot)];
  const size_t keep = (size_t(len) + size_t(block_) - 1) / size_t(block_);
  while (t.size() > keep) {
    release_block(t.back());
    t.pop_back();
  }
}
template <class S>
void BasicKVCache<S>::check_slot(int slot) const {
  if (slot < 0 || slot >= n_slots_)
    throw CapacityError("KV cache: slot " + std::to_string(slot) + " out of range [0, " + std::to_string(n_slots_) +
                        ")");
}
template <class S>
int BasicKVCache<S>::length(int slot) const {
  check_slot(slot);
  return len_[slot];
}
template <class S>
void BasicKVCache<S>::reset(int slot) {
  check_slot(slot);
  truncate(slot, 0);
  len_[slot] = 0;
}
template <class S>
void BasicKVCache<S>::reset_all() {
  for (int s = 0; s < n_slots_; ++s) reset(s);
}
template <class S>
void BasicKVCache<S>::prepare_append(int slot, int n) {
  check_slot(slot);
  const int from = len_[slot];
  if (n < 0 || int64_t(from) + n > max_len_)
    throw CapacityError("KV cache: slot " + std::to_string(slot) + " holding " + std::to_string(from) +
                        " tokens cannot take " + std::to_string(n) + " more (max_seq_len " + std::to_string(max_len_) +
                        ")");
  if (n == 0) return;
  auto& t = table_[size_t(slot)];
  const size_t first = size_t(from / block_), need = (size_t(from) + size_t(n) + size_t(block_) - 1) / size_t(block_);
  if (first < t.size() && refs_[size_t(t[first])] > 1) {  // copy on write: the block is shared with another slot
    const int b = alloc_block();
    std::memcpy(blocks_[size_t(b)].get(), blocks_[size_t(t[first])].get(), sizeof(S) * block_floats());
    release_block(t[first]);
    t[first] = b;
  }
  while (t.size() < need) t.push_back(alloc_block());
}
template <class S>
void BasicKVCache<S>::set_length(int slot, int len) {
  check_slot(slot);
  if (len > max_len_)
    throw CapacityError("KV cache: slot " + std::to_string(slot) + " would hold " + std::to_string(len) +
                        " tokens but max_seq_len is " + std::to_string(max_len_));
  if (len < 0) throw CapacityError("KV cache: negative length " + std::to_string(len));
  if (len > len_[slot]) {
    const int have = len_[slot];
    prepare_append(slot, len - have);  // a no-op when the model already prepared the positions it wrote
  } else {
    truncate(slot, len);
  }
  len_[slot] = len;
}
template <class S>
void BasicKVCache<S>::copy_slot(int src, int dst) {
  check_slot(src);
  check_slot(dst);
  if (src == dst) return;
  reset(dst);
  const int n = len_[src];
  const auto& ts = table_[size_t(src)];
  auto& td = table_[size_t(dst)];
  for (size_t i = 0; i < ts.size(); ++i) {
    if (int64_t(i + 1) * block_ <= n) {  // full block: shared (never written again through either slot)
      ++refs_[size_t(ts[i])];
      td.push_back(ts[i]);
    } else {  // the partly filled last block: the source keeps appending into its own copy
      const int b = alloc_block();
      const size_t used = size_t(n - int(i) * block_) * width_;
      for (int l = 0; l < n_layers_; ++l)
        std::memcpy(blocks_[size_t(b)].get() + size_t(l) * block_ * width_,
                    blocks_[size_t(ts[i])].get() + size_t(l) * block_ * width_, sizeof(S) * used);
      td.push_back(b);
    }
  }
  len_[dst] = n;
}
template <class S>
void BasicKVCache<S>::layer_blocks(int l, int s, int len, const S** out) const {
  check_slot(s);
  const int nb = (len + block_ - 1) / block_;
  for (int i = 0; i < nb; ++i) out[i] = blocks_[size_t(table_[size_t(s)][size_t(i)])].get() + size_t(l) * block_ * width_;
}
template <class S>
size_t BasicKVCache<S>::bytes_per_token() const {
  return sizeof(S) * size_t(width_) * n_layers_;
}

// ---- BasicModel --------------------------------------------------------------------------------------------
template <class S>
BasicModel<S>::BasicModel(const ModelConfig& cfg) : im_(std::make_unique<Impl>()) {
  cfg.validate();
  im_->cfg = cfg;
  im_->build();
}
template <class S>
BasicModel<S>::BasicModel(const BasicModel& other) : im_(std::make_unique<Impl>()) {
  im_->cfg = other.im_->cfg;
  im_->build();
  im_->params = other.im_->params;
  im_->loads = other.im_->loads;
  im_->det = other.im_->det;
}
template <class S>
BasicModel<S>::~BasicModel() = default;
template <class S>
const ModelConfig& BasicModel<S>::config() const {
  return im_->cfg;
}
template <class S>
void BasicModel<S>::set_training_knobs(const ModelConfig& cfg) {
  cfg.validate();
  if (!same_architecture(cfg, im_->cfg)) throw ConfigError("set_training_knobs: the architecture differs");
  im_->cfg = cfg;
}
template <class S>
void BasicModel<S>::init_weights(uint64_t seed) {
  im_->init(seed);
}
template <class S>
std::span<S> BasicModel<S>::params() {
  return im_->params;
}
template <class S>
std::span<const S> BasicModel<S>::params() const {
  return im_->params;
}
template <class S>
std::span<S> BasicModel<S>::grads() {
  im_->ensure_grads();
  return im_->grads;
}
template <class S>
std::span<const S> BasicModel<S>::grads() const {
  im_->ensure_grads();
  return im_->grads;
}
template <class S>
bool BasicModel<S>::grads_allocated() const {
  return !im_->grads.empty();
}
template <class S>
const std::vector<TensorInfo>& BasicModel<S>::tensors() const {
  return im_->tensors;
}
template <class S>
const TensorInfo& BasicModel<S>::tensor(const std::string& name) const {
  for (const auto& t : im_->tensors)
    if (t.name == name) return t;
  throw Error("model has no tensor named '" + name + "'");
}
template <class S>
size_t BasicModel<S>::num_params() const {
  return im_->arena;
}
template <class S>
size_t BasicModel<S>::num_active_params() const {
  return im_->n_active;
}
template <class S>
void BasicModel<S>::zero_grad() {
  im_->ensure_grads();
  std::fill(im_->grads.begin(), im_->grads.end(), S(0));
}
template <class S>
void BasicModel<S>::copy_params_from(const BasicModel& other) {
  if (!same_architecture(im_->cfg, other.im_->cfg))
    throw ConfigError("copy_params_from: the two models have different architectures");
  im_->params = other.im_->params;
}
template <class S>
void BasicModel<S>::forward(const int32_t* tokens, int B, int T, S* logits, const S* loss_mask) {
  im_->packed = false;
  im_->head_fused = false;
  im_->have_selected = false;
  im_->forward(tokens, B, T, logits, loss_mask);
}
template <class S>
void BasicModel<S>::backward(const S* dlogits, S aux_loss_scale) {
  im_->ensure_grads();
  im_->backward(dlogits, aux_loss_scale);
}
template <class S>
void BasicModel<S>::forward_hidden(const int32_t* tokens, int B, int T, const S* loss_mask) {
  im_->packed = false;
  im_->head_fused = true;
  im_->have_selected = false;
  try {
    im_->forward(tokens, B, T, nullptr, loss_mask);
  } catch (...) {
    im_->head_fused = false;
    throw;
  }
}
// ---- packed variable-length batches (issue 20 §2) ----
template <class S>
void BasicModel<S>::forward_hidden_packed(const int32_t* tokens, const int* cu_seqlens, int nseq, const S* loss_mask) {
  if (nseq <= 0 || cu_seqlens[0] != 0)
    throw Error("forward_hidden_packed: need nseq > 0 and cu_seqlens[0] = 0 (got nseq " + std::to_string(nseq) + ")");
  const int max_len = im_->cfg.max_position_embeddings;
  for (int s = 0; s < nseq; ++s) {
    const int len = cu_seqlens[s + 1] - cu_seqlens[s];
    if (len <= 0 || len > max_len)
      throw CapacityError("forward_hidden_packed: sequence " + std::to_string(s) + " has " + std::to_string(len) +
                          " tokens; each needs 1 to max_position_embeddings = " + std::to_string(max_len));
  }
  im_->cu.assign(cu_seqlens, cu_seqlens + nseq + 1);
  im_->packed = true;
  im_->head_fused = true;
  im_->have_selected = false;
  try {
    im_->forward(tokens, 1, cu_seqlens[nseq], nullptr, loss_mask);
  } catch (...) {
    im_->packed = false;
    im_->head_fused = false;
    throw;
  }
}
template <class S>
void BasicModel<S>::selected_logprobs(const int32_t* positions, int M, S* logp, S* entropy, S logit_scale) {
  im_->selected_logprobs(positions, M, logp, entropy, logit_scale);
}
template <class S>
void BasicModel<S>::backward_selected(const S* dlogp, S aux_loss_scale) {
  im_->ensure_grads();
  im_->backward_selected(dlogp, aux_loss_scale);
}
template <class S>
S BasicModel<S>::last_mtp_loss() const {
  return im_->mtp_loss;
}
template <class S>
S BasicModel<S>::last_balance_loss() const {
  return im_->bal_loss;
}
template <class S>
std::vector<float> BasicModel<S>::load_violation() const {
  std::vector<float> out;
  const size_t E = size_t(std::max(im_->cfg.n_routed_experts, 1));
  for (size_t i = 0; i < im_->bias_off.size(); ++i) {
    const double* ld = im_->loads.data() + i * E;
    const double mean = std::accumulate(ld, ld + E, 0.0) / double(E);
    out.push_back(mean > 0 ? float((*std::max_element(ld, ld + E) - mean) / mean) : 0.0f);
  }
  return out;
}
template <class S>
std::vector<float> BasicModel<S>::update_router_bias() {
  std::vector<float> vio = load_violation();
  const S u = S(im_->cfg.bias_update_speed);
  const size_t E = size_t(std::max(im_->cfg.n_routed_experts, 1));
  for (size_t i = 0; i < im_->bias_off.size(); ++i) {
    double* ld = im_->loads.data() + i * E;
    const double mean = std::accumulate(ld, ld + E, 0.0) / double(E);
    S* b = im_->params.data() + im_->bias_off[i];
    if (mean > 0 && u > 0)
      for (size_t e = 0; e < E; ++e) b[e] += u * S((mean > ld[e]) - (mean < ld[e]));
  }
  reset_router_loads();
  return vio;
}
template <class S>
void BasicModel<S>::reset_router_loads() {
  std::fill(im_->loads.begin(), im_->loads.end(), 0.0);
}
template <class S>
std::span<double> BasicModel<S>::router_loads() {
  return im_->loads;
}
template <class S>
void BasicModel<S>::set_routing_frozen(bool frozen) {
  im_->frozen = frozen;
}
template <class S>
int BasicModel<S>::route_width() const {
  return im_->n_main_moe * im_->cfg.num_experts_per_tok;
}
template <class S>
void BasicModel<S>::force_routes(std::span<const int16_t> routes) {
  const int W = route_width(), K = im_->cfg.num_experts_per_tok, E = im_->cfg.n_routed_experts;
  if (W == 0) throw ConfigError("router replay: the model has no MoE layer (a dense model has no routes to replay)");
  if (routes.size() % size_t(W) != 0)
    throw FormatError("router replay: " + std::to_string(routes.size()) + " route entries are not a whole number of " +
                      std::to_string(W) + "-wide rows (MoE layers x num_experts_per_tok)");
  for (size_t r = 0; r < routes.size() / size_t(W); ++r) {
    const int16_t* row = routes.data() + r * size_t(W);
    const bool off = row[0] < 0;
    for (int j = 0; j < W; j += K)
      for (int k = 0; k < K; ++k) {
        const int e = row[j + k];
        if (off ? e != -1 : (e < 0 || e >= E))
          throw FormatError("router replay: row " + std::to_string(r) + " has expert id " + std::to_string(e) +
                            (off ? " in a row marked unforced (all entries must be -1)"
                                 : " outside [0, " + std::to_string(E) + ")"));
        for (int k2 = 0; k2 < k && !off; ++k2)
          if (row[j + k2] == e)
            throw FormatError("router replay: row " + std::to_string(r) + " names expert " + std::to_string(e) +
                              " twice in MoE layer " + std::to_string(j / K));
      }
  }
  im_->forced.assign(routes.begin(), routes.end());
}
template <class S>
void BasicModel<S>::last_routes(std::span<int16_t> out, bool own_choice) const {
  const int W = route_width(), K = im_->cfg.num_experts_per_tok;
  const size_t N = size_t(im_->B) * size_t(im_->T);
  if (!im_->have_forward) throw Error("last_routes: call forward first");
  if (out.size() != N * size_t(W))
    throw Error("last_routes: the output holds " + std::to_string(out.size()) + " entries, the last forward has " +
                std::to_string(N * size_t(W)));
  for (const auto& L : im_->layers) {
    if (!L.moe) continue;
    const MoeCache<S>& mc = im_->blocks[size_t(&L - im_->layers.data())].moe;
    const std::vector<int>& src = own_choice && !mc.own_idx.empty() ? mc.own_idx : mc.idx;
    for (size_t n = 0; n < N; ++n)
      for (int k = 0; k < K; ++k)
        out[n * size_t(W) + size_t(L.moe_slot) * K + size_t(k)] = int16_t(src[n * size_t(K) + size_t(k)]);
  }
}
template <class S>
std::span<const int16_t> BasicModel<S>::last_decode_routes() const {
  return im_->d_routes;
}
template <class S>
void BasicModel<S>::set_attention_kernel(AttentionKernel k) {
  im_->attn_kernel = k;
}
template <class S>
void BasicModel<S>::set_deterministic(bool on) {
  im_->det = on;
}
template <class S>
bool BasicModel<S>::deterministic() const {
  return im_->det;
}
template <class S>
void BasicModel<S>::prefill(BasicKVCache<S>& cache, int slot, const int32_t* tokens, int n, S* last_logits) {
  if (n <= 0) throw Error("prefill: n must be > 0");
  const int start = cache.length(slot);
  if (start + n > cache.max_seq_len())
    throw CapacityError("KV cache: prefilling " + std::to_string(n) + " tokens into slot " + std::to_string(slot) +
                        " holding " + std::to_string(start) + " exceeds max_seq_len " +
                        std::to_string(cache.max_seq_len()));
  std::vector<int> sl(n, slot);
  std::vector<int32_t> ps(n);
  for (int i = 0; i < n; ++i) ps[i] = start + i;
  cache.prepare_append(slot, n);  // blocks for the n positions (paged cache)
  im_->decode_tokens(cache, sl.data(), ps.data(), tokens, n, {n - 1}, last_logits);
  cache.set_length(slot, start + n);
}
// A decode step's rows: checks the slots (distinct, room for one more token), makes room; returns their positions.
template <class S>
static std::vector<int32_t> decode_positions(BasicKVCache<S>& cache, const int* slots, int n) {
  std::vector<int32_t> ps(n);
  std::vector<char> seen(cache.n_slots(), 0);
  for (int i = 0; i < n; ++i) {
    ps[i] = cache.length(slots[i]);
    if (seen[slots[i]]) throw Error("decode_step: slot " + std::to_string(slots[i]) + " appears twice");
    seen[slots[i]] = 1;
    if (ps[i] + 1 > cache.max_seq_len())
      throw CapacityError("KV cache: slot " + std::to_string(slots[i]) + " is full (max_seq_len " +
                          std::to_string(cache.max_seq_len()) + ")");
  }
  for (int i = 0; i < n; ++i) cache.prepare_append(slots[i], 1);
  return ps;
}
template <class S>
void BasicModel<S>::decode_step(BasicKVCache<S>& cache, const int* slots, const int32_t* tokens, int n, S* logits) {
  if (n <= 0) return;
  const std::vector<int32_t> ps = decode_positions(cache, slots, n);
  std::vector<int> want(n);
  std::iota(want.begin(), want.end(), 0);
  im_->decode_tokens(cache, slots, ps.data(), tokens, n, want, logits);
  for (int i = 0; i < n; ++i) cache.set_length(slots[i], ps[i] + 1);
}
template <class S>
void BasicModel<S>::decode_step_sample(BasicKVCache<S>& cache, const int* slots, const int32_t* tokens, int n,
                                       S inv_temp, const double* u, int32_t* tok, double* logp) {
  if (n <= 0) return;
  const std::vector<int32_t> ps = decode_positions(cache, slots, n);
  std::vector<int> want(n);
  std::iota(want.begin(), want.end(), 0);
  const int D = im_->cfg.hidden_size;
  S* x = im_->decode_hidden(cache, slots, ps.data(), tokens, n, want);  // (n, D), the decoder's scratch
  if (inv_temp != S(1))  // logits / temperature = (x / temperature) w^T
    for (size_t i = 0; i < size_t(n) * D; ++i) x[i] *= inv_temp;
  fused_head_sample(tok, logp, x, im_->P(im_->lm_head), u, n, D, im_->cfg.vocab_size);
  for (int i = 0; i < n; ++i) cache.set_length(slots[i], ps[size_t(i)] + 1);
}
template <class S>
const LayerTimings& BasicModel<S>::timings() const {
  return im_->tim;
}
template <class S>
void BasicModel<S>::reset_timings() {
  im_->tim = LayerTimings{};
}

template class BasicKVCache<float>;
template class BasicKVCache<double>;
template class BasicModel<float>;
template class BasicModel<double>;

std::vector<TensorInfo> tensor_layout(const ModelConfig& cfg, size_t* active) {
  cfg.validate();
  BasicModel<float>::Impl im;
  im.cfg = cfg;
  im.build(false);
  if (active) *active = im.n_active;
  return im.tensors;
}

// ---- loss helper -------------------------------------------------------------------------------------------
template <class S>
static S next_token_loss_impl(const S* logits, const int32_t* tokens, int B, int T, int V, const S* loss_mask,
                              S* dlogits) {
  const int N = B * T;
  std::vector<int32_t> tgt(N, 0);
  std::vector<S> w(N, S(0));
  S cnt = 0;
  for (int b = 0; b < B; ++b)
    for (int t = 0; t + 1 < T; ++t) {
      const int n = b * T + t;
      tgt[n] = tokens[n + 1];
      w[n] = loss_mask ? loss_mask[n + 1] : S(1);
      cnt += w[n];
    }
  const S scale = cnt > 0 ? S(1) / cnt : S(0);
  const double tot = softmax_xent(logits, tgt.data(), w.data(), dlogits, scale, N, V);
  return S(tot * double(scale));
}
float next_token_loss(const float* logits, const int32_t* tokens, int B, int T, int V, const float* loss_mask,
                      float* dlogits) {
  return next_token_loss_impl(logits, tokens, B, T, V, loss_mask, dlogits);
}
double next_token_loss(const double* logits, const int32_t* tokens, int B, int T, int V, const double* loss_mask,
                       double* dlogits) {
  return next_token_loss_impl(logits, tokens, B, T, V, loss_mask, dlogits);
}

}  // namespace reasonrl::model

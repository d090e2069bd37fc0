// model.h: the DeepSeek-V3-style MoE policy model (MLA + DeepSeekMoE + MTP) with a hand-written backward pass over one
// contiguous parameter arena, and MLA latent-cache decoding. Including this header gives the whole model API:
// ModelConfig (config.h), Model, KVCache, AdamW (adamw.h) and checkpoints (checkpoint.h).
//
// Shapes: B = batch rows, T = sequence length, V = vocab_size, D = hidden_size (see layers.h for all letters).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/config.h"

namespace reasonrl::model {

// One named tensor inside the parameter arena (the same offsets index params, grads and the Adam moments).
struct TensorInfo {
  std::string name;            // HF DeepSeek-V3 name, e.g. "model.layers.0.self_attn.kv_a_proj_with_mqa.weight"
  std::vector<int64_t> shape;  // PyTorch layout ([out, in] for linears)
  size_t offset = 0;           // in floats, into params() / grads()
  size_t size = 0;             // number of elements
  bool trainable = true;       // false for the router bias e_score_correction_bias (updated by update_router_bias)
  bool decay = true;           // AdamW weight decay applies (2-D weights only; not norms, not the bias)
};

// Seconds spent per layer type since reset_timings() (for the benchmark).
struct LayerTimings {
  enum Kind { Embed, Attention, DenseFfn, Moe, Head, Mtp, kKinds };
  double fwd[kKinds] = {};
  double bwd[kKinds] = {};
  static const char* name(int k);
};

// Latent KV cache for decoding: per layer, slot and position it stores only kv_norm(c_KV) (kv_lora_rank) and the
// rotated k_R (qk_rope_head_dim). Paged (issue 20 section 5, vLLM's PagedAttention layout): memory comes in blocks of
// block_tokens positions x all layers from a pool that grows only when no freed block is left, so a slot holds
// ceil(length / block_tokens) blocks, not max_seq_len positions; reset() returns a slot's blocks to the pool.
// copy_slot() shares the source's full blocks (reference counts) and copies only its partly filled last block; a
// shared block is never written (every write goes through prepare_append, which copies a shared block first).
// block_tokens = 0 means one block of max_seq_len per slot (the contiguous layout of the cache before paging).
template <class S>
class BasicKVCache {
 public:
  static constexpr int kDefaultBlockTokens = 64;
  BasicKVCache(const ModelConfig& cfg, int n_slots, int max_seq_len, int block_tokens = kDefaultBlockTokens);
  int length(int slot) const;
  void reset(int slot);
  void reset_all();
  void copy_slot(int src, int dst);  // fork a prefilled prompt (e.g. for the G completions of a group)
  size_t bytes_per_token() const;    // over all layers
  int n_slots() const { return n_slots_; }
  int max_seq_len() const { return max_len_; }
  int block_tokens() const { return block_; }
  // Memory: blocks referenced by some slot now, blocks the pool holds (in use + free), and the pool's bytes.
  size_t blocks_in_use() const { return n_blocks() - free_.size(); }
  size_t n_blocks() const { return blocks_.size(); }
  size_t pool_bytes() const { return n_blocks() * block_floats() * sizeof(S); }
  // Entry (C + Dr values: latent then rotated rope key) of layer l, slot s, position p < the slot's allocated
  // positions. Positions p .. the end of p's block are contiguous (stride C + Dr). Used by the model.
  S* entry(int l, int s, int p) { return block_ptr(s, p) + (size_t(l) * block_ + size_t(p % block_)) * width_; }
  const S* entry(int l, int s, int p) const {
    return block_ptr(s, p) + (size_t(l) * block_ + size_t(p % block_)) * width_;
  }
  // Layer l's block table of a slot: blocks[i] holds positions [i*block_tokens, (i+1)*block_tokens) of that layer.
  // Fills `out` with one pointer per block covering the first `len` positions.
  void layer_blocks(int l, int s, int len, const S** out) const;
  // Makes positions [length, length + n) of `slot` writable: allocates blocks and copies a shared block it will
  // write into. CapacityError past max_seq_len. The length is unchanged (set_length after writing).
  void prepare_append(int slot, int n);
  void set_length(int slot, int len);  // used by the model after appending (checks capacity; a shorter length frees blocks)
  void check_slot(int slot) const;

 private:
  size_t block_floats() const { return size_t(n_layers_) * block_ * width_; }
  S* block_ptr(int s, int p) const { return blocks_[size_t(table_[size_t(s)][size_t(p / block_)])].get(); }
  int alloc_block();
  void release_block(int b);
  void truncate(int slot, int len);  // keeps the blocks covering len positions
  int n_layers_, n_slots_, max_len_, width_, block_;
  std::vector<std::unique_ptr<S[]>> blocks_;  // the pool; a block is (layer, block_tokens, C + Dr)
  std::vector<int> refs_;                     // per block: how many slots reference it
  std::vector<int> free_;                     // blocks with no reference
  std::vector<std::vector<int>> table_;       // per slot: its blocks in position order
  std::vector<int> len_;
};

// Which attention kernel training forwards use. Auto: the reference kernel (layers.h, keeps (B, H, T, T)
// probabilities) below kTiledAttentionMinT tokens per row, so short runs (the demo) keep their numbers; the tiled
// kernel (flash_attention.h, memory O(T)) from there on. Reference / Tiled force one (tests, benchmarks).
enum class AttentionKernel { Auto, Reference, Tiled };
inline constexpr int kTiledAttentionMinT = 512;

template <class S>
class BasicModel {
 public:
  using Scalar = S;
  explicit BasicModel(const ModelConfig& cfg);
  BasicModel(const BasicModel& other);  // deep copy of config, params and router state (not grads / activations)
  BasicModel& operator=(const BasicModel&) = delete;
  ~BasicModel();

  const ModelConfig& config() const;
  // Change the training knobs (bias_update_speed, seq_aux_alpha, mtp_loss_weight); the architecture must not change.
  void set_training_knobs(const ModelConfig& cfg);

  void init_weights(uint64_t seed);  // deterministic: N(0, initializer_range) weights, norms 1, router bias 0
  std::span<S> params();
  std::span<const S> params() const;
  std::span<S> grads();
  std::span<const S> grads() const;
  bool grads_allocated() const;  // grads() allocates on first use (zero_grad, backward): inference never does
  const std::vector<TensorInfo>& tensors() const;
  const TensorInfo& tensor(const std::string& name) const;  // throws Error if unknown
  size_t num_params() const;         // every element of the arena (incl. MTP module and router biases)
  size_t num_active_params() const;  // per token in the main model: all but the unselected routed experts and MTP
  void zero_grad();
  void copy_params_from(const BasicModel& other);  // e.g. refresh a reference policy; same architecture required

  // Training, teacher forced. tokens (B, T) row-major. logits out (B, T, V). Caches activations for backward.
  // Rows are independent causal sequences. loss_mask (B, T) or null (all 1): loss_mask[b][t] = 1 means token t is
  // real and counts: for the router loads and the balance loss, and as an MTP target (MTP at t predicts token t+2).
  void forward(const int32_t* tokens, int B, int T, S* logits, const S* loss_mask = nullptr);
  // dlogits (B, T, V) = dLoss/dlogits of the caller's loss. ACCUMULATES (+=) into grads(). Adds the gradients of the
  // MTP loss (weight mtp_loss_weight) and of the sequence-wise balance loss (seq_aux_alpha), both multiplied by
  // aux_loss_scale. Both are means over this forward's rows (balance) or tokens (MTP); when accumulating micro-batches,
  // pass the micro-batch's share of the step's rows (rl::balance_loss_scale; 1/n_micro only for equal micro-batches).
  void backward(const S* dlogits, S aux_loss_scale = S(1));
  // Opt-in, for long sequences and large vocabularies: the body once, the output head only where it counts.
  // forward_hidden is forward() without the (B, T, V) logits; the MTP loss (if on) goes through the fused head
  // (fused_head.h) on its counted targets only. Then selected_logprobs gives, for M positions p = b*T + t (t < T-1;
  // a position may repeat), logp[i] = log softmax(head(h_p))[tokens[p+1]] through the fused head, tiled over the
  // vocabulary; backward_selected(dlogp) ACCUMULATES the gradients of sum_i dlogp[i] * logp[i] plus the MTP and
  // balance losses (times aux_loss_scale), like backward(). Numbers equal forward() + log-softmax to float rounding
  // (the summation order differs), so existing callers keep forward(). For a mean CE over the positions, pass
  // dlogp = -1/M; for a policy-gradient loss sum_i c_i * logp_i, dlogp = c.
  void forward_hidden(const int32_t* tokens, int B, int T, const S* loss_mask = nullptr);
  // A packed variable-length batch instead of a padded one (FlashAttention's varlen layout, verl's use_remove_padding):
  // sequence s owns tokens [cu_seqlens[s], cu_seqlens[s+1]) of the N = cu_seqlens[nseq] tokens (each 1 to
  // max_position_embeddings long); RoPE positions restart at 0 per sequence, attention (always the tiled kernel) never
  // crosses a boundary, and MTP targets and the balance loss's rows are per sequence, so the result equals running
  // the sequences one by one (to float rounding). Then selected_logprobs takes flat token indices p (p + 1 in the same
  // sequence) and backward_selected follows as after forward_hidden.
  void forward_hidden_packed(const int32_t* tokens, const int* cu_seqlens, int nseq, const S* loss_mask = nullptr);
  // entropy (M), if not null: the entropy of each selected row's softmax (a metric; not differentiated).
  // logit_scale multiplies the logits (1 / temperature: the sampler's untruncated distribution).
  void selected_logprobs(const int32_t* positions, int M, S* logp, S* entropy = nullptr, S logit_scale = S(1));
  void backward_selected(const S* dlogp, S aux_loss_scale = S(1));
  S last_mtp_loss() const;      // lambda-weighted MTP loss of the last forward (0 if off)
  S last_balance_loss() const;  // alpha-weighted sequence-wise balance loss of the last forward, summed over layers

  // Aux-loss-free balancing: bias_i += u * sign(mean_load - load_i) from the loads counted by forward() since the
  // last call, then clears the counts. Returns the per-MoE-layer max violation (max_i load_i - mean) / mean of those
  // loads (main MoE layers in order, then the MTP block if any).
  std::vector<float> update_router_bias();
  std::vector<float> load_violation() const;  // the same measure for the counts so far, without updating
  void reset_router_loads();
  // The load counts behind the two calls above: (n_moe_layers, n_routed_experts) flattened. Mutable so that data-parallel
  // ranks can all-reduce them (sum) before update_router_bias(), making every rank apply the same bias update.
  std::span<double> router_loads();
  // Tests: when frozen, forward() reuses the expert selection of the previous forward (same B, T) instead of top-k.
  void set_routing_frozen(bool frozen);
  void set_attention_kernel(AttentionKernel k);  // takes effect at the next forward()
  // Deterministic (batch-invariant) mode, off by default: every linear (projections, experts, router, head) sums each
  // output in one fixed order whatever the number of rows and threads (linear_forward_invariant), both sides use the
  // decode SwiGLU, and the training forward's attention output is decode's absorbed MLA over each token's prefix
  // (the expanded kernel still runs for the backward). Then forward() and prefill / decode_step give bit-identical
  // logits (and routes) for a token whatever the batch composition, padding, packing or thread count. Slower
  // (bench/RESULTS.md, "Deterministic mode"); the fused head (forward_hidden + selected_logprobs) is not covered.
  void set_deterministic(bool on);
  bool deterministic() const;

  // Router replay (R3, arXiv 2510.11370). A route is one token row's routed experts: for each MoE layer of the main
  // model in order, its K expert ids (int16); route_width() = n_moe_layers * K (0 for a dense model; the MTP block is
  // not part of it).
  int route_width() const;
  // Forces the routed experts of the NEXT forward() / forward_hidden() (then cleared): routes (B*T, route_width), a row
  // of all -1 routes itself. Gates are recomputed from the current router for the forced experts (so the router still
  // gets gradient), ordered as the current biased scores rank them; routes equal to the own top-k leave the forward
  // bit-identical. Loads count the experts dispatched. ConfigError for a dense model; FormatError on a bad row.
  void force_routes(std::span<const int16_t> routes);
  // The routes of the last training forward into out (B*T, route_width): the experts dispatched, or with own_choice the
  // router's own top-k (which differs only on forced rows).
  void last_routes(std::span<int16_t> out, bool own_choice = false) const;
  // The routes of the rows whose logits the last prefill (its last token) or decode_step (every row) wrote:
  // (rows, route_width), valid until the next decoding call.
  std::span<const int16_t> last_decode_routes() const;

  // Decoding with the latent cache and absorbed attention (no K/V expansion). The MTP module is not used.
  // Prefill n tokens into `slot` starting at its current length; writes the logits of the LAST token (V values).
  void prefill(BasicKVCache<S>& cache, int slot, const int32_t* tokens, int n, S* last_logits);
  // One step for n rows: row i appends tokens[i] to slots[i] (distinct slots); writes logits (n, V).
  void decode_step(BasicKVCache<S>& cache, const int* slots, const int32_t* tokens, int n, S* logits);
  // The same step with the output head fused with sampling (fused_sample.h): no (n, V) logits; row i's next token is
  // drawn from softmax(logits_i * inv_temp) with the uniform u[i] in [0, 1) and written to tok[i], its log-prob to
  // logp[i]. The rows' hidden states and routes are decode_step's.
  void decode_step_sample(BasicKVCache<S>& cache, const int* slots, const int32_t* tokens, int n, S inv_temp,
                          const double* u, int32_t* tok, double* logp);

  const LayerTimings& timings() const;
  void reset_timings();

  struct Impl;

 private:
  std::unique_ptr<Impl> im_;
};

// The fp32 model and cache every module uses. BasicModel<double> serves the finite-difference tests.
class Model : public BasicModel<float> {
 public:
  using BasicModel<float>::BasicModel;
};
class KVCache : public BasicKVCache<float> {
 public:
  using BasicKVCache<float>::BasicKVCache;
};

// The arena layout of a config without allocating it (for model-info on big configs). *active = active params.
std::vector<TensorInfo> tensor_layout(const ModelConfig& cfg, size_t* active = nullptr);

// Mean next-token cross-entropy: logits[b][t] predicts tokens[b][t+1], counted where loss_mask[b][t+1] != 0 (all
// if null). Writes dlogits (B, T, V) = d(mean loss)/dlogits (zeros at uncounted positions) if not null. Returns the
// mean (0 if nothing counts).
float next_token_loss(const float* logits, const int32_t* tokens, int B, int T, int V, const float* loss_mask,
                      float* dlogits);
double next_token_loss(const double* logits, const int32_t* tokens, int B, int T, int V, const double* loss_mask,
                       double* dlogits);

}  // namespace reasonrl::model

#include "model/adamw.h"
#include "model/checkpoint.h"

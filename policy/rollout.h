// rollout.h: the rollout engine: G samples per prompt (prompt prefilled once, its cache slot forked), continuous
// batching with row compaction, stop / length / repeat finishes, and Kimi-style partial rollouts through a replay
// buffer with per-token policy versions and staleness control.
//
// Usage (trainer, one iteration):
//   RolloutEngine engine(cfg);                                    // cfg: RolloutConfig
//   ModelDecoder dec(model, engine.slots_needed(), max_seq_len);  // or any Decoder
//   RolloutResult r = engine.generate(dec, prompts, /*policy_version=*/iter, &buffer);
//   for (auto& t : r.trajectories) ... t.tokens, t.logp, t.loss_mask, t.finish ...
// r.trajectories holds complete groups only: G consecutive trajectories per prompt, group_index 0..G-1.
// The recorded logp equals sampling_logprob(logits, cfg.sampling(), token) of the logits that drew the token (to
// float rounding; with sample_kernel fused, see SampleKernel; bit for bit when the decoder is deterministic(), which
// makes the rollout record that very function and keep the sampler chain).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "policy/decoder.h"
#include "policy/repeat.h"
#include "policy/replay_buffer.h"
#include "policy/sampling.h"
#include "policy/trajectory.h"

namespace reasonrl::policy {

// What a continued partial rollout does with the context it already has: prefill it again with the current weights
// (exact: every new token is drawn from the current policy given its whole context), or restore the cache saved when
// it was cut (Kimi k1.5's reuse of earlier segments: no second prefill, but the cached context was computed by the
// weights of its own call, so the new tokens' log-probs differ from a full recompute by that staleness).
enum class PartialKv { Recompute, Reuse };
REASONRL_ENUM_NAMES(PartialKv, {PartialKv::Recompute, "recompute"}, {PartialKv::Reuse, "reuse"})

// Which tokens of a (possibly multi-segment) trajectory enter the loss.
enum class LossSegments { All, CurrentOnly, WithinStaleness };
REASONRL_ENUM_NAMES(LossSegments, {LossSegments::All, "all"}, {LossSegments::CurrentOnly, "current_only"},
                    {LossSegments::WithinStaleness, "within_staleness"})

// How the engine draws tokens. reference: the sampler chain (sampling.h) over the decoder's (n, vocab) logits.
// fused: the decoder's output head fused with sampling (Decoder::decode_step_sample, model/fused_sample.h): no
// (n, vocab) logits, one vectorised exp per logit, the draw located by vocabulary tile; untruncated sampling only
// (temperature > 0, no top_k / top_p / min_p). Both draw with the same uniform from each row's stream; the fused sums
// differ in order and precision, so a token differs only where the draw falls within rounding of a token boundary.
// auto: fused when the vocabulary has >= kFusedSampleMinVocab entries, the sampling is untruncated and the decoder has
// the fused head; reference otherwise (small vocabularies, such as the demo's 320, keep the reference bit for bit).
enum class SampleKernel { Auto, Reference, Fused };
REASONRL_ENUM_NAMES(SampleKernel, {SampleKernel::Auto, "auto"}, {SampleKernel::Reference, "reference"},
                    {SampleKernel::Fused, "fused"})
inline constexpr int kFusedSampleMinVocab = 32768;

struct RolloutConfig {
  int num_generations = 8;          // G: samples per prompt
  int max_completion_length = 256;  // response tokens per trajectory (finish reason `length`)
  SamplingParams sampling_params;   // temperature, top_k, top_p, min_p: keys at this level (declared in sampling.h)
  int max_batch = 32;               // rows decoded together
  std::vector<int> stop_token_ids;  // eos id(s); the stop token is kept as the last response token
  uint64_t seed = 0;
  bool repeat_detection = true;
  int repeat_max_ngram = 32;
  int repeat_min_repeats = 4;
  int repeat_min_tokens = 32;
  bool partial_rollout = false;
  int64_t partial_rollout_budget = 0;  // output tokens per call (all rows); 0 = no total budget
  int partial_rollout_segment = 0;     // output tokens per trajectory per call; 0 = no per-trajectory cap
  PartialKv partial_rollout_kv = PartialKv::Recompute;
  LossSegments loss_segments = LossSegments::CurrentOnly;
  int loss_max_staleness = 1;          // within_staleness: tokens at most this many versions old enter the loss
  int max_staleness = 4;               // restart a trajectory whose first token is older than this; < 0 = never
  bool static_batch = false;           // baseline: padded static batches (finished rows keep computing)
  SampleKernel sample_kernel = SampleKernel::Auto;

  template <class V>
  void visit(V& v) {
    v("num_generations", num_generations, "samples per prompt (G)");
    v("max_completion_length", max_completion_length, "maximum response tokens per trajectory");
    sampling_params.visit(v);  // the sampling distribution's keys, declared once in SamplingParams
    v("max_batch", max_batch, "rows decoded together (continuous batching)");
    v("stop_token_ids", stop_token_ids, "token ids that end a response (eos)");
    v("seed", seed, "sampling seed; per-row streams derive from it, the prompt id and the sample index");
    v("repeat_detection", repeat_detection, "end a response whose tail repeats one n-gram (finish reason repeat)");
    v("repeat_max_ngram", repeat_max_ngram, "longest repeating n-gram looked for");
    v("repeat_min_repeats", repeat_min_repeats, "consecutive copies needed to stop");
    v("repeat_min_tokens", repeat_min_tokens, "tokens the copies must cover to stop");
    v("partial_rollout", partial_rollout, "Kimi partial rollouts: cut unfinished responses, continue them next call");
    v("partial_rollout_budget", partial_rollout_budget, "output tokens per rollout call over all rows; 0 = none");
    v("partial_rollout_segment", partial_rollout_segment, "output tokens per trajectory per rollout call; 0 = none");
    v("partial_rollout_kv", partial_rollout_kv,
      "continued partial rollouts: recompute = prefill the context again with the current weights (exact); reuse = "
      "restore the cache saved when cut (no prefill; the old context is seen through the older weights)");
    v("loss_segments", loss_segments, "which segments enter the loss");
    v("loss_max_staleness", loss_max_staleness, "within_staleness: maximum version age of a loss token");
    v("max_staleness", max_staleness, "restart trajectories started more than this many versions ago; < 0 = never");
    v("static_batch", static_batch, "baseline: padded static batches instead of continuous batching");
    v("sample_kernel", sample_kernel,
      "reference = the sampler chain over (rows, vocab) logits; fused = the output head fused with sampling (no "
      "logits; untruncated sampling only); auto = fused from a vocabulary of 32768 with untruncated sampling");
  }
  void validate() const;
  const SamplingParams& sampling() const { return sampling_params; }
  // Whether generate() on a decoder with `vocab` entries (and a fused head or not) uses the fused kernel; a forced
  // fused that cannot is a ConfigError.
  bool fused_sampling(int vocab, bool decoder_has_fused) const;
  RepeatParams repeat() const { return {repeat_detection, repeat_max_ngram, repeat_min_repeats, repeat_min_tokens}; }
};

struct RolloutStats {
  int64_t tokens_generated = 0;   // tokens sampled in this call
  int64_t tokens_discarded = 0;   // generated earlier, dropped by restarts in this call
  int64_t rows_computed = 0;      // logits rows computed: decode rows (padding included) + one per (re)started row
  int64_t prefill_tokens = 0;
  int64_t restored_tokens = 0;    // context tokens restored from a saved cache instead of prefilled (reuse)
  int64_t decode_steps = 0;
  int64_t max_rows = 0;           // largest decode batch
  int n_stop = 0, n_length = 0, n_repeat = 0;  // finished in this call
  int n_partial = 0;              // cut in this call (left in the buffer)
  int n_restarted = 0;
  int groups_emitted = 0, trajectories_emitted = 0;
  double mean_token_staleness = 0;       // over emitted tokens: version of the call - version of the token
  double mean_trajectory_staleness = 0;  // over emitted trajectories: version of the call - start version
  double loss_token_fraction = 0;        // emitted tokens with loss_mask 1
  // decode_seconds: the decode steps (with sample_kernel fused, their sampling too); sample_seconds: the sampler chain
  // over the decode steps' logits (0 when fused); prefill_seconds: the prompts' prefill.
  double seconds = 0, prefill_seconds = 0, decode_seconds = 0, sample_seconds = 0;
  // Tokens sampled (and kept) per logits row computed.
  double useful_fraction() const;
};

struct RolloutResult {
  std::vector<Trajectory> trajectories;  // complete groups, G consecutive per prompt
  RolloutStats stats;
};

struct Prompt {
  int64_t id = 0;
  std::vector<int32_t> tokens;
};

class RolloutEngine {
 public:
  explicit RolloutEngine(RolloutConfig cfg);
  const RolloutConfig& config() const { return cfg_; }
  // Decoder slots the engine uses: max_batch rows + 1 staging slot for prompt prefill.
  int slots_needed() const { return cfg_.max_batch + 1; }

  // Generates num_generations samples per prompt with the weights of `policy_version`. With partial rollouts,
  // `buffer` (required then) supplies unfinished trajectories first and keeps what is cut or incomplete.
  // Throws CapacityError when a prompt + max_completion_length does not fit a decoder slot.
  RolloutResult generate(Decoder& dec, const std::vector<Prompt>& prompts, int policy_version,
                         ReplayBuffer* buffer = nullptr);

  // Called after every sampled token, in a deterministic order (for streaming to a terminal); t.finished and
  // t.finish already account for the token.
  using TokenCallback = std::function<void(const Trajectory&, int32_t token)>;
  void set_token_callback(TokenCallback cb) { on_token_ = std::move(cb); }

 private:
  RolloutConfig cfg_;
  TokenCallback on_token_;
};

// The loss mask of `t` under `mode` when handed out by a call with version `current`.
std::vector<uint8_t> loss_mask_for(const Trajectory& t, LossSegments mode, int current, int loss_max_staleness);

}  // namespace reasonrl::policy

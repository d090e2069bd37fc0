// response_logprob.h: owns the one pad -> forward -> per-token log-prob -> backward runner over (prompt, response)
// sequences, used by the RL trainer (old / reference / current log-probs and the policy-gradient backward), DPO and
// long2short (summed response log-probs and their gradient).
//
// A micro-batch of S sequences is right-padded to T = the longest prompt + response (train_kernel full / fused) or
// packed back to back (packed; see train_kernel.h for the kernels and the `auto` rule); the model sees every real token
// (its loss mask, which counts tokens for the router loads and the balance loss, is 1 on prompt and response).
// Response token j of a sequence sits at position P + j and is predicted by the hidden state at P + j - 1, so a prompt
// must hold at least one token. Log-probs are those of policy::sampling_logprob (the sampler's truncated,
// temperature-scaled distribution; {1, 0, 1, 0} is the full softmax); with fused / packed only those response
// positions reach the output head.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "model/model.h"
#include "policy/sampling.h"
#include "rl/train/routing_metrics.h"
#include "rl/train/train_kernel.h"

namespace reasonrl::train {

// One sequence: prompt ids, then the response ids whose log-probs are wanted (views; they must outlive the call).
// routes (router replay; may be empty): per response token, the model's route_width() expert ids the rollout routed
// the row that sampled it to (policy::Trajectory::routes); rows of -1 were not recorded.
struct ResponseSeq {
  std::span<const int32_t> prompt;
  std::span<const int32_t> response;
  std::span<const int16_t> routes = {};
};

// The last forward's output, flat over the micro-batch's response tokens in sequence order: sequence s owns
// [offsets[s], offsets[s + 1]).
struct ResponseLogprobs {
  std::vector<float> logp;
  std::vector<float> entropy;    // same layout; empty unless asked for
  std::vector<int64_t> offsets;  // S + 1 entries, offsets[0] = 0
  // Router replay, over the response tokens with recorded routes: the routes dispatched vs the rollout's
  // (moe/route_mismatch; 0 under replay), and the router's own top-k vs the rollout's (what replay overrides).
  RouteCounts routes, own_routes;
};

class ResponseLogprobRunner {
 public:
  // A forced fused / packed kernel with truncated or greedy sampling is a ConfigError (train_kernel.h).
  // router_replay: the forward of the rows that predict response tokens uses the sequences' routes (model.h
  // force_routes); without it routes are only compared.
  ResponseLogprobRunner(model::Model& m, const policy::SamplingParams& sp, TrainKernel kernel = TrainKernel::Auto,
                        bool router_replay = false);

  // Forward over `seqs` (one micro-batch): per-token log-probs (and entropies) of their responses. Keeps what the
  // backward needs. Throws FormatError when a sequence has an empty prompt and a response, CapacityError when one is
  // longer than the model's context (naming its index in the micro-batch and its lengths).
  const ResponseLogprobs& forward(std::span<const ResponseSeq> seqs, bool want_entropy);
  TrainKernel last_kernel() const { return used_; }  // the kernel the last forward ran (never Auto)

  // Backward of the last forward: dlogp is d loss / d logp in forward's flat layout, dentropy (empty, or the same
  // layout) d loss / d entropy (the entropy bonus). Accumulates into the model's gradients; aux_scale weights the
  // model's MoE balance loss (see rl::balance_loss_scale).
  void backward(std::span<const float> dlogp, float aux_scale, std::span<const float> dentropy = {});

 private:
  void replay_routes(std::span<const ResponseSeq> seqs);  // before the forward: force the recorded routes
  void count_routes(std::span<const ResponseSeq> seqs);   // after it: ResponseLogprobs::routes / own_routes
  model::Model& m_;
  policy::SamplingParams sp_;
  TrainKernel kernel_, used_ = TrainKernel::Full;
  bool replay_;
  std::vector<int16_t> routes_, used_routes_;  // router replay: forced / dispatched routes, (N, route_width)
  int V_, B_ = 0, T_ = 0;
  std::vector<int32_t> tokens_, targets_, positions_;  // positions_: fused / packed, the flat rows that reach the head
  std::vector<int> cu_;
  std::vector<float> real_, logits_, dlogits_, row_logp_, row_ent_, row_dlogp_, row_dent_;
  std::vector<size_t> rows_;  // per flat response token: its row in (B, T)
  ResponseLogprobs out_;
};

// Per-token response log-probs of every sequence under `m`, micro_batch sequences per forward, no gradient:
// out[s] holds seqs[s]'s response log-probs. router_replay and routes: as ResponseLogprobRunner's (summed).
std::vector<std::vector<float>> response_logprobs(model::Model& m, const policy::SamplingParams& sp,
                                                  std::span<const ResponseSeq> seqs, size_t micro_batch,
                                                  TrainKernel kernel = TrainKernel::Auto, bool router_replay = false,
                                                  RouteCounts* routes = nullptr, RouteCounts* own_routes = nullptr);

}  // namespace reasonrl::train

// response_logprob.cpp: padding or packing, the model's forward and backward, and policy::sampling_logprob (or the
// fused head) over response tokens.
#include "rl/train/response_logprob.h"

#include <algorithm>
#include <string>

#include "policy/logprob.h"
#include "rl/util/error.h"

namespace reasonrl::train {

ResponseLogprobRunner::ResponseLogprobRunner(model::Model& m, const policy::SamplingParams& sp, TrainKernel kernel,
                                             bool router_replay)
    : m_(m), sp_(sp), kernel_(kernel), replay_(router_replay), V_(m.config().vocab_size) {
  resolve_train_kernel(kernel_, V_, 0, sp_);  // a forced kernel that cannot give these log-probs fails here
  if (replay_ && m_.route_width() == 0)
    throw ConfigError("router replay needs an MoE model; this one is dense (no MoE layer: first_k_dense_replace " +
                      std::to_string(m_.config().first_k_dense_replace) + " >= num_hidden_layers " +
                      std::to_string(m_.config().num_hidden_layers) + ")");
}

// ---- router replay: the rollout's routes on the rows that predict response tokens (rows_), compared after ----
void ResponseLogprobRunner::replay_routes(std::span<const ResponseSeq> seqs) {
  const size_t W = size_t(m_.route_width());
  if (!replay_) return;
  routes_.assign(size_t(cu_.back()) * W, int16_t(-1));
  size_t k = 0;
  for (const auto& s : seqs)
    for (size_t j = 0; j < s.response.size(); ++j, ++k)
      if (s.routes.size() == s.response.size() * W)
        std::copy_n(s.routes.begin() + long(j * W), W, routes_.begin() + long(rows_[k] * W));
  m_.force_routes(routes_);
}

void ResponseLogprobRunner::count_routes(std::span<const ResponseSeq> seqs) {
  out_.routes = out_.own_routes = {};
  const int W = m_.route_width(), K = m_.config().num_experts_per_tok;
  if (W == 0 || std::all_of(seqs.begin(), seqs.end(), [](const ResponseSeq& s) { return s.routes.empty(); })) return;
  used_routes_.resize(size_t(cu_.back()) * size_t(W));
  std::vector<int16_t> got;
  for (int own = 0; own < 2; ++own) {
    m_.last_routes(used_routes_, own == 1);
    size_t k = 0;
    for (const auto& s : seqs) {
      if (s.routes.size() != s.response.size() * size_t(W)) {
        k += s.response.size();
        continue;
      }
      got.resize(s.routes.size());
      for (size_t j = 0; j < s.response.size(); ++j, ++k)
        std::copy_n(used_routes_.begin() + long(rows_[k] * size_t(W)), W, got.begin() + long(j * size_t(W)));
      (own ? out_.own_routes : out_.routes) += compare_routes(s.routes, got, W, K);
    }
  }
}

const ResponseLogprobs& ResponseLogprobRunner::forward(std::span<const ResponseSeq> seqs, bool want_entropy) {
  B_ = int(seqs.size());
  T_ = 0;
  const int max_len = m_.config().max_position_embeddings;
  for (int b = 0; b < B_; ++b) {
    const ResponseSeq& s = seqs[size_t(b)];
    const int P = int(s.prompt.size()), R = int(s.response.size());
    if (P < 1 && R > 0)
      throw FormatError("response log-probs: sequence " + std::to_string(b) +
                        " has an empty prompt (the first response token needs a context)");
    if (P + R > max_len)
      throw CapacityError("response log-probs: sequence " + std::to_string(b) + " of the micro-batch has " +
                          std::to_string(P) + " prompt + " + std::to_string(R) + " response = " + std::to_string(P + R) +
                          " tokens, more than the model's context (max_position_embeddings " + std::to_string(max_len) +
                          ")");
    T_ = std::max(T_, P + R);
  }
  used_ = resolve_train_kernel(kernel_, V_, T_, sp_);
  const bool packed = used_ == TrainKernel::Packed;
  // flat layout: padded rows of T_, or the sequences back to back (cu_)
  cu_.assign(1, 0);
  for (const auto& s : seqs) cu_.push_back(cu_.back() + (packed ? int(s.prompt.size() + s.response.size()) : T_));
  const size_t N = size_t(cu_.back());
  tokens_.assign(N, 0);
  real_.assign(N, 0.0f);
  targets_.assign(used_ == TrainKernel::Full ? N : 0, -1);
  rows_.clear();
  out_.offsets.assign(1, 0);
  for (int b = 0; b < B_; ++b) {
    const ResponseSeq& s = seqs[size_t(b)];
    const int P = int(s.prompt.size()), R = int(s.response.size());
    const size_t r0 = size_t(cu_[size_t(b)]);
    std::copy(s.prompt.begin(), s.prompt.end(), tokens_.begin() + long(r0));
    std::copy(s.response.begin(), s.response.end(), tokens_.begin() + long(r0 + size_t(P)));
    std::fill(real_.begin() + long(r0), real_.begin() + long(r0 + size_t(P + R)), 1.0f);
    for (int j = 0; j < R; ++j) {  // the hidden state at P + j - 1 predicts response token j
      const size_t r = r0 + size_t(P + j - 1);
      if (!targets_.empty()) targets_[r] = s.response[size_t(j)];
      rows_.push_back(r);
    }
    out_.offsets.push_back(int64_t(rows_.size()));
  }
  out_.logp.resize(rows_.size());
  out_.entropy.resize(want_entropy ? rows_.size() : 0);
  if (used_ != TrainKernel::Full) {  // only the response positions reach the head
    replay_routes(seqs);
    if (packed) m_.forward_hidden_packed(tokens_.data(), cu_.data(), B_, real_.data());
    else m_.forward_hidden(tokens_.data(), B_, T_, real_.data());
    count_routes(seqs);
    positions_.assign(rows_.begin(), rows_.end());
    m_.selected_logprobs(positions_.data(), int(positions_.size()), out_.logp.data(),
                         want_entropy ? out_.entropy.data() : nullptr, 1.0f / sp_.temperature);
    return out_;
  }
  logits_.resize(N * size_t(V_));  // (B, T, V)
  replay_routes(seqs);
  m_.forward(tokens_.data(), B_, T_, logits_.data(), real_.data());
  count_routes(seqs);
  row_logp_.assign(N, 0.0f);  // (B, T)
  row_ent_.assign(want_entropy ? N : 0, 0.0f);
  policy::sampling_logprob(logits_.data(), int64_t(N), V_, sp_, targets_.data(), row_logp_.data(),
                           want_entropy ? row_ent_.data() : nullptr);
  for (size_t k = 0; k < rows_.size(); ++k) out_.logp[k] = row_logp_[rows_[k]];
  for (size_t k = 0; k < out_.entropy.size(); ++k) out_.entropy[k] = row_ent_[rows_[k]];
  return out_;
}

void ResponseLogprobRunner::backward(std::span<const float> dlogp, float aux_scale, std::span<const float> dentropy) {
  if (dlogp.size() != rows_.size())
    throw FormatError("response log-probs backward: " + std::to_string(dlogp.size()) + " gradients for the " +
                      std::to_string(rows_.size()) + " response tokens of the last forward");
  if (!dentropy.empty() && dentropy.size() != rows_.size())
    throw FormatError("response log-probs backward: " + std::to_string(dentropy.size()) + " entropy gradients for the " +
                      std::to_string(rows_.size()) + " response tokens of the last forward");
  if (used_ != TrainKernel::Full) {
    if (!dentropy.empty())
      throw ConfigError("response log-probs backward: the entropy bonus (rl.entropy_coeff > 0) needs train_kernel "
                        "full; the fused head gives no entropy gradient");
    m_.backward_selected(dlogp.data(), aux_scale);
    return;
  }
  row_dlogp_.assign(size_t(B_) * T_, 0.0f);  // (B, T)
  for (size_t k = 0; k < rows_.size(); ++k) row_dlogp_[rows_[k]] = dlogp[k];
  row_dent_.assign(dentropy.empty() ? 0 : size_t(B_) * T_, 0.0f);  // (B, T) or none
  for (size_t k = 0; k < dentropy.size(); ++k) row_dent_[rows_[k]] = dentropy[k];
  dlogits_.resize(logits_.size());  // (B, T, V)
  policy::sampling_logprob_backward(logits_.data(), int64_t(B_) * T_, V_, sp_, targets_.data(), row_dlogp_.data(),
                                    dentropy.empty() ? nullptr : row_dent_.data(), dlogits_.data());
  m_.backward(dlogits_.data(), aux_scale);
}

std::vector<std::vector<float>> response_logprobs(model::Model& m, const policy::SamplingParams& sp,
                                                  std::span<const ResponseSeq> seqs, size_t micro_batch,
                                                  TrainKernel kernel, bool router_replay, RouteCounts* routes,
                                                  RouteCounts* own_routes) {
  ResponseLogprobRunner run(m, sp, kernel, router_replay);
  std::vector<std::vector<float>> out(seqs.size());
  const size_t mb = std::max<size_t>(1, micro_batch);
  for (size_t i0 = 0; i0 < seqs.size(); i0 += mb) {
    const size_t n = std::min(seqs.size() - i0, mb);
    const ResponseLogprobs& r = run.forward(seqs.subspan(i0, n), false);
    if (routes) *routes += r.routes;
    if (own_routes) *own_routes += r.own_routes;
    for (size_t k = 0; k < n; ++k) out[i0 + k].assign(r.logp.begin() + r.offsets[k], r.logp.begin() + r.offsets[k + 1]);
  }
  return out;
}

}  // namespace reasonrl::train

// train_step.h: the training step the model benchmarks time: random tokens (seed 2), a freshly initialised model
// (seed 1), forward, mean next-token loss, backward, AdamW, router-bias update (step_fused: through the fused head).
#pragma once
#include <cstdint>
#include <vector>

#include "model/model.h"
#include "rl/util/rng.h"

namespace reasonrl::bench {

struct TrainBatch {
  model::Model m;
  model::AdamW opt;
  int B, T, V;
  std::vector<int32_t> tok;          // (B, T)
  std::vector<float> logits, dl;     // (B, T, V)
  TrainBatch(const model::ModelConfig& cfg, int B_, int T_)
      : m(cfg), B(B_), T(T_), V(cfg.vocab_size), tok(size_t(B_) * size_t(T_)), logits(tok.size() * size_t(V)),
        dl(logits.size()) {
    m.init_weights(1);
    Rng rng(2);
    for (auto& t : tok) t = int32_t(rng.below(uint64_t(V)));
  }
  void step() {
    m.zero_grad();
    m.forward(tok.data(), B, T, logits.data());
    model::next_token_loss(logits.data(), tok.data(), B, T, V, nullptr, dl.data());
    m.backward(dl.data());
    opt.step(m, 1e-3f);
    m.update_router_bias();
  }
  // The same loss through the fused head (forward_hidden / selected_logprobs / backward_selected): no (B, T, V) logits.
  void step_fused() {
    m.zero_grad();
    m.forward_hidden(tok.data(), B, T);
    std::vector<int32_t> pos;
    for (int b = 0; b < B; ++b)
      for (int t = 0; t + 1 < T; ++t) pos.push_back(b * T + t);
    std::vector<float> logp(pos.size()), dlogp(pos.size(), -1.0f / float(pos.size()));
    m.selected_logprobs(pos.data(), int(pos.size()), logp.data());
    m.backward_selected(dlogp.data());
    opt.step(m, 1e-3f);
    m.update_router_bias();
  }
};

}  // namespace reasonrl::bench

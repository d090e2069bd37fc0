// train_step.h: the training step the model benchmarks time: random tokens (seed 2), a freshly initialised model
// (seed 1), forward, mean next-token loss, backward, AdamW, router-bias update.
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
};

}  // namespace reasonrl::bench

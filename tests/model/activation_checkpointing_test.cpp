// Activation checkpointing (ModelConfig::activation_checkpointing): backward recomputes each block's forward from its
// stored input, running the same ops in the same order, so the gradients, losses, logits and router loads are
// bit-identical to the run that kept every block's activations (which Golden.* pins against PyTorch).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "model/model.h"
#include "rl/util/error.h"
#include "test_util.h"

namespace reasonrl::model {
namespace {

struct Run {
  std::vector<float> logits, grads, logp;
  std::vector<double> loads;
  float mtp = 0, bal = 0;
};

// Two steps (forward, backward, accumulate) with the body-and-head path or the fused-head path.
Run run(ModelConfig c, bool ckpt, AttentionKernel kernel, bool fused, int B, int T) {
  c.activation_checkpointing = ckpt;
  Model m(c);
  m.init_weights(11);
  testing::perturb(m, 12);
  m.set_attention_kernel(kernel);
  m.zero_grad();
  const int V = c.vocab_size;
  Run r;
  for (int step = 0; step < 2; ++step) {
    const auto tok = testing::random_tokens(B * T, V, 13 + uint64_t(step));
    std::vector<float> mask(size_t(B) * T, 1.0f);
    for (int t = T - 5; t < T; ++t) mask[size_t(T) + t] = 0.0f;  // padding at the end of row 1
    if (!fused) {
      std::vector<float> l(size_t(B) * T * V), dl(l.size());
      m.forward(tok.data(), B, T, l.data(), mask.data());
      next_token_loss(l.data(), tok.data(), B, T, V, mask.data(), dl.data());
      m.backward(dl.data(), 0.5f);
      r.logits.insert(r.logits.end(), l.begin(), l.end());
    } else {
      m.forward_hidden(tok.data(), B, T, mask.data());
      std::vector<int32_t> pos;
      for (int b = 0; b < B; ++b)
        for (int t = 1; t < T - 1; t += 2) pos.push_back(b * T + t);
      std::vector<float> lp(pos.size()), dlp(pos.size());
      m.selected_logprobs(pos.data(), int(pos.size()), lp.data());
      for (size_t i = 0; i < dlp.size(); ++i) dlp[i] = 0.1f * float(int(i % 7) - 3);
      m.backward_selected(dlp.data(), 0.5f);
      r.logp.insert(r.logp.end(), lp.begin(), lp.end());
    }
    r.mtp += m.last_mtp_loss();
    r.bal += m.last_balance_loss();
  }
  r.grads.assign(m.grads().begin(), m.grads().end());
  r.loads.assign(m.router_loads().begin(), m.router_loads().end());
  return r;
}

template <class V>
bool bits_equal(const V& a, const V& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), sizeof(a[0]) * a.size()) == 0);
}

void expect_identical(AttentionKernel kernel, bool fused, int T) {
  ModelConfig c = testing::micro_config();
  c.seq_aux_alpha = 0.01;  // the balance loss's per-block state is recomputed too
  ASSERT_GT(c.mtp_loss_weight, 0.0);
  const Run a = run(c, false, kernel, fused, 2, T), b = run(c, true, kernel, fused, 2, T);
  EXPECT_TRUE(bits_equal(a.grads, b.grads)) << "gradients";
  EXPECT_TRUE(bits_equal(a.logits, b.logits)) << "logits";
  EXPECT_TRUE(bits_equal(a.logp, b.logp)) << "log-probs";
  EXPECT_TRUE(bits_equal(a.loads, b.loads)) << "router loads (the replay must not count them again)";
  EXPECT_EQ(a.mtp, b.mtp);
  EXPECT_EQ(a.bal, b.bal) << "balance loss (the replay must not add it again)";
  EXPECT_GT(a.bal, 0.0f);
  double gmax = 0;
  for (float g : a.grads) gmax = std::max(gmax, double(std::abs(g)));
  EXPECT_GT(gmax, 0.0);
}

TEST(ActivationCheckpointing, GradientsBitIdenticalReferenceKernel) {
  expect_identical(AttentionKernel::Reference, false, 24);
}
TEST(ActivationCheckpointing, GradientsBitIdenticalTiledKernel) { expect_identical(AttentionKernel::Tiled, false, 80); }
TEST(ActivationCheckpointing, GradientsBitIdenticalFusedHead) { expect_identical(AttentionKernel::Tiled, true, 80); }

TEST(ActivationCheckpointing, SwitchingOnAndOffAndFrozenRouting) {
  ModelConfig c = testing::micro_config();
  Model m(c);
  m.init_weights(3);
  const int B = 1, T = 16, V = c.vocab_size;
  const auto tok = testing::random_tokens(B * T, V, 4);
  std::vector<float> l(size_t(B) * T * V), dl(l.size());
  std::vector<std::vector<float>> g;
  for (bool ck : {false, true, false}) {
    ModelConfig k = c;
    k.activation_checkpointing = ck;
    m.set_training_knobs(k);
    m.zero_grad();
    m.forward(tok.data(), B, T, l.data());
    next_token_loss(l.data(), tok.data(), B, T, V, nullptr, dl.data());
    m.backward(dl.data());
    g.emplace_back(m.grads().begin(), m.grads().end());
  }
  EXPECT_TRUE(bits_equal(g[0], g[1]));
  EXPECT_TRUE(bits_equal(g[0], g[2]));
  ModelConfig k = c;
  k.activation_checkpointing = true;
  m.set_training_knobs(k);
  m.set_routing_frozen(true);
  EXPECT_THROW(m.forward(tok.data(), B, T, l.data()), Error);
}

}  // namespace
}  // namespace reasonrl::model

// Determinism: 1 thread vs 2 threads give equal gradients; gradient accumulation 1x8 equals 8x1.
#include <gtest/gtest.h>
#include <omp.h>

#include "model/model.h"
#include "test_util.h"

namespace reasonrl::model {
namespace {

std::vector<float> grads_of(Model& m, const std::vector<int32_t>& tok, int B, int T, int micro) {
  const int V = m.config().vocab_size;
  m.zero_grad();
  const int rows = B / micro;
  std::vector<float> logits(size_t(rows) * T * V), dl(logits.size());
  for (int i = 0; i < micro; ++i) {
    const int32_t* t = tok.data() + size_t(i) * rows * T;
    m.forward(t, rows, T, logits.data());
    next_token_loss(logits.data(), t, rows, T, V, nullptr, dl.data());
    for (auto& x : dl) x /= float(micro);
    m.backward(dl.data(), 1.0f / float(micro));
  }
  return {m.grads().begin(), m.grads().end()};
}

ModelConfig cfg() {
  ModelConfig c = testing::micro_config();
  c.seq_aux_alpha = 0.01;
  return c;
}

TEST(Threads, OneVsTwoThreadsSameGradients) {
  Model m(cfg());
  m.init_weights(1);
  const int B = 4, T = 16;
  auto tok = testing::random_tokens(B * T, m.config().vocab_size, 2);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  auto g1 = grads_of(m, tok, B, T, 1);
  omp_set_num_threads(2);
  auto g2 = grads_of(m, tok, B, T, 1);
  omp_set_num_threads(saved);
  for (const auto& t : m.tensors())
    EXPECT_LT(testing::rel_err(g2.data() + t.offset, g1.data() + t.offset, t.size, 1e-20), 1e-5) << t.name;
}

TEST(Threads, AccumulationOneByEightEqualsEightByOne) {
  Model m(cfg());
  m.init_weights(3);
  const int B = 8, T = 12;
  auto tok = testing::random_tokens(B * T, m.config().vocab_size, 4);
  auto g_full = grads_of(m, tok, B, T, 1);
  auto g_acc = grads_of(m, tok, B, T, 8);
  double worst = 0;
  for (const auto& t : m.tensors()) {
    if (!t.trainable) continue;
    const double e = testing::rel_err(g_acc.data() + t.offset, g_full.data() + t.offset, t.size, 1e-20);
    EXPECT_LT(e, 1e-4) << t.name;
    worst = std::max(worst, e);
  }
  std::printf("accumulation 8x1 vs 1x8: worst relative difference %.3g\n", worst);
}

}  // namespace
}  // namespace reasonrl::model

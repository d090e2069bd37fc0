// A tiny model memorises a small corpus: the next-token loss falls below 0.05 nats within 300 AdamW steps, and every
// parameter tensor changes (weight decay off, so only gradients can move them; router biases move by balancing).
#include <gtest/gtest.h>

#include <cstring>

#include "model/model.h"
#include "test_util.h"

namespace reasonrl::model {
namespace {

TEST(Memorise, TinyModelLearnsCorpusAndEveryTensorMoves) {
  ModelConfig c = testing::micro_config();
  Model m(c);
  m.init_weights(7);
  const std::vector<float> init(m.params().begin(), m.params().end());
  const int B = 4, T = 24, V = c.vocab_size;
  const auto tok = testing::random_tokens(B * T, V, 8);  // random tokens: only memorisation can predict them
  AdamWConfig oc;
  oc.learning_rate = 1e-2;
  oc.weight_decay = 0.0;
  oc.warmup_steps = 10;
  oc.max_steps = 300;
  AdamW opt(oc);
  std::vector<float> logits(size_t(B) * T * V), dl(logits.size());
  float loss = 0, first = 0;
  int step = 0;
  for (; step < 300; ++step) {
    m.zero_grad();
    m.forward(tok.data(), B, T, logits.data());
    loss = next_token_loss(logits.data(), tok.data(), B, T, V, nullptr, dl.data());
    if (step == 0) first = loss;
    m.backward(dl.data());
    opt.step(m, float(oc.lr_at(step)));
    m.update_router_bias();
    if (loss < 0.05f && step > 50) break;
  }
  std::printf("memorise: loss %.3f -> %.4f after %d steps (mtp %.4f)\n", first, loss, step, m.last_mtp_loss());
  EXPECT_GT(first, 3.5f);  // ~ln(64) at start
  EXPECT_LT(loss, 0.05f);
  for (const auto& t : m.tensors()) {
    const bool moved = std::memcmp(init.data() + t.offset, m.params().data() + t.offset, t.size * sizeof(float)) != 0;
    EXPECT_TRUE(moved) << t.name << " did not change";
  }
}

}  // namespace
}  // namespace reasonrl::model

// Router replay (model side): forcing a forward's routes to its own top-k is bit-identical (logits, losses and every
// gradient); forced routes are the ones dispatched while the router's own choice stays readable; decoding records, per
// row whose logits it wrote, the routes of that row, and they equal the teacher-forced forward's (double precision,
// where the two kernels agree far inside the routing gaps); bad routes and a dense model are errors.
// (Gradients under forced routes: tests/model/gradcheck_test.cpp, RouterReplay*; against PyTorch: golden_test.cpp.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "model/model.h"
#include "rl/util/error.h"
#include "test_util.h"

namespace reasonrl::model {
namespace {

using testing::micro_config;

ModelConfig replay_config() {
  ModelConfig c = micro_config();
  c.initializer_range = 0.3;
  c.n_routed_experts = 8;
  c.n_group = 2;
  c.topk_group = 1;
  c.num_hidden_layers = 3;
  c.seq_aux_alpha = 0.05;
  return c;
}

template <class M>
std::vector<typename M::Scalar> run(M& m, const std::vector<int32_t>& tok, int B, int T,
                                    const std::vector<typename M::Scalar>& mask, std::vector<typename M::Scalar>* g) {
  using S = typename M::Scalar;
  const int V = m.config().vocab_size;
  std::vector<S> logits(size_t(B) * T * V), dl(logits.size());
  m.zero_grad();
  m.forward(tok.data(), B, T, logits.data(), mask.data());
  next_token_loss(logits.data(), tok.data(), B, T, V, mask.data(), dl.data());
  m.backward(dl.data());
  g->assign(m.grads().begin(), m.grads().end());
  logits.push_back(m.last_balance_loss());
  logits.push_back(m.last_mtp_loss());
  return logits;
}

TEST(RouterReplay, ForcingTheOwnTopKIsBitIdentical) {
  const ModelConfig c = replay_config();
  Model m(c);
  m.init_weights(3);
  testing::perturb(m, 4);
  const int B = 3, T = 11;
  const auto tok = testing::random_tokens(B * T, c.vocab_size, 5);
  std::vector<float> mask(B * T, 1.0f);
  mask[B * T - 1] = mask[B * T - 2] = 0.0f;
  std::vector<float> g0, g1;
  const auto out0 = run(m, tok, B, T, mask, &g0);
  const std::vector<float> loads0(m.router_loads().begin(), m.router_loads().end());
  std::vector<int16_t> routes(size_t(B) * T * m.route_width());
  ASSERT_EQ(m.route_width(), 2 * c.num_experts_per_tok);  // layers 1 and 2 are MoE; the MTP block is not replayed
  m.last_routes(routes);
  // the stored order of a route must not matter: reverse each layer's K ids
  std::vector<int16_t> rev = routes;
  for (size_t i = 0; i < rev.size(); i += size_t(c.num_experts_per_tok))
    std::reverse(rev.begin() + long(i), rev.begin() + long(i) + c.num_experts_per_tok);
  m.reset_router_loads();
  m.force_routes(rev);
  const auto out1 = run(m, tok, B, T, mask, &g1);
  ASSERT_EQ(out0.size(), out1.size());
  EXPECT_EQ(std::memcmp(out0.data(), out1.data(), out0.size() * sizeof(float)), 0) << "logits / losses";
  EXPECT_EQ(std::memcmp(g0.data(), g1.data(), g0.size() * sizeof(float)), 0) << "gradients";
  const std::vector<float> loads1(m.router_loads().begin(), m.router_loads().end());
  EXPECT_EQ(loads0, loads1);
  std::vector<int16_t> again(routes.size());
  m.last_routes(again);
  EXPECT_EQ(again, routes);  // dispatched in the router's order
  // forcing holds for one forward only
  std::vector<float> g2;
  const auto out2 = run(m, tok, B, T, mask, &g2);
  EXPECT_EQ(std::memcmp(out0.data(), out2.data(), out0.size() * sizeof(float)), 0);
}

TEST(RouterReplay, ForcedRoutesAreDispatchedAndChangeTheOutput) {
  const ModelConfig c = replay_config();
  Model m(c);
  m.init_weights(7);
  testing::perturb(m, 8);
  const int B = 1, T = 6, W = m.route_width(), K = c.num_experts_per_tok, V = c.vocab_size;
  const auto tok = testing::random_tokens(T, V, 9);
  std::vector<float> l0(size_t(T) * V), l1(l0.size());
  m.forward(tok.data(), B, T, l0.data());
  std::vector<int16_t> own(size_t(T) * W);
  m.last_routes(own);
  std::vector<int16_t> forced(own.size(), -1);
  for (int j = 0; j < W; j += K)  // row 2: the K experts the router ranks lowest among ids not chosen
    for (int k = 0, e = c.n_routed_experts - 1; k < K; --e)
      if (std::find(&own[size_t(2) * W + j], &own[size_t(2) * W + j + K], e) == &own[size_t(2) * W + j + K])
        forced[size_t(2) * W + j + k++] = int16_t(e);
  m.force_routes(forced);
  m.forward(tok.data(), B, T, l1.data());
  std::vector<int16_t> used(own.size()), mine(own.size());
  m.last_routes(used);
  m.last_routes(mine, true);
  // the router's own choice before the forced row, and at the forced row in the first MoE layer, is what it was
  // (later layers see row 2's changed output)
  EXPECT_TRUE(std::equal(mine.begin(), mine.begin() + 2 * W + K, own.begin()));
  for (int t = 0; t < T; ++t)
    for (int j = 0; j < W; j += K) {
      const std::vector<int16_t>& src = t == 2 ? forced : mine;  // unforced rows dispatch their own choice
      std::vector<int16_t> u(&used[size_t(t) * W + j], &used[size_t(t) * W + j + K]);
      std::vector<int16_t> want(&src[size_t(t) * W + j], &src[size_t(t) * W + j + K]);
      std::sort(u.begin(), u.end());
      std::sort(want.begin(), want.end());
      EXPECT_EQ(u, want) << "row " << t << " layer slot " << j / K;
    }
  // causal: rows before 2 are untouched, row 2 and later change
  EXPECT_EQ(std::memcmp(l0.data(), l1.data(), sizeof(float) * 2 * V), 0);
  EXPECT_GT(testing::rel_err(l1.data() + 2 * V, l0.data() + 2 * V, V), 1e-4);
}

TEST(RouterReplay, DecodeRecordsTheRoutesOfEachSampledRow) {
  const ModelConfig c = replay_config();
  BasicModel<double> m(c);
  m.init_weights(11);
  testing::perturb(m, 12);
  const int T = 12, P = 5, W = m.route_width(), V = c.vocab_size;
  const auto tok = testing::random_tokens(T, V, 13);
  std::vector<double> full(size_t(T) * V);
  m.forward(tok.data(), 1, T, full.data());
  std::vector<int16_t> ref(size_t(T) * W);
  m.last_routes(ref);
  BasicKVCache<double> cache(c, 2, 32);
  std::vector<double> out(static_cast<size_t>(V));
  m.prefill(cache, 1, tok.data(), P, out.data());
  ASSERT_EQ(m.last_decode_routes().size(), size_t(W));  // the last prompt token's row only
  EXPECT_TRUE(std::equal(m.last_decode_routes().begin(), m.last_decode_routes().end(), ref.begin() + long(P - 1) * W));
  for (int t = P; t < T; ++t) {
    const int slots[2] = {0, 1};
    const int32_t in[2] = {tok[0], tok[t]};  // two rows: the route of row i is the i-th block
    if (t == P) m.prefill(cache, 0, tok.data(), 1, out.data());
    std::vector<double> lg(2 * size_t(V));
    m.decode_step(cache, slots, in, 2, lg.data());
    ASSERT_EQ(m.last_decode_routes().size(), 2 * size_t(W));
    EXPECT_TRUE(std::equal(m.last_decode_routes().begin() + W, m.last_decode_routes().end(), ref.begin() + long(t) * W))
        << "position " << t;
  }
}

TEST(RouterReplay, BadRoutesAndDenseModelsAreErrors) {
  const ModelConfig c = replay_config();
  Model m(c);
  m.init_weights(1);
  const int W = m.route_width();
  std::vector<int16_t> r(size_t(2) * W, -1);
  r[size_t(W)] = 0;  // row 1 partly forced
  EXPECT_THROW(m.force_routes(r), FormatError);
  for (int j = 0; j < W; ++j) r[size_t(W) + size_t(j)] = int16_t(j % c.num_experts_per_tok);
  m.force_routes(r);  // valid
  r[size_t(W) + 1] = 0;  // the same expert twice in one layer
  EXPECT_THROW(m.force_routes(r), FormatError);
  r[size_t(W) + 1] = int16_t(c.n_routed_experts);
  EXPECT_THROW(m.force_routes(r), FormatError);
  EXPECT_THROW(m.force_routes(std::vector<int16_t>(size_t(W) + 1, -1)), FormatError);
  // rows that do not match the batch
  m.force_routes(std::vector<int16_t>(size_t(3) * W, -1));
  const auto tok = testing::random_tokens(4, c.vocab_size, 1);
  std::vector<float> l(size_t(4) * c.vocab_size);
  EXPECT_THROW(m.forward(tok.data(), 1, 4, l.data()), Error);
  m.forward(tok.data(), 1, 4, l.data());  // the bad forcing is gone

  ModelConfig d = micro_config();
  d.first_k_dense_replace = d.num_hidden_layers + 1;  // every layer (and the MTP block) dense
  Model dense(d);
  EXPECT_EQ(dense.route_width(), 0);
  EXPECT_THROW(dense.force_routes(std::vector<int16_t>{}), ConfigError);
}

}  // namespace
}  // namespace reasonrl::model

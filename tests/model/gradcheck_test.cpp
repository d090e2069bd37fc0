// Finite differences in double, routing held fixed: every parameter tensor of every layer type (embedding, MLA with
// and without low-rank query, dense SwiGLU, DeepSeekMoE router / shared / routed experts, balance loss, MTP, head);
// and the same with router replay (forced routes on half the rows, mostly not the router's own choice).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "model/model.h"
#include "test_util.h"

namespace reasonrl::model {
namespace {

using testing::micro_config;

// Total loss = mean next-token CE (masked) + MTP + sequence balance loss; grads via backward.
double total_loss(BasicModel<double>& m, const std::vector<int32_t>& tok, const std::vector<double>& mask, int B,
                  int T, std::vector<double>* dlogits, const std::vector<int16_t>& routes = {}) {
  const int V = m.config().vocab_size;
  std::vector<double> logits(size_t(B) * T * V);
  if (!routes.empty()) m.force_routes(routes);
  m.forward(tok.data(), B, T, logits.data(), mask.data());
  if (dlogits) dlogits->assign(logits.size(), 0.0);
  const double ce = next_token_loss(logits.data(), tok.data(), B, T, V, mask.data(), dlogits ? dlogits->data() : nullptr);
  return ce + m.last_mtp_loss() + m.last_balance_loss();
}

// Router replay: every odd row forced to K distinct random experts per MoE layer, even rows route themselves.
std::vector<int16_t> random_routes(const BasicModel<double>& m, int N, uint64_t seed) {
  const int W = m.route_width(), K = m.config().num_experts_per_tok, E = m.config().n_routed_experts;
  std::vector<int16_t> r(size_t(N) * W, -1);
  Rng rng(seed);
  for (int n = 1; n < N; n += 2)
    for (int j = 0; j < W; j += K)
      for (int k = 0; k < K; ++k) {
        int16_t e;
        do e = int16_t(rng.below(uint64_t(E)));
        while (std::find(&r[size_t(n) * W + j], &r[size_t(n) * W + j + k], e) != &r[size_t(n) * W + j + k]);
        r[size_t(n) * W + j + k] = e;
      }
  return r;
}

void check_all_tensors(const ModelConfig& cfg, uint64_t seed, bool replay = false, bool deterministic = false) {
  BasicModel<double> m(cfg);
  m.set_deterministic(deterministic);
  m.init_weights(seed);
  testing::perturb(m, seed + 1);
  const int B = 2, T = 7;
  auto tok = testing::random_tokens(B * T, cfg.vocab_size, seed + 2);
  std::vector<double> mask(B * T, 1.0);
  mask[B * T - 1] = 0;  // padding at the end of the last row
  mask[B * T - 2] = 0;
  const std::vector<int16_t> routes = replay ? random_routes(m, B * T, seed + 4) : std::vector<int16_t>{};
  std::vector<double> dl;
  m.zero_grad();
  total_loss(m, tok, mask, B, T, &dl, routes);
  if (replay) {  // forced rows dispatch the forced sets, and those differ from the router's own (else nothing is new)
    const int K = cfg.num_experts_per_tok;
    std::vector<int16_t> own(routes.size()), used(routes.size());
    m.last_routes(own, true);
    m.last_routes(used);
    int differ = 0;
    for (size_t i = 0; i < routes.size(); i += size_t(K)) {
      auto set = [&](const std::vector<int16_t>& v) {
        std::vector<int16_t> x(v.begin() + long(i), v.begin() + long(i) + K);
        std::sort(x.begin(), x.end());
        return x;
      };
      if (routes[i] >= 0) {
        EXPECT_EQ(set(used), set(routes)) << "entry " << i;
      }
      differ += set(own) != set(used);
    }
    ASSERT_GT(differ, 0);
  }
  if (cfg.seq_aux_alpha > 0 && cfg.first_k_dense_replace < cfg.num_hidden_layers) { ASSERT_GT(m.last_balance_loss(), 0.0); }
  if (cfg.num_nextn_predict_layers > 0) { ASSERT_GT(m.last_mtp_loss(), 0.0); }
  m.backward(dl.data());
  m.set_routing_frozen(true);
  const std::vector<double> g(m.grads().begin(), m.grads().end());
  auto p = m.params();
  Rng pick(seed + 3);
  const double h = 1e-5;
  double worst = 0;
  std::string worst_name;
  int checked = 0;
  for (const auto& t : m.tensors()) {
    if (!t.trainable) continue;
    double num = 0, den = 1e-9;
    const int samples = int(std::min<size_t>(t.size, 3));
    for (int s = 0; s < samples; ++s) {
      const size_t i = t.offset + (samples == int(t.size) ? size_t(s) : pick.below(t.size));
      const double old = p[i];
      p[i] = old + h;
      const double lp = total_loss(m, tok, mask, B, T, nullptr, routes);
      p[i] = old - h;
      const double lm = total_loss(m, tok, mask, B, T, nullptr, routes);
      p[i] = old;
      const double fd = (lp - lm) / (2 * h);
      num = std::max(num, std::abs(fd - g[i]));
      den = std::max(den, std::max(std::abs(fd), std::abs(g[i])));
      ++checked;
    }
    // Relative to the tensor's gradient scale; the absolute floor covers tensors whose sampled entries are ~0.
    const double err = num / std::max(den, 1e-6);
    EXPECT_LT(err, 1e-5) << t.name << " fd vs analytic: max abs diff " << num << ", scale " << den;
    if (err > worst) worst = err, worst_name = t.name;
  }
  std::printf("finite differences%s: %d entries over %zu tensors, worst relative error %.3g in %s\n",
              replay ? " (router replay)" : deterministic ? " (deterministic mode)" : "", checked, m.tensors().size(), worst, worst_name.c_str());
}

ModelConfig group_routing_config() {  // low-rank query, MTP, group-limited routing, balance loss
  ModelConfig c = micro_config();
  c.initializer_range = 0.3;
  c.n_routed_experts = 8;
  c.n_group = 2;
  c.topk_group = 1;
  c.routed_scaling_factor = 2.5;
  c.seq_aux_alpha = 0.05;
  c.mtp_loss_weight = 0.3;
  return c;
}
ModelConfig plain_config() {  // plain query, no shared expert, unnormalised gates, no MTP, no balance loss
  ModelConfig c = micro_config();
  c.initializer_range = 0.3;
  c.q_lora_rank = 0;
  c.n_shared_experts = 0;
  c.norm_topk_prob = false;
  c.num_hidden_layers = 3;
  c.first_k_dense_replace = 1;
  c.num_nextn_predict_layers = 0;
  c.seq_aux_alpha = 0;
  return c;
}

TEST(GradCheck, AllTensorsLowRankQueryMtpGroupRoutingBalanceLoss) { check_all_tensors(group_routing_config(), 11); }
TEST(GradCheck, AllTensorsPlainQueryNoSharedUnnormalisedGates) { check_all_tensors(plain_config(), 21); }
TEST(GradCheck, RouterReplayGroupRoutingBalanceLossMtp) { check_all_tensors(group_routing_config(), 41, true); }
// Deterministic mode: the forward's attention output is absorbed MLA (decode's kernel) while the backward is the
// expanded kernels'; finite differences of that forward must match it.
TEST(GradCheck, DeterministicModeLowRankQueryMtpGroupRouting) { check_all_tensors(group_routing_config(), 51, false, true); }
TEST(GradCheck, DeterministicModePlainQuery) { check_all_tensors(plain_config(), 61, false, true); }
TEST(GradCheck, RouterReplayPlainQueryNoSharedUnnormalisedGates) { check_all_tensors(plain_config(), 51, true); }

TEST(GradCheck, AllDenseLayersWithMtp) {
  ModelConfig c = micro_config();
  c.initializer_range = 0.3;
  c.first_k_dense_replace = 3;  // layers 0, 1 and the MTP block (index 2) dense
  c.num_hidden_layers = 2;
  check_all_tensors(c, 31);
}

}  // namespace
}  // namespace reasonrl::model

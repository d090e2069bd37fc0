// Finite differences in double, routing held fixed: every parameter tensor of every layer type (embedding, MLA with
// and without low-rank query, dense SwiGLU, DeepSeekMoE router / shared / routed experts, balance loss, MTP, head).
#include <gtest/gtest.h>

#include <cstdio>

#include "model/model.h"
#include "test_util.h"

namespace reasonrl::model {
namespace {

using testing::micro_config;

// Total loss = mean next-token CE (masked) + MTP + sequence balance loss; grads via backward.
double total_loss(BasicModel<double>& m, const std::vector<int32_t>& tok, const std::vector<double>& mask, int B,
                  int T, std::vector<double>* dlogits) {
  const int V = m.config().vocab_size;
  std::vector<double> logits(size_t(B) * T * V);
  m.forward(tok.data(), B, T, logits.data(), mask.data());
  if (dlogits) dlogits->assign(logits.size(), 0.0);
  const double ce = next_token_loss(logits.data(), tok.data(), B, T, V, mask.data(), dlogits ? dlogits->data() : nullptr);
  return ce + m.last_mtp_loss() + m.last_balance_loss();
}

void check_all_tensors(const ModelConfig& cfg, uint64_t seed) {
  BasicModel<double> m(cfg);
  m.init_weights(seed);
  testing::perturb(m, seed + 1);
  const int B = 2, T = 7;
  auto tok = testing::random_tokens(B * T, cfg.vocab_size, seed + 2);
  std::vector<double> mask(B * T, 1.0);
  mask[B * T - 1] = 0;  // padding at the end of the last row
  mask[B * T - 2] = 0;
  std::vector<double> dl;
  m.zero_grad();
  total_loss(m, tok, mask, B, T, &dl);
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
      const double lp = total_loss(m, tok, mask, B, T, nullptr);
      p[i] = old - h;
      const double lm = total_loss(m, tok, mask, B, T, nullptr);
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
  std::printf("finite differences: %d entries over %zu tensors, worst relative error %.3g in %s\n", checked,
              m.tensors().size(), worst, worst_name.c_str());
}

TEST(GradCheck, AllTensorsLowRankQueryMtpGroupRoutingBalanceLoss) {
  ModelConfig c = micro_config();
  c.initializer_range = 0.3;
  c.n_routed_experts = 8;
  c.n_group = 2;
  c.topk_group = 1;
  c.routed_scaling_factor = 2.5;
  c.seq_aux_alpha = 0.05;
  c.mtp_loss_weight = 0.3;
  check_all_tensors(c, 11);
}

TEST(GradCheck, AllTensorsPlainQueryNoSharedUnnormalisedGates) {
  ModelConfig c = micro_config();
  c.initializer_range = 0.3;
  c.q_lora_rank = 0;
  c.n_shared_experts = 0;
  c.norm_topk_prob = false;
  c.num_hidden_layers = 3;
  c.first_k_dense_replace = 1;
  c.num_nextn_predict_layers = 0;
  c.seq_aux_alpha = 0;
  check_all_tensors(c, 21);
}

TEST(GradCheck, AllDenseLayersWithMtp) {
  ModelConfig c = micro_config();
  c.initializer_range = 0.3;
  c.first_k_dense_replace = 3;  // layers 0, 1 and the MTP block (index 2) dense
  c.num_hidden_layers = 2;
  check_all_tensors(c, 31);
}

}  // namespace
}  // namespace reasonrl::model

// The model with the long-sequence pieces: tiled attention gives the reference kernel's logits and gradients; the
// fused-head API (forward_hidden / selected_logprobs / backward_selected) gives the log-probs and gradients of
// forward() + log-softmax at the chosen positions (double: to 1e-10; float: to 1e-4); misuse is an error; the long preset
// is the tiny body with 16,384 positions.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/flash_attention.h"
#include "model/model.h"
#include "test_util.h"

namespace reasonrl::model {
namespace {

template <class S>
double worst_tensor_err(const BasicModel<S>& a, const std::vector<S>& ga, const std::vector<S>& gb) {
  double worst = 0;
  for (const auto& t : a.tensors()) {
    const S* x = ga.data() + t.offset;
    const S* y = gb.data() + t.offset;
    double mx = 0;
    for (size_t i = 0; i < t.size; ++i) mx = std::max(mx, std::abs(double(y[i])));
    if (mx == 0) continue;
    worst = std::max(worst, testing::rel_err(x, y, t.size));
  }
  return worst;
}

TEST(LongSequence, TiledAttentionMatchesReferenceInTheModel) {
  ModelConfig c = testing::micro_config();
  c.seq_aux_alpha = 0.01;
  const int B = 2, T = 2 * kFlashBlockQ + 22, V = c.vocab_size;
  const auto tok = testing::random_tokens(B * T, V, 3);
  std::vector<float> mask(size_t(B) * T, 1.0f);
  for (int t = T - 30; t < T; ++t) mask[size_t(T) + t] = 0.0f;  // padding at the end of row 1
  std::vector<float> lr(size_t(B) * T * V), lt(lr.size()), dl(lr.size());
  std::vector<float> gr, gt;
  for (AttentionKernel k : {AttentionKernel::Reference, AttentionKernel::Tiled}) {
    Model m(c);
    m.init_weights(7);
    testing::perturb(m, 8);
    m.set_attention_kernel(k);
    m.zero_grad();
    std::vector<float>& l = k == AttentionKernel::Reference ? lr : lt;
    m.forward(tok.data(), B, T, l.data(), mask.data());
    next_token_loss(l.data(), tok.data(), B, T, V, mask.data(), dl.data());
    m.backward(dl.data());
    (k == AttentionKernel::Reference ? gr : gt).assign(m.grads().begin(), m.grads().end());
  }
  EXPECT_LT(testing::rel_err(lt.data(), lr.data(), lr.size()), 1e-5);
  Model probe(c);
  EXPECT_LT(worst_tensor_err(probe, gt, gr), 1e-4);
}

// forward() logits -> log-softmax at the positions -> dlogits of sum_i c_i logp_i, vs the fused-head API.
template <class S>
void selected_vs_full(double tol) {
  ModelConfig c = testing::micro_config();
  c.seq_aux_alpha = 0.01;
  const int B = 2, T = 21, V = c.vocab_size, N = B * T;
  const auto tok = testing::random_tokens(N, V, 4);
  std::vector<S> mask(size_t(N), S(1));
  mask[0] = mask[1] = S(0);                                // prompt tokens
  mask[size_t(N) - 1] = mask[size_t(N) - 2] = S(0);        // padding
  const std::vector<int32_t> pos = {3, 4, 5, 17, 5, T + 2, T + 15, N - 4};  // 5 twice
  std::vector<S> coef(pos.size());
  for (size_t i = 0; i < pos.size(); ++i) coef[i] = S(0.3) * S(i + 1) * (i % 2 ? S(-1) : S(1));
  const S aux = S(0.5);

  BasicModel<S> full(c), fused(c);
  full.init_weights(11);
  testing::perturb(full, 12);
  fused.copy_params_from(full);
  std::vector<S> logits(size_t(N) * V), dl(logits.size(), S(0)), logp_full(pos.size());
  full.zero_grad();
  full.forward(tok.data(), B, T, logits.data(), mask.data());
  for (size_t i = 0; i < pos.size(); ++i) {
    const S* l = logits.data() + size_t(pos[i]) * V;
    double mx = l[0], z = 0;
    for (int v = 0; v < V; ++v) mx = std::max(mx, double(l[v]));
    for (int v = 0; v < V; ++v) z += std::exp(double(l[v]) - mx);
    const double lse = mx + std::log(z);
    const int32_t tg = tok[size_t(pos[i]) + 1];
    logp_full[i] = S(double(l[tg]) - lse);
    for (int v = 0; v < V; ++v) dl[size_t(pos[i]) * V + v] -= coef[i] * S(std::exp(double(l[v]) - lse));
    dl[size_t(pos[i]) * V + tg] += coef[i];
  }
  full.backward(dl.data(), aux);

  std::vector<S> logp(pos.size());
  fused.zero_grad();
  fused.forward_hidden(tok.data(), B, T, mask.data());
  fused.selected_logprobs(pos.data(), int(pos.size()), logp.data());
  fused.backward_selected(coef.data(), aux);

  EXPECT_LT(testing::rel_err(logp.data(), logp_full.data(), logp.size()), tol);
  EXPECT_NEAR(double(fused.last_mtp_loss()), double(full.last_mtp_loss()), tol * std::abs(double(full.last_mtp_loss())));
  EXPECT_GT(double(full.last_mtp_loss()), 0.0);
  EXPECT_EQ(fused.last_balance_loss(), full.last_balance_loss());
  const std::vector<S> ga(fused.grads().begin(), fused.grads().end()), gb(full.grads().begin(), full.grads().end());
  EXPECT_LT(worst_tensor_err(full, ga, gb), tol);
}

TEST(LongSequence, SelectedLogprobsMatchFullLogitsDouble) { selected_vs_full<double>(1e-10); }
TEST(LongSequence, SelectedLogprobsMatchFullLogitsFloat) { selected_vs_full<float>(1e-4); }

TEST(LongSequence, FusedHeadApiMisuseIsAnError) {
  Model m(testing::micro_config());
  m.init_weights(1);
  const int B = 1, T = 6;
  const auto tok = testing::random_tokens(B * T, m.config().vocab_size, 5);
  std::vector<float> logp(2), dlogp(2, 1.0f);
  const std::vector<int32_t> last = {0, T - 1}, outside = {0, B * T + 3};
  EXPECT_THROW(m.selected_logprobs(last.data(), 2, logp.data()), Error);  // no forward_hidden yet
  m.forward_hidden(tok.data(), B, T);
  EXPECT_THROW(m.backward(dlogp.data()), Error);                          // the full backward needs forward()
  EXPECT_THROW(m.backward_selected(dlogp.data()), Error);                 // no selected_logprobs yet
  EXPECT_THROW(m.selected_logprobs(last.data(), 2, logp.data()), Error);  // t = T-1 has no next token
  EXPECT_THROW(m.selected_logprobs(outside.data(), 2, logp.data()), Error);
}

TEST(LongSequence, LongPresetIsTinyWith16kPositions) {
  const ModelConfig tiny = load_model_config(std::string(REASONRL_SOURCE_DIR) + "/configs/model_tiny.json");
  ModelConfig lng = load_model_config(std::string(REASONRL_SOURCE_DIR) + "/configs/model_long.json");
  EXPECT_EQ(lng.max_position_embeddings, 16384);
  lng.max_position_embeddings = tiny.max_position_embeddings;
  EXPECT_EQ(tensor_layout(lng).size(), tensor_layout(tiny).size());
  size_t a = 0, b = 0;
  tensor_layout(lng, &a);
  tensor_layout(tiny, &b);
  EXPECT_EQ(a, b);
  EXPECT_EQ(lng.hidden_size, tiny.hidden_size);
  EXPECT_EQ(lng.num_hidden_layers, tiny.num_hidden_layers);
  EXPECT_EQ(lng.vocab_size, tiny.vocab_size);
}

}  // namespace
}  // namespace reasonrl::model

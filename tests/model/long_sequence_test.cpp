// The model with the long-sequence pieces: tiled attention gives the reference kernel's logits and gradients; the
// fused-head API (forward_hidden / selected_logprobs / backward_selected) gives the log-probs and gradients of
// forward() + log-softmax at the chosen positions (double: to 1e-10; float: to 1e-4); a packed variable-length batch
// (forward_hidden_packed) gives the log-probs, entropies, losses, router loads and gradients of its sequences run one by
// one and of the padded batch (double, to 1e-10: only the summation order differs), and its gradient matches finite
// differences; misuse is an error; the long preset is the tiny body with 16,384 positions.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/flash_attention.h"
#include "model/model.h"
#include "rl/util/error.h"
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

// Three sequences of unequal length (one crosses a 64-token attention block), each with a prompt whose mask is 0 at its
// start, and positions to score in each; scores under temperature 0.8 (logit scale 1.25), with entropies.
struct PackedCase {
  std::vector<std::vector<int32_t>> seqs;
  std::vector<std::vector<double>> masks;
  std::vector<std::vector<int32_t>> local_pos;  // per sequence: t with t + 1 < length
  std::vector<std::vector<double>> coef;
  explicit PackedCase(int V) {
    const int lens[] = {9, kFlashBlockQ + 11, 17};
    for (int s = 0; s < 3; ++s) {
      seqs.push_back(testing::random_tokens(lens[s], V, 40 + uint64_t(s)));
      masks.emplace_back(size_t(lens[s]), 1.0);
      for (int t = 0; t < 2 + s; ++t) masks.back()[size_t(t)] = 0.0;
      local_pos.push_back({1 + s, 3, lens[s] - 2, lens[s] / 2, 3});  // 3 twice
      coef.emplace_back();
      for (size_t i = 0; i < local_pos.back().size(); ++i) coef.back().push_back(0.2 * double(i + 1 + s) * (i % 2 ? -1 : 1));
    }
  }
  int cu(int s) const {
    int n = 0;
    for (int k = 0; k < s; ++k) n += int(seqs[size_t(k)].size());
    return n;
  }
};
constexpr double kInvTemp = 1.25;

struct Scored {
  std::vector<double> logp, ent, grads, loads;
  double bal = 0, mtp = 0;
};
void run_packed(BasicModel<double>& m, const PackedCase& pc, Scored& out) {
  std::vector<int32_t> tok, pos;
  std::vector<double> mask, coef;
  std::vector<int> cu = {0};
  for (size_t s = 0; s < pc.seqs.size(); ++s) {
    for (int32_t t : pc.local_pos[s]) pos.push_back(cu.back() + t);
    coef.insert(coef.end(), pc.coef[s].begin(), pc.coef[s].end());
    tok.insert(tok.end(), pc.seqs[s].begin(), pc.seqs[s].end());
    mask.insert(mask.end(), pc.masks[s].begin(), pc.masks[s].end());
    cu.push_back(int(tok.size()));
  }
  m.zero_grad();
  m.reset_router_loads();
  m.forward_hidden_packed(tok.data(), cu.data(), int(pc.seqs.size()), mask.data());
  out.logp.resize(pos.size());
  out.ent.resize(pos.size());
  m.selected_logprobs(pos.data(), int(pos.size()), out.logp.data(), out.ent.data(), kInvTemp);
  m.backward_selected(coef.data(), 1.0);
  out.grads.assign(m.grads().begin(), m.grads().end());
  out.loads.assign(m.router_loads().begin(), m.router_loads().end());
  out.bal = m.last_balance_loss();
  out.mtp = m.last_mtp_loss();
}

// Packed == one by one (MTP off: its mean would be per sequence alone; the balance loss is a mean over rows, so each
// sequence alone carries aux_scale 1/3).
TEST(LongSequence, PackedBatchEqualsSequencesOneByOne) {
  ModelConfig c = testing::micro_config();
  c.seq_aux_alpha = 0.01;
  c.mtp_loss_weight = 0.0;
  const PackedCase pc(c.vocab_size);
  BasicModel<double> m(c);
  m.init_weights(21);
  testing::perturb(m, 22);
  Scored packed;
  run_packed(m, pc, packed);

  Scored one;
  m.zero_grad();
  m.reset_router_loads();
  const double S = double(pc.seqs.size());
  for (size_t s = 0; s < pc.seqs.size(); ++s) {
    const int T = int(pc.seqs[s].size());
    m.forward_hidden(pc.seqs[s].data(), 1, T, pc.masks[s].data());
    std::vector<double> lp(pc.local_pos[s].size()), en(lp.size());
    m.selected_logprobs(pc.local_pos[s].data(), int(lp.size()), lp.data(), en.data(), kInvTemp);
    m.backward_selected(pc.coef[s].data(), 1.0 / S);
    one.logp.insert(one.logp.end(), lp.begin(), lp.end());
    one.ent.insert(one.ent.end(), en.begin(), en.end());
    one.bal += m.last_balance_loss() / S;
  }
  one.grads.assign(m.grads().begin(), m.grads().end());
  one.loads.assign(m.router_loads().begin(), m.router_loads().end());

  EXPECT_LT(testing::rel_err(packed.logp.data(), one.logp.data(), one.logp.size()), 1e-10);
  EXPECT_LT(testing::rel_err(packed.ent.data(), one.ent.data(), one.ent.size()), 1e-10);
  EXPECT_GT(packed.bal, 0.0);
  EXPECT_NEAR(packed.bal, one.bal, 1e-10 * packed.bal);
  EXPECT_EQ(packed.loads, one.loads);
  EXPECT_LT(worst_tensor_err(m, packed.grads, one.grads), 1e-10);
}

// Packed == the padded (B, T) batch with MTP on (its targets stay inside each sequence; the mean is over the batch).
TEST(LongSequence, PackedBatchEqualsPaddedBatchWithMtp) {
  ModelConfig c = testing::micro_config();
  c.seq_aux_alpha = 0.01;
  ASSERT_GT(c.mtp_loss_weight, 0.0);
  const PackedCase pc(c.vocab_size);
  BasicModel<double> m(c);
  m.init_weights(23);
  testing::perturb(m, 24);
  Scored packed;
  run_packed(m, pc, packed);

  int T = 0;
  for (const auto& q : pc.seqs) T = std::max(T, int(q.size()));
  const int B = int(pc.seqs.size());
  std::vector<int32_t> tok(size_t(B) * T, 0), pos;
  std::vector<double> mask(size_t(B) * T, 0.0), coef;
  for (int b = 0; b < B; ++b) {
    std::copy(pc.seqs[size_t(b)].begin(), pc.seqs[size_t(b)].end(), tok.begin() + long(b) * T);
    std::copy(pc.masks[size_t(b)].begin(), pc.masks[size_t(b)].end(), mask.begin() + long(b) * T);
    for (int32_t t : pc.local_pos[size_t(b)]) pos.push_back(b * T + t);
    coef.insert(coef.end(), pc.coef[size_t(b)].begin(), pc.coef[size_t(b)].end());
  }
  m.zero_grad();
  m.reset_router_loads();
  m.forward_hidden(tok.data(), B, T, mask.data());
  std::vector<double> lp(pos.size()), en(pos.size());
  m.selected_logprobs(pos.data(), int(pos.size()), lp.data(), en.data(), kInvTemp);
  m.backward_selected(coef.data(), 1.0);
  const std::vector<double> g(m.grads().begin(), m.grads().end());
  const std::vector<double> loads(m.router_loads().begin(), m.router_loads().end());

  EXPECT_LT(testing::rel_err(packed.logp.data(), lp.data(), lp.size()), 1e-10);
  EXPECT_LT(testing::rel_err(packed.ent.data(), en.data(), en.size()), 1e-10);
  EXPECT_GT(packed.mtp, 0.0);
  EXPECT_NEAR(packed.mtp, m.last_mtp_loss(), 1e-10 * packed.mtp);
  EXPECT_NEAR(packed.bal, m.last_balance_loss(), 1e-10 * packed.bal);
  EXPECT_EQ(packed.loads, loads);
  EXPECT_LT(worst_tensor_err(m, packed.grads, g), 1e-10);
}

// The packed gradient (of sum_i c_i logp_i + the MTP and balance losses) along its own direction equals the central
// finite difference of that objective: d/de L(theta + e u) = |g| for u = g / |g|.
TEST(LongSequence, PackedGradientMatchesFiniteDifferences) {
  ModelConfig c = testing::micro_config();
  c.seq_aux_alpha = 0.01;
  const PackedCase pc(c.vocab_size);
  BasicModel<double> m(c);
  m.init_weights(25);
  testing::perturb(m, 26);
  m.set_routing_frozen(true);  // top-k selection is piecewise constant: keep the one of the gradient's forward
  Scored at0;
  run_packed(m, pc, at0);
  std::vector<double> coef;
  for (const auto& cs : pc.coef) coef.insert(coef.end(), cs.begin(), cs.end());
  auto objective = [&] {
    Scored o;
    run_packed(m, pc, o);
    double l = o.mtp + o.bal;
    for (size_t i = 0; i < coef.size(); ++i) l += coef[i] * o.logp[i];
    return l;
  };
  double norm = 0;
  for (const auto& t : m.tensors())
    if (t.trainable)
      for (size_t i = 0; i < t.size; ++i) norm += at0.grads[t.offset + i] * at0.grads[t.offset + i];
  norm = std::sqrt(norm);
  ASSERT_GT(norm, 1e-3);
  const std::vector<double> p0(m.params().begin(), m.params().end());
  auto at = [&](double e) {
    for (const auto& t : m.tensors())
      if (t.trainable)
        for (size_t i = t.offset; i < t.offset + t.size; ++i) m.params()[i] = p0[i] + e * at0.grads[i] / norm;
    return objective();
  };
  const double eps = 1e-5;
  const double fd = (at(eps) - at(-eps)) / (2 * eps);
  EXPECT_NEAR(fd, norm, 1e-6 * norm) << "finite difference " << fd << ", |gradient| " << norm;
}

TEST(LongSequence, PackedBatchBadInputIsAnError) {
  ModelConfig c = testing::micro_config();
  Model m(c);
  m.init_weights(1);
  const auto tok = testing::random_tokens(12, c.vocab_size, 5);
  const std::vector<int> cu = {0, 5, 12}, empty_seq = {0, 5, 5}, bad_start = {1, 12};
  std::vector<float> logp(1);
  EXPECT_THROW(m.forward_hidden_packed(tok.data(), empty_seq.data(), 2), CapacityError);
  EXPECT_THROW(m.forward_hidden_packed(tok.data(), bad_start.data(), 1), Error);
  m.forward_hidden_packed(tok.data(), cu.data(), 2);
  const std::vector<int32_t> last_of_first = {4}, ok = {3};
  EXPECT_THROW(m.selected_logprobs(last_of_first.data(), 1, logp.data()), Error);  // its next token is another sequence's
  m.selected_logprobs(ok.data(), 1, logp.data());
  EXPECT_TRUE(std::isfinite(logp[0]));
}

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

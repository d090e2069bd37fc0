// Tests for the DPO loss (hand-computed values, finite differences, symmetry) and DPO training on a toy preference set.
#include <gtest/gtest.h>

#include "tests/long2short/tiny_model.h"

#include <cmath>

#include "policy/logprob.h"
#include "rl/long2short/dpo.h"
#include "rl/long2short/dpo_loss.h"
#include "rl/util/error.h"
#include "rl/util/rng.h"

namespace reasonrl::long2short {
namespace {

PairLogps example() {
  PairLogps x;
  x.chosen = -5, x.ref_chosen = -6, x.rejected = -9, x.ref_rejected = -8;
  x.chosen_len = 4, x.rejected_len = 8;
  return x;
}

TEST(DpoLoss, HandComputedSigmoid) {
  // h = (-5 - -6) - (-9 - -8) = 2; beta h = 0.2; loss = log(1 + e^-0.2); dloss/dlogp_c = -beta sigmoid(-0.2)
  const PairLoss l = dpo_pair_loss({0.1, 0.0, DpoLossType::Sigmoid}, example());
  EXPECT_NEAR(l.h, 2.0, 1e-12);
  EXPECT_NEAR(l.margin, 0.2, 1e-12);
  EXPECT_NEAR(l.loss, 0.5981388693815918, 1e-12);
  EXPECT_NEAR(l.d_chosen, -0.04501660026875222, 1e-12);
  EXPECT_NEAR(l.d_rejected, 0.04501660026875222, 1e-12);
  EXPECT_NEAR(l.chosen_reward, 0.1, 1e-12);
  EXPECT_NEAR(l.rejected_reward, -0.1, 1e-12);
}

TEST(DpoLoss, HandComputedLabelSmoothing) {
  const PairLoss l = dpo_pair_loss({0.1, 0.1, DpoLossType::Sigmoid}, example());
  EXPECT_NEAR(l.loss, 0.6181388693815918, 1e-12);
  EXPECT_NEAR(l.d_chosen, -0.03501660026875222, 1e-12);
  EXPECT_NEAR(l.d_rejected, 0.03501660026875222, 1e-12);
}

TEST(DpoLoss, HandComputedSigmoidNorm) {
  // h = 1/4 - (-1)/8 = 0.375 with beta 1
  const PairLoss l = dpo_pair_loss({1.0, 0.0, DpoLossType::SigmoidNorm}, example());
  EXPECT_NEAR(l.h, 0.375, 1e-12);
  EXPECT_NEAR(l.loss, 0.52312326413984, 1e-12);
  EXPECT_NEAR(l.d_chosen, -0.10183335001148257, 1e-12);
  EXPECT_NEAR(l.d_rejected, 0.050916675005741284, 1e-12);
}

TEST(DpoLoss, GradientMatchesFiniteDifferences) {
  for (auto type : {DpoLossType::Sigmoid, DpoLossType::SigmoidNorm}) {
    for (double ls : {0.0, 0.2}) {
      const DpoLossParams p{0.7, ls, type};
      PairLogps x = example();
      const PairLoss l = dpo_pair_loss(p, x);
      const double e = 1e-6;
      PairLogps a = x, b = x;
      a.chosen += e, b.chosen -= e;
      EXPECT_NEAR(l.d_chosen, (dpo_pair_loss(p, a).loss - dpo_pair_loss(p, b).loss) / (2 * e), 1e-8);
      a = x, b = x;
      a.rejected += e, b.rejected -= e;
      EXPECT_NEAR(l.d_rejected, (dpo_pair_loss(p, a).loss - dpo_pair_loss(p, b).loss) / (2 * e), 1e-8);
    }
  }
}

TEST(DpoLoss, SwappingChosenAndRejectedFlipsTheMargin) {
  for (auto type : {DpoLossType::Sigmoid, DpoLossType::SigmoidNorm}) {
    const DpoLossParams p{0.3, 0.0, type};
    const PairLogps x = example();
    PairLogps y;
    y.chosen = x.rejected, y.ref_chosen = x.ref_rejected, y.chosen_len = x.rejected_len;
    y.rejected = x.chosen, y.ref_rejected = x.ref_chosen, y.rejected_len = x.chosen_len;
    const PairLoss a = dpo_pair_loss(p, x), b = dpo_pair_loss(p, y);
    EXPECT_GT(a.margin, 0);
    EXPECT_DOUBLE_EQ(b.margin, -a.margin);
    EXPECT_GT(b.loss, a.loss);  // the preferred order has the lower loss
    // the wrongly ordered pair gets the larger push: |dloss/dh| = |d_chosen| (times the length for sigmoid_norm)
    const bool norm = type == DpoLossType::SigmoidNorm;
    EXPECT_GT(std::fabs(b.d_chosen) * (norm ? y.chosen_len : 1), std::fabs(a.d_chosen) * (norm ? x.chosen_len : 1));
  }
}

TEST(DpoLoss, ExtremeMarginsStayFinite) {
  PairLogps x = example();
  x.chosen = 1e4;
  const PairLoss a = dpo_pair_loss({1.0, 0.0, DpoLossType::Sigmoid}, x);
  EXPECT_TRUE(std::isfinite(a.loss));
  EXPECT_NEAR(a.loss, 0.0, 1e-12);
  x.chosen = -1e4;
  const PairLoss b = dpo_pair_loss({1.0, 0.0, DpoLossType::Sigmoid}, x);
  EXPECT_TRUE(std::isfinite(b.loss));
  EXPECT_NEAR(b.d_chosen, -1.0, 1e-12);
}

// A very small random-init model; pairs are random token ids (prompt shared, distinct responses).
model::ModelConfig tiny_model() { return testing::tiny_model_config(32, /*mtp_depth=*/1); }

std::vector<TokenPair> toy_pairs(int n, uint64_t seed) {
  Rng rng(seed);
  std::vector<TokenPair> out;
  for (int i = 0; i < n; ++i) {
    TokenPair p;
    const int P = 3 + int(rng.below(4));
    for (int t = 0; t < P; ++t) p.prompt.push_back(int32_t(rng.below(20)));
    // chosen: short, from ids 20..29; rejected: longer, from ids 30..39
    const int C = 2 + int(rng.below(3)), R = 2 * C + int(rng.below(3));
    for (int t = 0; t < C; ++t) p.chosen.push_back(int32_t(20 + rng.below(10)));
    for (int t = 0; t < R; ++t) p.rejected.push_back(int32_t(30 + rng.below(10)));
    out.push_back(std::move(p));
  }
  return out;
}

TEST(DpoTrain, PairLogpsEqualPerTokenLogprobs) {
  model::Model m(tiny_model());
  m.init_weights(5);
  const auto pairs = toy_pairs(3, 9);
  const auto lp = pair_logps(m, pairs, 2);
  // Independent: one sequence at a time, double-precision per-token log-softmax.
  const int V = m.config().vocab_size;
  policy::SamplingParams sp;  // temperature 1, no truncation
  for (size_t i = 0; i < pairs.size(); ++i) {
    for (int side = 0; side < 2; ++side) {
      const auto& r = side == 0 ? pairs[i].chosen : pairs[i].rejected;
      std::vector<int32_t> seq = pairs[i].prompt;
      seq.insert(seq.end(), r.begin(), r.end());
      const int T = int(seq.size());
      std::vector<float> logits(size_t(T) * V);
      m.forward(seq.data(), 1, T, logits.data());
      double sum = 0;
      const int P = int(pairs[i].prompt.size());
      for (int j = 0; j < int(r.size()); ++j) sum += policy::token_logprob(&logits[size_t(P + j - 1) * V], V, sp, r[size_t(j)]);
      EXPECT_NEAR(lp[2 * i + size_t(side)], sum, 1e-3 * (1 + std::fabs(sum)));
    }
  }
}

TEST(DpoTrain, MarginGrowsOnToyPreferences) {
  model::Model m(tiny_model());
  m.init_weights(7);
  const auto pairs = toy_pairs(24, 11);
  DpoOptions o;
  o.beta = 0.5;
  o.steps = 25;
  o.batch_size = 8;
  o.micro_batch_size = 4;
  o.optim.learning_rate = 3e-3;
  o.optim.warmup_steps = 0;
  const DpoResult r = train_dpo(m, pairs, o);
  ASSERT_EQ(int(r.step_stats.size()), 25);
  EXPECT_NEAR(r.step_stats[0].margin, 0.0, 1e-4);  // the policy starts as the reference
  EXPECT_NEAR(r.step_stats[0].loss, std::log(2.0), 1e-4);
  double early = 0, late = 0;
  for (int s = 0; s < 3; ++s) early += r.step_stats[size_t(s)].margin, late += r.step_stats[size_t(22 + s)].margin;
  EXPECT_GT(late, early + 0.5) << "early " << early / 3 << " late " << late / 3;
  EXPECT_GT(r.final_stats.margin, 0.3);
  EXPECT_GT(r.final_stats.accuracy, 0.9);
  EXPECT_LT(r.final_stats.loss, std::log(2.0) - 0.1);
  EXPECT_EQ(r.pairs_used, 24);
}

TEST(DpoTrain, MicroBatchingDoesNotChangeTheUpdate) {
  const auto pairs = toy_pairs(8, 3);
  DpoOptions o;
  o.steps = 1;
  o.batch_size = 8;
  o.optim.max_grad_norm = 0;
  model::Model a(tiny_model()), b(tiny_model());
  a.init_weights(1);
  b.init_weights(1);
  o.micro_batch_size = 8;
  train_dpo(a, pairs, o);
  o.micro_batch_size = 3;
  train_dpo(b, pairs, o);
  double maxd = 0, maxp = 0;
  for (size_t i = 0; i < a.params().size(); ++i) {
    maxd = std::max(maxd, double(std::fabs(a.params()[i] - b.params()[i])));
    maxp = std::max(maxp, double(std::fabs(a.params()[i])));
  }
  EXPECT_LT(maxd, 1e-4 * maxp);
}

// RPO (rpo_alpha): the step's gradient is that of mean DPO + alpha * (-sum logp_c / sum len_c), checked by central
// differences of that loss, computed here from pair_logps, along random directions in parameter space (lr 0, so the
// gradient is left in the model). The loss reported at step 0 is log 2 + alpha * the chosen tokens' NLL.
TEST(DpoTrain, RpoGradientMatchesFiniteDifferencesOfTheLoss) {
  const auto pairs = toy_pairs(5, 8);
  DpoOptions o;
  o.beta = 0.5;
  o.rpo_alpha = 0.7;
  o.steps = 1;
  o.batch_size = 5;
  o.micro_batch_size = 2;
  o.optim.learning_rate = 0;
  o.optim.max_grad_norm = 0;
  o.optim.weight_decay = 0;
  model::Model m(tiny_model()), f(tiny_model());  // f: the same start, for the finite differences
  m.init_weights(3);
  f.init_weights(3);
  const auto ref = pair_logps(f, pairs, 2);
  int64_t n_chosen = 0;
  for (const auto& p : pairs) n_chosen += int64_t(p.chosen.size());
  auto loss = [&](const std::vector<double>& lp) {
    double dpo = 0, nll = 0;
    for (size_t i = 0; i < pairs.size(); ++i) {
      PairLogps x;
      x.chosen = lp[2 * i], x.rejected = lp[2 * i + 1], x.ref_chosen = ref[2 * i], x.ref_rejected = ref[2 * i + 1];
      dpo += dpo_pair_loss(o.loss_params(), x).loss;
      nll -= lp[2 * i];
    }
    return dpo / double(pairs.size()) + o.rpo_alpha * nll / double(n_chosen);
  };
  const DpoResult res = train_dpo(m, pairs, o);
  ASSERT_EQ(res.step_stats.size(), 1u);
  double nll0 = 0;
  for (size_t i = 0; i < pairs.size(); ++i) nll0 -= ref[2 * i];
  nll0 /= double(n_chosen);
  EXPECT_NEAR(res.step_stats[0].nll, nll0, 1e-4 * nll0);
  EXPECT_NEAR(res.step_stats[0].loss, std::log(2.0) + o.rpo_alpha * nll0, 1e-4);
  // Along u = g / |g| the derivative is |g|; along a random unit direction r it is g . r (as ResponseLogprob's test).
  const std::vector<float> g(m.grads().begin(), m.grads().end());
  double norm = 0;
  for (float x : g) norm += double(x) * x;
  norm = std::sqrt(norm);
  ASSERT_GT(norm, 1e-3);
  Rng rng(17);
  std::vector<double> r(g.size());
  double rn = 0;
  for (double& x : r) x = rng.normal(), rn += x * x;
  for (double& x : r) x /= std::sqrt(rn);
  const std::vector<float> p0(f.params().begin(), f.params().end());
  for (int dir = 0; dir < 2; ++dir) {
    auto u = [&](size_t i) { return dir == 0 ? double(g[i]) / norm : r[i]; };
    double expect = 0;
    for (size_t i = 0; i < g.size(); ++i) expect += double(g[i]) * u(i);
    auto at = [&](double e) {
      for (size_t i = 0; i < p0.size(); ++i) f.params()[i] = float(p0[i] + e * u(i));
      return loss(pair_logps(f, pairs, 2));
    };
    const double eps = 1e-2, fd = (at(eps) - at(-eps)) / (2 * eps);
    EXPECT_NEAR(fd, expect, 2e-3 * norm) << (dir == 0 ? "along the gradient" : "along a random direction");
  }
}

// Packed (no padding, only response positions through the fused head) gives the same update as the full path.
TEST(DpoTrain, PackedKernelGivesTheFullPathUpdate) {
  const auto pairs = toy_pairs(6, 4);
  DpoOptions o;
  o.steps = 2;
  o.batch_size = 6;
  o.micro_batch_size = 4;
  o.optim.max_grad_norm = 0;
  model::Model a(tiny_model()), b(tiny_model());
  a.init_weights(2);
  b.init_weights(2);
  o.train_kernel = train::TrainKernel::Full;
  const DpoResult ra = train_dpo(a, pairs, o);
  o.train_kernel = train::TrainKernel::Packed;
  const DpoResult rb = train_dpo(b, pairs, o);
  EXPECT_NEAR(rb.final_stats.loss, ra.final_stats.loss, 1e-5);
  EXPECT_NEAR(rb.final_stats.margin, ra.final_stats.margin, 1e-4);
  double maxd = 0, maxp = 0;
  for (size_t i = 0; i < a.params().size(); ++i) {
    maxd = std::max(maxd, double(std::fabs(a.params()[i] - b.params()[i])));
    maxp = std::max(maxp, double(std::fabs(a.params()[i])));
  }
  EXPECT_LT(maxd, 1e-4 * maxp);
}

// A pair longer than the model's context is an error naming it (file:line) and its lengths, not a silent skip.
TEST(DpoTrain, PairLongerThanTheContextIsAnError) {
  auto pairs = toy_pairs(3, 5);
  model::Model m(tiny_model());
  m.init_weights(3);
  const int ctx = m.config().max_position_embeddings;
  pairs[1].rejected.assign(size_t(ctx), 31);
  pairs[1].source = "prefs.jsonl:2";
  DpoOptions o;
  o.steps = 1;
  try {
    train_dpo(m, pairs, o);
    FAIL() << "no error";
  } catch (const CapacityError& e) {
    const std::string want = "prefs.jsonl:2: the pair has " + std::to_string(pairs[1].prompt.size()) + " prompt + " +
                             std::to_string(pairs[1].chosen.size()) + " chosen / " + std::to_string(ctx) +
                             " rejected tokens: " + std::to_string(pairs[1].prompt.size() + size_t(ctx)) +
                             " tokens, more than the model's context (max_position_embeddings " + std::to_string(ctx) + ")";
    EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
  }
}

TEST(DpoJsonl, ReadsTrlLayoutAndNamesBadLines) {
  const std::string path = std::string(REASONRL_BINARY_DIR) + "/l2s_pref_test.jsonl";
  write_preference_jsonl(path, {{"1+1", "<answer>2</answer>", "<think>long</think><answer>3</answer>", ""}},
                         {json{{"chosen_tokens", 3}}});
  const auto p = load_preference_jsonl(path);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].prompt, "1+1");
  EXPECT_EQ(p[0].rejected, "<think>long</think><answer>3</answer>");
  EXPECT_EQ(p[0].source, path + ":1");  // for errors about the pair
  write_file_atomic(path, "{\"prompt\":\"a\",\"chosen\":\"b\",\"rejected\":\"c\"}\n{\"prompt\":\"a\",\"chosen\":\"b\"}\n");
  try {
    load_preference_jsonl(path);
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(":2: missing key 'rejected'"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace reasonrl::long2short

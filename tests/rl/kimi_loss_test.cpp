// Tests for the Kimi k1.5 loss: a hand-computed example, the paper's squared surrogate, finite differences,
// policy == reference, and the iteration schedule (reference = iteration start, optimizer reset).
#include "rl/core/kimi_loss.h"

#include <gtest/gtest.h>

#include <cmath>

#include "rl/core/advantages.h"
#include "rl/core/policy_loss.h"
#include "rl_test_batch.h"

namespace reasonrl::rl {
namespace {

using testing::Batch;
using testing::random_batch;

TEST(KimiLoss, HandComputedExample) {
  // One problem, k = 2 responses, rewards r = [1, 0] -> r_bar = 0.5, A = r - r_bar = [0.5, -0.5]. tau = 0.1.
  // Response 1: logp = [-1.0, -0.5], iteration-start (reference) logp = [-1.2, -0.4]
  //   S_1 = -1.5, S_ref_1 = -1.6, S_1 - S_ref_1 = 0.1
  //   l_1 = -0.5 * (-1.5) + 0.05 * 0.1^2 = 0.75 + 0.0005 = 0.7505
  //   d l_1 / d logp_t = -0.5 + 0.1 * 0.1 = -0.49 for both tokens
  // Response 2: logp = [-2.0], reference [-2.0]: S_2 - S_ref_2 = 0
  //   l_2 = 0.5 * (-2.0) + 0 = -1.0;  d l_2 / d logp = +0.5
  // N_seq = 2: loss = (0.7505 - 1.0) / 2 = -0.12475; gradients [-0.245, -0.245, 0.25].
  RlConfig c;
  c.algorithm = Algorithm::Kimi;
  c.kimi_tau = 0.1;
  const std::vector<double> rewards = {1.0, 0.0};
  const auto adv = compute_advantages(c, rewards, std::vector<int>{2});
  ASSERT_DOUBLE_EQ(adv[0], 0.5);
  ASSERT_DOUBLE_EQ(adv[1], -0.5);
  Batch b;
  b.add_sequence({-1.0f, -0.5f}, {-1.2f, -0.4f}, {-1.2f, -0.4f}, {-1.2f, -0.4f}, {1, 1}, static_cast<float>(adv[0]));
  b.add_sequence({-2.0f}, {-2.0f}, {-2.0f}, {-2.0f}, {1}, static_cast<float>(adv[1]));
  const LossNormalizer norm = make_loss_normalizer(c, count_tokens(b.mask, b.offsets));
  std::vector<float> g(3);
  LossStats st;
  const double loss = compute_loss(c, b.inputs(), norm, g, &st);  // dispatches to kimi_loss
  EXPECT_NEAR(loss, -0.12475, 1e-6);
  EXPECT_NEAR(g[0], -0.245, 1e-6);
  EXPECT_NEAR(g[1], -0.245, 1e-6);
  EXPECT_NEAR(g[2], 0.25, 1e-6);
  EXPECT_EQ(st.sequences, 2);
  EXPECT_EQ(st.clip_frac(), 0.0);
}

TEST(KimiLoss, GradientIsOneOverTwoTauTimesThePaperSurrogateGradient) {
  // Paper Eq. 2: L_j = (r_j - r_bar - tau * (S_j - S_ref_j))^2 with tau log Z := r_bar; Eq. 3 is -1/(2 tau) grad L.
  // Our loss descends along +1/(2 tau) grad L: d loss / d logp_t = (1 / N_seq) * (1/(2 tau)) * dL_j/dS_j.
  // dL_j/dS_j is taken by finite differences of L_j, computed here independently of the library.
  Rng rng(17);
  Batch b = random_batch(rng, 5, 6, 0.2);
  RlConfig c;
  c.algorithm = Algorithm::Kimi;
  c.kimi_tau = 0.25;
  const LossNormalizer norm = make_loss_normalizer(c, count_tokens(b.mask, b.offsets));
  std::vector<float> g(b.n_tok());
  kimi_loss(c, b.inputs(), norm, g);
  for (int64_t s = 0; s < b.n_seq(); ++s) {
    double S = 0, Sref = 0;
    for (int64_t t = b.offsets[s]; t < b.offsets[s + 1]; ++t)
      if (b.mask[t]) { S += b.logp[t]; Sref += b.old_logp[t]; }
    const double A = b.seq_adv[s], tau = c.kimi_tau, h = 1e-6;
    auto L = [&](double x) { const double e = A - tau * (x - Sref); return e * e; };
    const double dL = (L(S + h) - L(S - h)) / (2 * h);
    const double want = dL / (2 * tau) / norm.sequences;
    for (int64_t t = b.offsets[s]; t < b.offsets[s + 1]; ++t)
      EXPECT_NEAR(g[t], b.mask[t] ? want : 0.0, 1e-6 * (1 + std::abs(want))) << "seq " << s << " token " << t;
  }
}

TEST(KimiLoss, GradientMatchesFiniteDifferences) {
  Rng rng(23);
  for (double beta : {0.0, 0.2}) {
    Batch b = random_batch(rng, 6, 7, 0.3);
    RlConfig c;
    c.algorithm = Algorithm::Kimi;
    c.kimi_tau = 0.5;
    c.beta = beta;
    const LossNormalizer norm = make_loss_normalizer(c, count_tokens(b.mask, b.offsets));
    std::vector<float> g(b.n_tok()), scratch(b.n_tok());
    kimi_loss(c, b.inputs(), norm, g);
    Batch p = b;
    for (int64_t t = 0; t < b.n_tok(); ++t) {
      const float x = b.logp[t], xp = x + 1e-3f, xm = x - 1e-3f;
      p.logp[t] = xp;
      const double lp = kimi_loss(c, p.inputs(), norm, scratch);
      p.logp[t] = xm;
      const double lm = kimi_loss(c, p.inputs(), norm, scratch);
      p.logp[t] = x;
      const double fd = (lp - lm) / (static_cast<double>(xp) - static_cast<double>(xm));
      EXPECT_NEAR(g[t], fd, 2e-4 * std::abs(fd) + 1e-7) << "beta " << beta << " token " << t;
    }
  }
}

TEST(KimiLoss, AtTheIterationStartOnlyTheBaselineTermPulls) {
  // logp == iteration-start logp: the tau term has zero gradient, so d loss / d logp_t = -A_j / N_seq.
  Rng rng(29);
  Batch b = random_batch(rng, 5, 6, 0.0);
  RlConfig c;
  c.algorithm = Algorithm::Kimi;
  c.kimi_tau = 2.0;
  const LossNormalizer norm = make_loss_normalizer(c, count_tokens(b.mask, b.offsets));
  std::vector<float> g(b.n_tok());
  LossStats st;
  kimi_loss(c, b.inputs(), norm, g, &st);
  EXPECT_DOUBLE_EQ(st.ratio_mean(), 1.0);
  EXPECT_EQ(st.approx_kl_old(), 0.0);
  for (int64_t s = 0; s < b.n_seq(); ++s)
    for (int64_t t = b.offsets[s]; t < b.offsets[s + 1]; ++t)
      EXPECT_NEAR(g[t], b.mask[t] ? -b.seq_adv[s] / 5.0 : 0.0, 1e-7);
}

TEST(KimiLoss, NeedsSequenceAdvantages) {
  Batch b;
  b.add_sequence({-1}, {-1}, {-1}, {-1}, {1}, 1.0f);
  RlConfig c;
  c.algorithm = Algorithm::Kimi;
  TokenInputs in = b.inputs();
  const std::vector<float> adv = {1.0f};
  in.seq_advantages = {};
  in.advantages = adv;
  std::vector<float> g(1);
  EXPECT_THROW(kimi_loss(c, in, make_loss_normalizer(c, count_tokens(b.mask, b.offsets)), g), FormatError);
}

TEST(KimiLoss, IterationSchedule) {
  RlConfig k;
  k.algorithm = Algorithm::Kimi;
  EXPECT_FALSE(reset_optimizer_now(k, 0));
  EXPECT_TRUE(reset_optimizer_now(k, 1));
  EXPECT_TRUE(reset_optimizer_now(k, 7));
  k.kimi_reset_optimizer = false;
  EXPECT_FALSE(reset_optimizer_now(k, 7));
  RlConfig g;  // GRPO never resets; the reference is refreshed every ref_update_every steps
  EXPECT_FALSE(reset_optimizer_now(g, 3));
  EXPECT_FALSE(refresh_reference_now(g, 400));
  g.ref_update_every = 400;
  EXPECT_FALSE(refresh_reference_now(g, 0));
  EXPECT_FALSE(refresh_reference_now(g, 399));
  EXPECT_TRUE(refresh_reference_now(g, 400));
  EXPECT_TRUE(refresh_reference_now(g, 800));
}

}  // namespace
}  // namespace reasonrl::rl

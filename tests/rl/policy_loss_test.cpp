// Tests for the GRPO-family token loss: gradients against finite differences, policy == reference, clip-higher,
// dual clip, truncated importance correction, KL estimators, shape and NaN errors.
#include "rl/core/policy_loss.h"

#include <gtest/gtest.h>

#include <cmath>

#include "rl/core/kl.h"
#include "rl_test_batch.h"

namespace reasonrl::rl {
namespace {

using testing::Batch;
using testing::random_batch;

// One token, one sequence: returns {loss, dloss/dlogp} under token_mean (weight 1).
std::pair<double, double> one_token(const RlConfig& c, double ratio, double A, double ref_ratio = 1.0, double roll_ratio = 1.0) {
  Batch b;
  const float old = -1.0f;
  const float lp = static_cast<float>(old + std::log(ratio));
  b.add_sequence({lp}, {old}, {static_cast<float>(lp - std::log(ref_ratio))}, {static_cast<float>(old - std::log(roll_ratio))}, {1.0f},
                 static_cast<float>(A));
  const LossNormalizer norm = make_loss_normalizer(c, count_tokens(b.mask, b.offsets));
  std::vector<float> g(1);
  const double l = policy_loss(c, b.inputs(), norm, g);
  return {l, g[0]};
}

TEST(PolicyLoss, KlEstimatorValuesAndGradients) {
  // d = logp - ref = 0.5: k1 = 0.5, k2 = 0.125, k3 = exp(-0.5) + 0.5 - 1 = 0.106530660.
  EXPECT_NEAR(kl_value(KlEstimator::K1, -1.0, -1.5), 0.5, 1e-15);
  EXPECT_NEAR(kl_value(KlEstimator::K2, -1.0, -1.5), 0.125, 1e-15);
  EXPECT_NEAR(kl_value(KlEstimator::K3, -1.0, -1.5), 0.10653066, 1e-8);
  // DeepSeekMath A.1.6: d k3 / d logp = 1 - pi_ref / pi_theta = 1 - exp(-0.5) = 0.393469340.
  EXPECT_NEAR(kl_grad(KlEstimator::K3, -1.0, -1.5), 0.39346934, 1e-8);
  EXPECT_NEAR(kl_grad(KlEstimator::K2, -1.0, -1.5), 0.5, 1e-15);
  EXPECT_NEAR(kl_grad(KlEstimator::K1, -1.0, -1.5), 1.0, 1e-15);
  for (auto e : {KlEstimator::K1, KlEstimator::K2, KlEstimator::K3}) {
    for (double d : {-3.0, -0.7, 0.0, 0.2, 2.5}) {
      const double h = 1e-6, lp = -2.0 + d, ref = -2.0;
      const double fd = (kl_value(e, lp + h, ref) - kl_value(e, lp - h, ref)) / (2 * h);
      EXPECT_NEAR(kl_grad(e, lp, ref), fd, 1e-7) << enum_to_string(e) << " d=" << d;
    }
    EXPECT_EQ(kl_value(e, -1.3, -1.3), 0.0);
  }
  EXPECT_GE(kl_value(KlEstimator::K3, -5.0, -1.0), 0.0);
}

// Finite differences of the summed step loss w.r.t. every logp, in double on the float inputs actually used.
void check_against_finite_differences(const RlConfig& c, const Batch& b, const char* what) {
  const LossNormalizer norm = make_loss_normalizer(c, count_tokens(b.mask, b.offsets));
  std::vector<float> g(b.n_tok());
  compute_loss(c, b.inputs(), norm, g);
  Batch p = b;
  int checked = 0;
  for (int64_t t = 0; t < b.n_tok(); ++t) {
    const float x = b.logp[t];
    const float xp = x + 1e-3f, xm = x - 1e-3f;
    const double h2 = static_cast<double>(xp) - static_cast<double>(xm);
    std::vector<float> scratch(b.n_tok());
    p.logp[t] = xp;
    const double lp = compute_loss(c, p.inputs(), norm, scratch);
    p.logp[t] = xm;
    const double lm = compute_loss(c, p.inputs(), norm, scratch);
    p.logp[t] = x;
    const double fd = (lp - lm) / h2;
    EXPECT_NEAR(g[t], fd, 2e-4 * std::abs(fd) + 1e-7) << what << " token " << t;
    checked += g[t] != 0;
  }
  EXPECT_GT(checked, b.n_tok() / 4) << what << ": too few non-zero gradients to mean anything";
}

// Moves old_logp so that no token sits within `margin` (in log space) of a kink of the clipped objective.
Batch away_from_kinks(Batch b, const RlConfig& c) {
  const double margin = 5e-3;
  std::vector<double> kinks = {std::log(1 - c.epsilon), std::log(1 + c.epsilon_high)};
  if (c.delta > 0) kinks.push_back(std::log(c.delta));
  for (int64_t t = 0; t < b.n_tok(); ++t) {
    for (int it = 0; it < 4; ++it)
      for (double k : kinks)
        if (std::abs((b.logp[t] - b.old_logp[t]) - k) < margin) b.old_logp[t] -= static_cast<float>(3 * margin);
  }
  return b;
}

TEST(PolicyLoss, GradientMatchesFiniteDifferencesForEveryLossTypeAndTerm) {
  Rng rng(2024);
  for (auto lt : {LossType::TokenMean, LossType::SeqMeanTokenMean, LossType::SeqMeanTokenSum, LossType::DrGrpo}) {
    for (int variant = 0; variant < 5; ++variant) {
      RlConfig c;
      c.loss_type = lt;
      c.max_completion_length = 16;
      c.epsilon_high = 0.28;
      std::string what = std::string(enum_to_string(lt)) + " variant " + std::to_string(variant);
      if (variant == 1) { c.delta = 3.0; }
      if (variant == 2) { c.beta = 0.3; c.kl_estimator = KlEstimator::K3; }
      if (variant == 3) { c.beta = 0.2; c.kl_estimator = KlEstimator::K2; c.tis_cap = 1.5; }
      if (variant == 4) { c.beta = 0.1; c.kl_estimator = KlEstimator::K1; c.delta = 2.0; c.tis_cap = 2.0; }
      const Batch b = away_from_kinks(random_batch(rng, 7, 9, 0.6), c);
      check_against_finite_differences(c, b, what.c_str());
    }
  }
}

TEST(PolicyLoss, PolicyEqualsReferenceGivesRatioOneKlZeroAndGradientMinusAOverN) {
  Rng rng(5);
  Batch b = random_batch(rng, 6, 8, 0.0);  // spread 0: old == ref == rollout == logp
  for (int64_t t = 0; t < b.n_tok(); ++t) ASSERT_EQ(b.logp[t], b.ref_logp[t]);
  const BatchCounts cnt = count_tokens(b.mask, b.offsets);
  for (auto e : {KlEstimator::K1, KlEstimator::K2, KlEstimator::K3}) {
    RlConfig c;
    c.beta = 0.04;
    c.kl_estimator = e;
    c.tis_cap = 2.0;
    c.delta = 3.0;
    const LossNormalizer norm = make_loss_normalizer(c, cnt);
    LossStats st;
    std::vector<float> g(b.n_tok());
    policy_loss(c, b.inputs(), norm, g, &st);
    EXPECT_DOUBLE_EQ(st.ratio_mean(), 1.0);
    EXPECT_DOUBLE_EQ(st.ratio_max, 1.0);
    EXPECT_EQ(st.kl_ref(), 0.0);
    EXPECT_EQ(st.approx_kl_old(), 0.0);
    EXPECT_EQ(st.clip_frac(), 0.0);
    EXPECT_DOUBLE_EQ(st.tis_weight_mean(), 1.0);
    // k2 and k3 have zero gradient at d = 0; k1 = d has gradient 1 everywhere (why k1 is a reward-side estimator).
    const double kl_g = e == KlEstimator::K1 ? c.beta : 0.0;
    for (int64_t s = 0; s < b.n_seq(); ++s)
      for (int64_t t = b.offsets[s]; t < b.offsets[s + 1]; ++t) {
        const double want = b.mask[t] ? (-b.seq_adv[s] + kl_g) / cnt.tokens : 0.0;
        EXPECT_NEAR(g[t], want, 1e-7) << enum_to_string(e) << " token " << t;
      }
  }
}

TEST(PolicyLoss, LossIsZeroAtRatioOneWithCentredAdvantagesButGradientIsNot) {
  // TRL #2703: with num_iterations = 1 and beta = 0 the loss reads 0 while the gradient is not 0.
  Batch b;
  b.add_sequence({-1, -2, -1.5}, {-1, -2, -1.5}, {-1, -2, -1.5}, {-1, -2, -1.5}, {1, 1, 1}, 0.5f);
  b.add_sequence({-0.3, -0.7}, {-0.3, -0.7}, {-0.3, -0.7}, {-0.3, -0.7}, {1, 1}, -0.5f);
  RlConfig c;
  c.loss_type = LossType::SeqMeanTokenMean;
  const LossNormalizer norm = make_loss_normalizer(c, count_tokens(b.mask, b.offsets));
  std::vector<float> g(5);
  EXPECT_NEAR(policy_loss(c, b.inputs(), norm, g), 0.0, 1e-15);
  EXPECT_NEAR(g[0], -0.5 / (2 * 3), 1e-7);
  EXPECT_NEAR(g[4], 0.5 / (2 * 2), 1e-7);
}

TEST(PolicyLoss, ClipHigherIsAsymmetric) {
  RlConfig sym;  // epsilon = epsilon_high = 0.2
  RlConfig dapo;
  dapo.epsilon_high = 0.28;
  // A > 0, ratio 1.25: inside [0.8, 1.28] for DAPO (gradient -A * ratio), clipped for the symmetric 0.2.
  EXPECT_NEAR(one_token(dapo, 1.25, 1.0).second, -1.25, 1e-6);
  EXPECT_EQ(one_token(sym, 1.25, 1.0).second, 0.0);
  EXPECT_NEAR(one_token(sym, 1.25, 1.0).first, -1.2, 1e-6);
  // A > 0, ratio 1.3: clipped for both, at their own bound.
  EXPECT_EQ(one_token(dapo, 1.3, 1.0).second, 0.0);
  EXPECT_NEAR(one_token(dapo, 1.3, 1.0).first, -1.28, 1e-6);
  // A < 0, ratio 0.75: the lower bound is 0.8 for both: clipped, gradient 0.
  EXPECT_EQ(one_token(dapo, 0.75, -1.0).second, 0.0);
  EXPECT_EQ(one_token(sym, 0.75, -1.0).second, 0.0);
  EXPECT_NEAR(one_token(dapo, 0.75, -1.0).first, 0.8, 1e-6);
  // A < 0, ratio 1.25: pessimistic branch is the unclipped one (loss 1.25), gradient -A * ratio = 1.25.
  EXPECT_NEAR(one_token(dapo, 1.25, -1.0).second, 1.25, 1e-6);
  // A > 0, ratio 0.75: unclipped branch, gradient -0.75.
  EXPECT_NEAR(one_token(dapo, 0.75, 1.0).second, -0.75, 1e-6);
  // The clip counters split low/high.
  Batch b;
  b.add_sequence({static_cast<float>(std::log(1.3)), static_cast<float>(std::log(0.7)), static_cast<float>(std::log(1.1))},
                 {0, 0, 0}, {0, 0, 0}, {0, 0, 0}, {1, 1, 1}, 0.0f);
  const std::vector<float> adv = {1.0f, -1.0f, 1.0f};
  TokenInputs in = b.inputs();
  in.seq_advantages = {};
  in.advantages = adv;
  LossStats st;
  std::vector<float> g(3);
  policy_loss(dapo, in, make_loss_normalizer(dapo, count_tokens(b.mask, b.offsets)), g, &st);
  EXPECT_EQ(st.clip_high, 1.0);
  EXPECT_EQ(st.clip_low, 1.0);
  EXPECT_NEAR(st.clip_frac_high(), 1.0 / 3.0, 1e-12);
}

TEST(PolicyLoss, DualClipEngagesOnlyForNegativeAdvantages) {
  RlConfig off;
  RlConfig dual;
  dual.delta = 3.0;
  // A < 0, ratio 4 > delta: the loss is capped at delta * |A| = 3 and its gradient is 0; without it 4 and -A * 4.
  EXPECT_NEAR(one_token(dual, 4.0, -1.0).first, 3.0, 1e-6);
  EXPECT_EQ(one_token(dual, 4.0, -1.0).second, 0.0);
  EXPECT_NEAR(one_token(off, 4.0, -1.0).first, 4.0, 1e-5);
  EXPECT_NEAR(one_token(off, 4.0, -1.0).second, 4.0, 1e-5);
  // A < 0, ratio 2 < delta: identical with and without.
  EXPECT_EQ(one_token(dual, 2.0, -1.0), one_token(off, 2.0, -1.0));
  // A > 0, ratio 4: identical with and without (the ordinary upper clip already applies).
  EXPECT_EQ(one_token(dual, 4.0, 1.0), one_token(off, 4.0, 1.0));
  EXPECT_EQ(one_token(dual, 4.0, 1.0).second, 0.0);
}

TEST(PolicyLoss, TruncatedImportanceWeightScalesThePolicyGradientTerm) {
  RlConfig c;
  c.tis_cap = 2.0;
  // ratio 1 (inside the clip), A = 1; pi_old / pi_rollout = 1.5 -> weight 1.5: loss -1.5, gradient -1.5.
  auto r = one_token(c, 1.0, 1.0, 1.0, 1.5);
  EXPECT_NEAR(r.first, -1.5, 1e-6);
  EXPECT_NEAR(r.second, -1.5, 1e-6);
  // pi_old / pi_rollout = 5 -> truncated at 2.
  r = one_token(c, 1.0, 1.0, 1.0, 5.0);
  EXPECT_NEAR(r.first, -2.0, 1e-6);
  EXPECT_NEAR(r.second, -2.0, 1e-6);
  // The KL term is not reweighted: beta = 0.5, k2 with pi_theta / pi_ref = e (d = 1): kl = 0.5, gradient 1.
  c.beta = 0.5;
  c.kl_estimator = KlEstimator::K2;
  r = one_token(c, 1.0, 1.0, std::exp(1.0), 5.0);
  EXPECT_NEAR(r.first, -2.0 + 0.5 * 0.5, 1e-6);
  EXPECT_NEAR(r.second, -2.0 + 0.5 * 1.0, 1e-6);
}

TEST(PolicyLoss, MissingOrMisshapenInputsAreFormatErrors) {
  Rng rng(1);
  Batch b = random_batch(rng, 3, 4, 0.1);
  RlConfig c;
  const LossNormalizer norm = make_loss_normalizer(c, count_tokens(b.mask, b.offsets));
  std::vector<float> g(b.n_tok());
  TokenInputs in = b.inputs();
  in.mask = std::span<const float>(b.mask).first(b.mask.size() - 1);
  EXPECT_THROW(policy_loss(c, in, norm, g), FormatError);
  c.beta = 0.1;  // KL in the loss needs the reference
  EXPECT_THROW(policy_loss(c, b.inputs(false, true), norm, g), FormatError);
  c.beta = 0;
  c.tis_cap = 2;  // TIS needs the rollout log-probs
  EXPECT_THROW(policy_loss(c, b.inputs(true, false), norm, g), FormatError);
  c.tis_cap = 0;
  in = b.inputs();
  const std::vector<float> adv(b.n_tok(), 1.0f);
  in.advantages = adv;  // both advantages and seq_advantages
  EXPECT_THROW(policy_loss(c, in, norm, g), FormatError);
  std::vector<float> short_g(b.n_tok() - 1);
  EXPECT_THROW(policy_loss(c, b.inputs(), norm, short_g), FormatError);
  Batch m = b;
  m.mask[0] = 0.5f;  // masks are 0/1
  EXPECT_THROW(policy_loss(c, m.inputs(), norm, g), FormatError);
}

TEST(PolicyLoss, NanIsANumericErrorNamingTheToken) {
  Batch b;
  b.add_sequence({-1, NAN}, {-1, -1}, {-1, -1}, {-1, -1}, {1, 1}, 1.0f);
  RlConfig c;
  std::vector<float> g(2);
  try {
    policy_loss(c, b.inputs(), make_loss_normalizer(c, count_tokens(b.mask, b.offsets)), g);
    FAIL() << "no error";
  } catch (const NumericError& e) {
    EXPECT_NE(std::string(e.what()).find("token 1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace reasonrl::rl

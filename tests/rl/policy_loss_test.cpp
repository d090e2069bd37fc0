// Tests for the GRPO-family token loss: gradients against finite differences, policy == reference, clip-higher,
// dual clip, truncated importance correction, KL estimators, GSPO's sequence ratio, CISPO, shape and NaN errors.
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
    for (int variant = 0; variant < 6; ++variant) {
      RlConfig c;
      c.loss_type = lt;
      c.max_completion_length = 16;
      c.epsilon_high = 0.28;
      std::string what = std::string(enum_to_string(lt)) + " variant " + std::to_string(variant);
      if (variant == 1) { c.delta = 3.0; }
      if (variant == 2) { c.beta = 0.3; c.kl_estimator = KlEstimator::K3; }
      if (variant == 3) { c.beta = 0.2; c.kl_estimator = KlEstimator::K2; c.tis_cap = 1.5; }
      if (variant == 4) { c.beta = 0.1; c.kl_estimator = KlEstimator::K1; c.delta = 2.0; c.tis_cap = 2.0; }
      if (variant == 5) { c.tis_cap = 1.5; c.rollout_is = RolloutIsLevel::Sequence; c.beta = 0.2; }  // sequence TIS
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

TEST(PolicyLoss, SequenceLevelTisUsesTheProductOfTheResponsesRatiosForEveryToken) {
  RlConfig c;
  c.tis_cap = 2.0;
  c.rollout_is = RolloutIsLevel::Sequence;
  // Two tokens at ratio 1 (policy == old), A = 1, token_mean (weight 1/2); pi_old/pi_rollout = 1.2 and 1.5: the
  // sequence weight is 1.8 (token level would give 1.2 and 1.5), so each token's gradient is -1.8 / 2.
  Batch b;
  b.add_sequence({-1.0f, -2.0f}, {-1.0f, -2.0f}, {-1.0f, -2.0f},
                 {float(-1.0 - std::log(1.2)), float(-2.0 - std::log(1.5))}, {1.0f, 1.0f}, 1.0f);
  std::vector<float> g(2);
  LossStats st;
  double l = policy_loss(c, b.inputs(), make_loss_normalizer(c, count_tokens(b.mask, b.offsets)), g, &st);
  EXPECT_NEAR(l, -1.8, 1e-6);
  EXPECT_NEAR(g[0], -0.9, 1e-6);
  EXPECT_NEAR(g[1], -0.9, 1e-6);
  EXPECT_EQ(st.tis_truncated, 0.0);
  // A third token at 1.5 makes the product 2.7: truncated at 2 for all three tokens.
  Batch one;
  one.add_sequence({-1.0f, -2.0f, -3.0f}, {-1.0f, -2.0f, -3.0f}, {-1.0f, -2.0f, -3.0f},
                   {float(-1.0 - std::log(1.2)), float(-2.0 - std::log(1.5)), float(-3.0 - std::log(1.5))},
                   {1.0f, 1.0f, 1.0f}, 1.0f);
  g.assign(3, 0.0f);
  st = {};
  l = policy_loss(c, one.inputs(), make_loss_normalizer(c, count_tokens(one.mask, one.offsets)), g, &st);
  EXPECT_NEAR(l, -2.0, 1e-6);
  for (float x : g) EXPECT_NEAR(x, -2.0 / 3, 1e-6);
  EXPECT_EQ(st.tis_truncated, 3.0);
  EXPECT_NEAR(st.tis_truncated_frac(), 1.0, 0);
  // A masked token does not enter the product: mask the 1.5 token out -> 1.2 * 1.5 = 1.8 again on the other two.
  one.mask[2] = 0.0f;
  g.assign(3, 0.0f);
  l = policy_loss(c, one.inputs(), make_loss_normalizer(c, count_tokens(one.mask, one.offsets)), g);
  EXPECT_NEAR(l, -1.8, 1e-6);
  EXPECT_EQ(g[2], 0.0f);
}

// Moves old_logp of whole sequences so that no sequence's mean log-ratio (GSPO) sits within `margin` of a kink.
Batch seq_away_from_kinks(Batch b, const RlConfig& c) {
  const double margin = 5e-3;
  const double kinks[] = {std::log(1 - c.epsilon), std::log(1 + c.epsilon_high), c.delta > 0 ? std::log(c.delta) : 1e9};
  for (int64_t s = 0; s < b.n_seq(); ++s) {
    for (int it = 0; it < 4; ++it) {
      double sum = 0, n = 0;
      for (int64_t t = b.offsets[s]; t < b.offsets[s + 1]; ++t)
        if (b.mask[t] != 0) sum += double(b.logp[t]) - b.old_logp[t], n += 1;
      if (n == 0) continue;
      for (double k : kinks)
        if (std::abs(sum / n - k) < margin)
          for (int64_t t = b.offsets[s]; t < b.offsets[s + 1]; ++t) b.old_logp[t] -= static_cast<float>(3 * margin);
    }
  }
  return b;
}

TEST(PolicyLoss, GspoGradientMatchesFiniteDifferences) {
  // The sequence ratio couples the tokens of a sequence: a finite difference on one token moves every token's loss.
  Rng rng(77);
  for (auto lt : {LossType::TokenMean, LossType::SeqMeanTokenMean, LossType::SeqMeanTokenSum, LossType::DrGrpo}) {
    for (int variant = 0; variant < 3; ++variant) {
      RlConfig c;
      c.importance_sampling_level = ImportanceSamplingLevel::Sequence;
      c.loss_type = lt;
      c.max_completion_length = 16;
      c.epsilon = 0.05;
      c.epsilon_high = 0.08;
      if (variant == 1) { c.beta = 0.2; c.kl_estimator = KlEstimator::K3; c.tis_cap = 1.5; }
      if (variant == 2) { c.delta = 1.3; c.beta = 0.1; c.kl_estimator = KlEstimator::K2; }
      const std::string what = std::string("gspo ") + enum_to_string(lt) + " variant " + std::to_string(variant);
      const Batch b = seq_away_from_kinks(random_batch(rng, 7, 9, 0.15), c);
      LossStats st;
      std::vector<float> g(b.n_tok());
      compute_loss(c, b.inputs(), make_loss_normalizer(c, count_tokens(b.mask, b.offsets)), g, &st);
      EXPECT_GT(st.tokens - st.clip_low - st.clip_high - st.dual_clip, 0.0) << what << ": no sequence inside the clip";
      check_against_finite_differences(c, b, what.c_str());
    }
  }
}

TEST(PolicyLoss, CispoGradientMatchesFiniteDifferencesWithTheWeightHeldFixed) {
  // CISPO's weight sg(clip(pi/pi_old)) is detached, so its gradient is d loss / d logp with the weight constant. The
  // weight is a function of logp - old_logp (and TIS of old_logp - rollout_logp): moving logp, old_logp and
  // rollout_logp of a token together by h keeps every weight and changes the loss only through logp itself.
  Rng rng(99);
  for (int variant = 0; variant < 4; ++variant) {
    RlConfig c;
    c.loss_mode = PolicyLossMode::Cispo;
    c.loss_type = variant % 2 ? LossType::SeqMeanTokenMean : LossType::TokenMean;
    c.epsilon = variant == 0 ? 1.0 : 0.2;
    c.epsilon_high = 0.28;
    if (variant == 2) { c.beta = 0.2; c.kl_estimator = KlEstimator::K3; c.tis_cap = 1.5; }
    if (variant == 3) c.importance_sampling_level = ImportanceSamplingLevel::Sequence;
    const Batch b = random_batch(rng, 7, 9, 0.6);
    const LossNormalizer norm = make_loss_normalizer(c, count_tokens(b.mask, b.offsets));
    std::vector<float> g(b.n_tok()), scratch(b.n_tok());
    LossStats st;
    compute_loss(c, b.inputs(), norm, g, &st);
    EXPECT_GT(st.clip_high + st.clip_low, 0.0) << variant;  // the data reaches a clip: those tokens must keep a gradient
    Batch p = b;
    int checked = 0;
    for (int64_t t = 0; t < b.n_tok(); ++t) {
      const double h = 1.0 / 1024;  // a power of two: the shifted log-ratios stay equal up to float rounding
      auto shifted = [&](double d) {
        p.logp[t] = static_cast<float>(b.logp[t] + d);
        p.old_logp[t] = static_cast<float>(b.old_logp[t] + d);
        p.rollout_logp[t] = static_cast<float>(b.rollout_logp[t] + d);
        return compute_loss(c, p.inputs(), norm, scratch);
      };
      const double fd = (shifted(h) - shifted(-h)) / (2 * h);
      shifted(0);
      EXPECT_NEAR(g[t], fd, 2e-4 * std::abs(fd) + 1e-7) << "cispo variant " << variant << " token " << t;
      checked += b.mask[t] != 0 && g[t] != 0;
    }
    EXPECT_EQ(checked, static_cast<int>(count_tokens(b.mask, b.offsets).tokens)) << "every unmasked token has a gradient";
  }
}

TEST(PolicyLoss, SequenceLevelEqualsTokenLevelWhenEveryTokenOfASequenceHasTheSameRatio) {
  // Per sequence one log-ratio for all its tokens: the geometric mean is that ratio, and (s / n_s) * n_s * dpg/ds is
  // the token gradient, inside and beyond the clips, for every loss_type.
  Rng rng(11);
  Batch b = random_batch(rng, 24, 8, 0.0);
  for (int64_t s = 0; s < b.n_seq(); ++s) {
    const double lr = 0.5 * rng.normal();  // some beyond 1 + epsilon_high, some below 1 - epsilon
    for (int64_t t = b.offsets[s]; t < b.offsets[s + 1]; ++t) b.old_logp[t] = static_cast<float>(b.logp[t] - lr);
  }
  for (auto lt : {LossType::TokenMean, LossType::SeqMeanTokenMean, LossType::SeqMeanTokenSum, LossType::DrGrpo}) {
    RlConfig tok;
    tok.loss_type = lt;
    tok.beta = 0.1;
    tok.delta = 2.0;
    RlConfig seq = tok;
    seq.importance_sampling_level = ImportanceSamplingLevel::Sequence;
    const LossNormalizer norm = make_loss_normalizer(tok, count_tokens(b.mask, b.offsets));
    LossStats st_t, st_s;
    std::vector<float> gt(b.n_tok()), gs(b.n_tok());
    const double lt_ = compute_loss(tok, b.inputs(), norm, gt, &st_t);
    const double ls_ = compute_loss(seq, b.inputs(), norm, gs, &st_s);
    EXPECT_NEAR(lt_, ls_, 1e-6 * (1 + std::abs(lt_))) << enum_to_string(lt);
    for (int64_t t = 0; t < b.n_tok(); ++t) EXPECT_NEAR(gt[t], gs[t], 1e-5 * std::abs(gt[t]) + 1e-9) << enum_to_string(lt) << " token " << t;
    EXPECT_EQ(st_t.clip_low + st_t.clip_high, st_s.clip_low + st_s.clip_high);
    EXPECT_GT(st_t.clip_low + st_t.clip_high, 0.0);
    EXPECT_GT(st_t.tokens - st_t.clip_low - st_t.clip_high - st_t.dual_clip, 0.0);
  }
}

TEST(PolicyLoss, SequenceLevelDiffersFromTokenLevelAndSpreadsTheGradientOverTheSequence) {
  // One sequence, A = 1, token ratios e^0.3 = 1.35 and e^-0.3 = 0.74, epsilon 0.2, token_mean over 2 tokens.
  // token:    token 0 is clipped (1.35 > 1.2, A > 0): gradient 0; token 1 unclipped: -A * 0.74 / 2.
  // sequence: s = exp(mean(0.3, -0.3)) = 1, inside the clip; d loss / d logp_t = (s / 2) * 2 * (-A) / 2 = -0.5 each.
  Batch b;
  b.add_sequence({-1.0f, -1.0f}, {-1.3f, -0.7f}, {-1.0f, -1.0f}, {-1.0f, -1.0f}, {1, 1}, 1.0f);
  RlConfig tok;
  RlConfig seq;
  seq.importance_sampling_level = ImportanceSamplingLevel::Sequence;
  const LossNormalizer norm = make_loss_normalizer(tok, count_tokens(b.mask, b.offsets));
  std::vector<float> g(2);
  LossStats st;
  double l = policy_loss(tok, b.inputs(), norm, g, &st);
  EXPECT_EQ(g[0], 0.0f);
  EXPECT_NEAR(g[1], -std::exp(-0.3) / 2, 1e-6);
  EXPECT_EQ(st.clip_high, 1.0);
  EXPECT_NEAR(l, -(1.2 + std::exp(-0.3)) / 2, 1e-6);
  st = LossStats{};
  l = policy_loss(seq, b.inputs(), norm, g, &st);
  EXPECT_NEAR(g[0], -0.5, 1e-6);
  EXPECT_NEAR(g[1], -0.5, 1e-6);
  EXPECT_EQ(st.clip_high + st.clip_low, 0.0);
  EXPECT_NEAR(st.ratio_mean(), 1.0, 1e-6);
  EXPECT_NEAR(l, -1.0, 1e-6);
  // With the sequence ratio beyond the clip (old lowered by 0.3 on both tokens: s = e^0.3), both tokens lose it.
  Batch c = b;
  c.old_logp = {-1.6f, -1.0f};
  st = LossStats{};
  policy_loss(seq, c.inputs(), norm, g, &st);
  EXPECT_EQ(g[0], 0.0f);
  EXPECT_EQ(g[1], 0.0f);
  EXPECT_EQ(st.clip_high, 2.0);
  // A masked token takes no part in the mean: its log-ratio does not move s, and it gets no gradient.
  Batch m;
  m.add_sequence({-1.0f, -1.0f, -1.0f}, {-1.3f, -0.7f, -5.0f}, {-1, -1, -1}, {-1, -1, -1}, {1, 1, 0}, 1.0f);
  std::vector<float> gm(3);
  policy_loss(seq, m.inputs(), make_loss_normalizer(seq, count_tokens(m.mask, m.offsets)), gm);
  EXPECT_NEAR(gm[0], -0.5, 1e-6);
  EXPECT_NEAR(gm[1], -0.5, 1e-6);
  EXPECT_EQ(gm[2], 0.0f);
}

TEST(PolicyLoss, CispoKeepsTheGradientOfTokensThePpoClipDrops) {
  RlConfig ppo;  // epsilon = epsilon_high = 0.2
  RlConfig cispo;
  cispo.loss_mode = PolicyLossMode::Cispo;
  // A > 0, ratio 1.5 > 1.2: PPO cuts the gradient; CISPO's weight is clipped to 1.2 and the gradient is -1.2 * A.
  EXPECT_EQ(one_token(ppo, 1.5, 1.0).second, 0.0);
  EXPECT_NEAR(one_token(cispo, 1.5, 1.0).second, -1.2, 1e-6);
  EXPECT_NEAR(one_token(cispo, 1.5, 2.0).second, -2.4, 1e-6);
  // A < 0, ratio 0.5 < 0.8: PPO cuts it; CISPO: -0.8 * A = 0.8, and with epsilon 1 (no lower bound) -0.5 * A = 0.5.
  EXPECT_EQ(one_token(ppo, 0.5, -1.0).second, 0.0);
  EXPECT_NEAR(one_token(cispo, 0.5, -1.0).second, 0.8, 1e-6);
  RlConfig no_low = cispo;
  no_low.epsilon = 1.0;
  EXPECT_NEAR(one_token(no_low, 0.5, -1.0).second, 0.5, 1e-6);
  // Inside the clip both give -ratio * A; the loss values differ: CISPO's is -ratio * A * logp (logp = -1 + log 1.1).
  EXPECT_NEAR(one_token(cispo, 1.1, 1.0).second, one_token(ppo, 1.1, 1.0).second, 1e-6);
  EXPECT_NEAR(one_token(cispo, 1.1, 1.0).first, -1.1 * (-1.0 + std::log(1.1)), 1e-6);
  // The clip counters count clipped weights, whatever the sign of A (A < 0 at ratio 1.5: PPO's pessimistic branch).
  Batch b;
  b.add_sequence({static_cast<float>(std::log(1.5)), static_cast<float>(std::log(0.5)), static_cast<float>(std::log(1.1))},
                 {0, 0, 0}, {0, 0, 0}, {0, 0, 0}, {1, 1, 1}, -1.0f);
  LossStats st;
  std::vector<float> g(3);
  policy_loss(cispo, b.inputs(), make_loss_normalizer(cispo, count_tokens(b.mask, b.offsets)), g, &st);
  EXPECT_EQ(st.clip_high, 1.0);
  EXPECT_EQ(st.clip_low, 1.0);
  for (float x : g) EXPECT_GT(x, 0.0f);  // A < 0: every token is pushed down, none is dropped
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

// Tests for the loss masks of rollout_correction.h (overlong filtering, rollout_rs rejection) and the entropy bonus
// (entropy_bonus.h): hand-computed cases, the normaliser they imply, and finite differences of the bonus.
#include "rl/core/rollout_correction.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "rl/core/entropy_bonus.h"
#include "rl/core/policy_loss.h"
#include "rl/util/error.h"
#include "rl_test_batch.h"

namespace reasonrl::rl {
namespace {

using testing::Batch;
using testing::random_batch;

RlConfig rs(RolloutRs mode, double upper, double lower = 0) {
  RlConfig c;
  c.rollout_rs = mode;
  c.rollout_rs_threshold = upper;
  c.rollout_rs_threshold_lower = lower;
  c.validate();
  return c;
}

// old - rollout log-ratios d (rollout = 0 - d, old = 0), all tokens unmasked.
struct Resp {
  std::vector<float> old, roll, mask;
  explicit Resp(const std::vector<double>& ratios) {
    for (double r : ratios) {
      old.push_back(-1.0f);
      roll.push_back(float(-1.0 - std::log(r)));
      mask.push_back(1.0f);
    }
  }
};

TEST(RolloutRejection, TokenLevelDropsTokensOutsideTheBand) {
  Resp r({1.0, 1.4, 1.6, 0.7, 0.6});
  const RejectionStats st = rollout_rejection(rs(RolloutRs::Token, 1.5), r.old, r.roll, r.mask);  // band [2/3, 1.5]
  EXPECT_EQ(r.mask, (std::vector<float>{1, 1, 0, 1, 0}));
  EXPECT_EQ(st.tokens, 5);
  EXPECT_EQ(st.tokens_rejected, 2);
  EXPECT_EQ(st.sequences_rejected, 0);
  Resp q({1.0, 0.7, 0.6});
  rollout_rejection(rs(RolloutRs::Token, 1.5, 0.65), q.old, q.roll, q.mask);  // explicit lower end 0.65
  EXPECT_EQ(q.mask, (std::vector<float>{1, 1, 0}));
}

TEST(RolloutRejection, SequenceUsesTheProductAndGeometricTheMean) {
  // ratios 1.4 and 1.4: product 1.96, geometric mean 1.4.
  Resp a({1.4, 1.4}), b({1.4, 1.4}), c({1.4, 1.4}), d({1.4, 1.4});
  EXPECT_EQ(rollout_rejection(rs(RolloutRs::Sequence, 1.5), a.old, a.roll, a.mask).sequences_rejected, 1);
  EXPECT_EQ(a.mask, (std::vector<float>{0, 0}));
  EXPECT_EQ(rollout_rejection(rs(RolloutRs::Sequence, 2.0), b.old, b.roll, b.mask).sequences_rejected, 0);
  EXPECT_EQ(b.mask, (std::vector<float>{1, 1}));
  EXPECT_EQ(rollout_rejection(rs(RolloutRs::Geometric, 1.5), c.old, c.roll, c.mask).sequences_rejected, 0);
  EXPECT_EQ(rollout_rejection(rs(RolloutRs::Geometric, 1.3), d.old, d.roll, d.mask).tokens_rejected, 2);
  // A masked token (prompt, or an earlier mask) does not enter the product: 1.4 * [masked 3.0] stays inside 1.5.
  Resp e({1.4, 3.0});
  e.mask[1] = 0;
  const RejectionStats st = rollout_rejection(rs(RolloutRs::Sequence, 1.5), e.old, e.roll, e.mask);
  EXPECT_EQ(st.tokens, 1);
  EXPECT_EQ(st.tokens_rejected, 0);
  EXPECT_EQ(e.mask, (std::vector<float>{1, 0}));
  // Equal policies (ratio exactly 1) keep everything in every mode; none never rejects.
  for (auto m : {RolloutRs::Token, RolloutRs::Sequence, RolloutRs::Geometric}) {
    Resp f({1.0, 1.0, 1.0});
    EXPECT_EQ(rollout_rejection(rs(m, 1.0001), f.old, f.roll, f.mask).tokens_rejected, 0) << enum_to_string(m);
  }
  Resp g({100.0});
  EXPECT_EQ(rollout_rejection(RlConfig{}, g.old, g.roll, g.mask).tokens_rejected, 0);
}

TEST(RolloutRejection, RejectedResponseIsExactlyAnAbsentOneForEveryLossType) {
  // The normaliser counts the mask after rejection: a batch with a rejected response gives the loss and gradient of the
  // batch without it, for every loss_type (the response leaves N_tok and N_seq).
  Rng rng(5);
  for (auto lt : {LossType::TokenMean, LossType::SeqMeanTokenMean, LossType::SeqMeanTokenSum, LossType::DrGrpo}) {
    RlConfig c = rs(RolloutRs::Sequence, 1.5);
    c.loss_type = lt;
    c.max_completion_length = 12;
    Batch b = random_batch(rng, 6, 8, 0.3);
    // make sequence 2 far off (rejected), the others exactly on-policy for the sampler (kept)
    for (int64_t s = 0; s < b.n_seq(); ++s)
      for (int64_t t = b.offsets[s]; t < b.offsets[s + 1]; ++t) b.rollout_logp[t] = b.old_logp[t] - (s == 2 ? 1.0f : 0.0f);
    Batch masked = b;
    RejectionStats st;
    for (int64_t s = 0; s < b.n_seq(); ++s) {
      const size_t t0 = size_t(b.offsets[s]), n = size_t(b.offsets[s + 1] - b.offsets[s]);
      st += rollout_rejection(c, std::span<const float>(b.old_logp).subspan(t0, n),
                              std::span<const float>(b.rollout_logp).subspan(t0, n), std::span<float>(masked.mask).subspan(t0, n));
    }
    ASSERT_EQ(st.sequences_rejected, 1) << enum_to_string(lt);
    Batch absent = b.slice(0, 2);
    const Batch rest = b.slice(3, b.n_seq());
    for (int64_t s = 0; s < rest.n_seq(); ++s) {
      const auto t0 = rest.offsets[s], t1 = rest.offsets[s + 1];
      auto seg = [&](const std::vector<float>& v) { return std::vector<float>(v.begin() + t0, v.begin() + t1); };
      absent.add_sequence(seg(rest.logp), seg(rest.old_logp), seg(rest.ref_logp), seg(rest.rollout_logp), seg(rest.mask),
                          rest.seq_adv[size_t(s)]);
    }
    std::vector<float> g1(masked.n_tok()), g2(absent.n_tok());
    const double l1 = compute_loss(c, masked.inputs(), make_loss_normalizer(c, count_tokens(masked.mask, masked.offsets)), g1);
    const double l2 = compute_loss(c, absent.inputs(), make_loss_normalizer(c, count_tokens(absent.mask, absent.offsets)), g2);
    EXPECT_NEAR(l1, l2, 1e-12 * (1 + std::abs(l2))) << enum_to_string(lt);
    for (int64_t t = masked.offsets[2]; t < masked.offsets[3]; ++t) EXPECT_EQ(g1[t], 0.0f);
    size_t k = 0;
    for (int64_t t = 0; t < masked.n_tok(); ++t) {
      if (t >= masked.offsets[2] && t < masked.offsets[3]) continue;
      EXPECT_EQ(g1[t], g2[k++]) << enum_to_string(lt) << " token " << t;
    }
  }
}

TEST(RolloutRejection, ShapeAndNumericErrors) {
  Resp r({1.0, 1.0});
  std::vector<float> short_roll = {-1.0f};
  EXPECT_THROW(rollout_rejection(rs(RolloutRs::Token, 2.0), r.old, short_roll, r.mask), FormatError);
  r.roll[1] = std::nanf("");
  EXPECT_THROW(rollout_rejection(rs(RolloutRs::Token, 2.0), r.old, r.roll, r.mask), NumericError);
}

TEST(MaskTruncatedCompletions, MasksOnlyTruncatedResponsesAndOnlyWhenOn) {
  RlConfig off, on;
  on.mask_truncated_completions = true;
  std::vector<float> m = {0, 1, 1};
  EXPECT_FALSE(mask_truncated_completion(off, true, m));
  EXPECT_EQ(m, (std::vector<float>{0, 1, 1}));
  EXPECT_FALSE(mask_truncated_completion(on, false, m));
  EXPECT_EQ(m, (std::vector<float>{0, 1, 1}));
  EXPECT_TRUE(mask_truncated_completion(on, true, m));
  EXPECT_EQ(m, (std::vector<float>{0, 0, 0}));
}

TEST(EntropyBonus, ValueAndGradientFollowTheLossTypesWeights) {
  // Two responses, entropies {1, 2, 3} and {4} (first token of the first masked): token_mean over 3 tokens.
  Batch b;
  b.add_sequence({-1, -1, -1}, {-1, -1, -1}, {-1, -1, -1}, {-1, -1, -1}, {0, 1, 1}, 1.0f);
  b.add_sequence({-1}, {-1}, {-1}, {-1}, {1}, 1.0f);
  const std::vector<float> H = {1, 2, 3, 4};
  RlConfig c;
  c.entropy_coeff = 0.1;
  std::vector<float> g(4);
  double l = entropy_bonus(c, H, b.mask, b.offsets, make_loss_normalizer(c, count_tokens(b.mask, b.offsets)), g);
  EXPECT_NEAR(l, -0.1 * (2 + 3 + 4) / 3.0, 1e-12);
  EXPECT_EQ(g[0], 0.0f);
  for (int t = 1; t < 4; ++t) EXPECT_NEAR(g[t], -0.1 / 3, 1e-7);
  c.loss_type = LossType::SeqMeanTokenMean;  // (mean(2, 3) + 4) / 2
  l = entropy_bonus(c, H, b.mask, b.offsets, make_loss_normalizer(c, count_tokens(b.mask, b.offsets)), g);
  EXPECT_NEAR(l, -0.1 * (2.5 + 4) / 2, 1e-12);
  EXPECT_NEAR(g[1], -0.1 / 4, 1e-7);
  EXPECT_NEAR(g[3], -0.1 / 2, 1e-7);
  c.entropy_coeff = 0;  // off: exactly nothing
  l = entropy_bonus(c, H, b.mask, b.offsets, make_loss_normalizer(c, count_tokens(b.mask, b.offsets)), g);
  EXPECT_EQ(l, 0.0);
  for (float x : g) EXPECT_EQ(x, 0.0f);
}

TEST(EntropyBonus, GradientMatchesFiniteDifferences) {
  Rng rng(9);
  for (auto lt : {LossType::TokenMean, LossType::SeqMeanTokenMean, LossType::SeqMeanTokenSum, LossType::DrGrpo}) {
    RlConfig c;
    c.loss_type = lt;
    c.entropy_coeff = 0.03;
    c.max_completion_length = 10;
    const Batch b = random_batch(rng, 5, 8, 0.3);
    std::vector<float> H(size_t(b.n_tok()));
    for (float& h : H) h = float(0.1 + 2 * rng.uniform());
    const LossNormalizer norm = make_loss_normalizer(c, count_tokens(b.mask, b.offsets));
    std::vector<float> g(H.size()), scratch(H.size());
    entropy_bonus(c, H, b.mask, b.offsets, norm, g);
    for (size_t t = 0; t < H.size(); ++t) {
      std::vector<float> p = H, m = H;
      p[t] += 1e-2f;
      m[t] -= 1e-2f;
      const double fd = (entropy_bonus(c, p, b.mask, b.offsets, norm, scratch) -
                         entropy_bonus(c, m, b.mask, b.offsets, norm, scratch)) / (double(p[t]) - double(m[t]));
      EXPECT_NEAR(g[t], fd, 1e-6 + 1e-4 * std::abs(fd)) << enum_to_string(lt) << " token " << t;
    }
  }
}

TEST(EntropyBonus, ShapeErrors) {
  RlConfig c;
  c.entropy_coeff = 0.1;
  const std::vector<float> H = {1, 2}, mask = {1, 1};
  const std::vector<int64_t> off = {0, 2}, bad_off = {0, 3};
  std::vector<float> g(2), g1(1);
  const LossNormalizer norm = make_loss_normalizer(c, count_tokens(mask, off));
  EXPECT_THROW(entropy_bonus(c, H, mask, bad_off, norm, g), FormatError);
  EXPECT_THROW(entropy_bonus(c, H, mask, off, norm, g1), FormatError);
  const std::vector<float> nan_h = {1, std::nanf("")};
  EXPECT_THROW(entropy_bonus(c, nan_h, mask, off, norm, g), NumericError);
}

}  // namespace
}  // namespace reasonrl::rl

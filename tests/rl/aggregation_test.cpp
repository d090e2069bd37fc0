// Tests for loss aggregation: the step's gradient does not depend on the micro-batch split (TRL #3021, verl #5625),
// masked tokens count neither in the numerator nor in the denominator (TRL #6369), Dr.GRPO's constant normaliser.
#include "rl/core/loss_aggregation.h"

#include <gtest/gtest.h>

#include <cmath>

#include "rl/core/policy_loss.h"
#include "rl_test_batch.h"

namespace reasonrl::rl {
namespace {

using testing::Batch;
using testing::random_batch;

struct StepResult {
  double loss = 0;
  std::vector<float> grad;  // concatenated over micro-batches = the whole batch's token order
  LossStats stats;
};

// One optimizer step over `b` split into micro-batches of `per_mb` sequences. When `global` is false, each
// micro-batch is normalised by its own counts and weighted by its share of sequences (the reported bug).
StepResult run_step(const RlConfig& c, const Batch& b, int per_mb, bool global = true) {
  std::vector<Batch> mbs;
  for (int64_t s = 0; s < b.n_seq(); s += per_mb) mbs.push_back(b.slice(s, std::min<int64_t>(s + per_mb, b.n_seq())));
  BatchCounts whole;
  for (const Batch& m : mbs) whole += count_tokens(m.mask, m.offsets);
  StepResult r;
  for (const Batch& m : mbs) {
    LossNormalizer norm = make_loss_normalizer(c, global ? whole : count_tokens(m.mask, m.offsets));
    const double share = global ? 1.0 : static_cast<double>(m.n_seq()) / static_cast<double>(b.n_seq());
    std::vector<float> g(m.n_tok());
    r.loss += share * compute_loss(c, m.inputs(), norm, g, &r.stats);
    for (float x : g) r.grad.push_back(static_cast<float>(share * x));
  }
  return r;
}

std::vector<RlConfig> loss_configs() {
  std::vector<RlConfig> v;
  for (auto lt : {LossType::TokenMean, LossType::SeqMeanTokenMean, LossType::SeqMeanTokenSum, LossType::DrGrpo}) {
    RlConfig c;
    c.loss_type = lt;
    c.max_completion_length = 12;
    c.epsilon_high = 0.28;
    c.delta = 3.0;
    c.beta = 0.04;
    c.tis_cap = 2.0;
    v.push_back(c);
  }
  RlConfig kimi;
  kimi.algorithm = Algorithm::Kimi;
  kimi.kimi_tau = 0.3;
  v.push_back(kimi);
  RlConfig kimi_kl = kimi;  // Kimi with an extra KL-in-loss term, token_mean weighted
  kimi_kl.beta = 0.1;
  v.push_back(kimi_kl);
  return v;
}

std::string name(const RlConfig& c) {
  return std::string(enum_to_string(c.algorithm)) + "/" + enum_to_string(c.loss_type) + (c.beta > 0 ? "/kl" : "");
}

TEST(LossAggregation, MicroBatchSplitDoesNotChangeTheGradient) {
  Rng rng(99);
  const Batch b = random_batch(rng, 8, 10, 0.3);  // lengths differ, some sequences have a masked prefix
  for (const RlConfig& c : loss_configs()) {
    const StepResult one = run_step(c, b, 8);    // 1 x 8
    const StepResult eight = run_step(c, b, 1);  // 8 x 1
    const StepResult two = run_step(c, b, 4);    // 2 x 4
    const StepResult odd = run_step(c, b, 3);    // 3 + 3 + 2
    ASSERT_EQ(one.grad.size(), static_cast<size_t>(b.n_tok()));
    for (const StepResult* r : {&eight, &two, &odd}) {
      EXPECT_NEAR(r->loss, one.loss, 1e-12 * (1 + std::abs(one.loss))) << name(c);
      for (size_t t = 0; t < one.grad.size(); ++t) EXPECT_FLOAT_EQ(r->grad[t], one.grad[t]) << name(c) << " token " << t;
      EXPECT_EQ(r->stats.tokens, one.stats.tokens);
      EXPECT_NEAR(r->stats.ratio_sum, one.stats.ratio_sum, 1e-9);
    }
  }
}

TEST(LossAggregation, PerMicroBatchDenominatorWouldChangeTheGradient) {
  // The reported bug (TRL #3021, verl #5625): a per-micro-batch token-mean weighted by sample count depends on the
  // split. This shows that the invariance test above can fail: the buggy scheme gives a different gradient.
  Rng rng(99);
  const Batch b = random_batch(rng, 8, 10, 0.3);
  RlConfig c;  // token_mean
  const StepResult ok = run_step(c, b, 8);
  const StepResult bug = run_step(c, b, 1, /*global=*/false);
  double max_diff = 0;
  for (size_t t = 0; t < ok.grad.size(); ++t) max_diff = std::max(max_diff, static_cast<double>(std::abs(bug.grad[t] - ok.grad[t])));
  EXPECT_GT(max_diff, 1e-3);
}

TEST(LossAggregation, MaskedTokensAreAbsentFromNumeratorAndDenominator) {
  // TRL #6369: masking a truncated completion must be the same as leaving it out of the batch, and masking the
  // tail of a sequence the same as cutting it off.
  Rng rng(4);
  const Batch b = random_batch(rng, 6, 9, 0.3);
  for (const RlConfig& c : loss_configs()) {
    // (1) Sequence 2 fully masked vs removed.
    Batch masked = b;
    for (int64_t t = b.offsets[2]; t < b.offsets[3]; ++t) masked.mask[t] = 0;
    Batch removed = b.slice(0, 2);
    const Batch rest = b.slice(3, b.n_seq());
    for (int64_t s = 0; s < rest.n_seq(); ++s) {
      auto seg = [&](const std::vector<float>& v) {
        return std::vector<float>(v.begin() + rest.offsets[s], v.begin() + rest.offsets[s + 1]);
      };
      removed.add_sequence(seg(rest.logp), seg(rest.old_logp), seg(rest.ref_logp), seg(rest.rollout_logp), seg(rest.mask), rest.seq_adv[s]);
    }
    const StepResult a = run_step(c, masked, 2), r = run_step(c, removed, 2);
    EXPECT_NEAR(a.loss, r.loss, 1e-12 * (1 + std::abs(r.loss))) << name(c);
    std::vector<float> kept;
    for (int64_t t = 0; t < b.n_tok(); ++t) {
      if (t >= b.offsets[2] && t < b.offsets[3]) EXPECT_EQ(a.grad[t], 0.0f);
      else kept.push_back(a.grad[t]);
    }
    ASSERT_EQ(kept.size(), r.grad.size());
    for (size_t t = 0; t < kept.size(); ++t) EXPECT_FLOAT_EQ(kept[t], r.grad[t]) << name(c) << " token " << t;
    // (2) The last two tokens of sequence 0 masked vs cut off (sequence 0 must be long enough).
    const int64_t n0 = b.offsets[1];
    if (n0 >= 3) {
      Batch tail = b;
      tail.mask[n0 - 1] = tail.mask[n0 - 2] = 0;
      Batch cut;
      auto first = [&](const std::vector<float>& v) { return std::vector<float>(v.begin(), v.begin() + n0 - 2); };
      cut.add_sequence(first(b.logp), first(b.old_logp), first(b.ref_logp), first(b.rollout_logp), first(b.mask), b.seq_adv[0]);
      const Batch others = b.slice(1, b.n_seq());
      for (int64_t s = 0; s < others.n_seq(); ++s) {
        auto seg = [&](const std::vector<float>& v) {
          return std::vector<float>(v.begin() + others.offsets[s], v.begin() + others.offsets[s + 1]);
        };
        cut.add_sequence(seg(others.logp), seg(others.old_logp), seg(others.ref_logp), seg(others.rollout_logp), seg(others.mask), others.seq_adv[s]);
      }
      const StepResult x = run_step(c, tail, 3), y = run_step(c, cut, 3);
      EXPECT_NEAR(x.loss, y.loss, 1e-12 * (1 + std::abs(y.loss))) << name(c);
    }
  }
}

TEST(LossAggregation, CountsAndWeights) {
  // Sequences: [1 1 1], [0 0] (fully masked: not a sequence of the step), [0 1].
  const std::vector<float> mask = {1, 1, 1, 0, 0, 0, 1};
  const std::vector<int64_t> off = {0, 3, 5, 7};
  const BatchCounts c = count_tokens(mask, off);
  EXPECT_EQ(c.tokens, 4);
  EXPECT_EQ(c.sequences, 2);
  RlConfig cfg;
  cfg.max_completion_length = 10;
  cfg.loss_type = LossType::TokenMean;
  EXPECT_DOUBLE_EQ(make_loss_normalizer(cfg, c).token_weight(3), 1.0 / 4);
  cfg.loss_type = LossType::SeqMeanTokenMean;
  EXPECT_DOUBLE_EQ(make_loss_normalizer(cfg, c).token_weight(3), 1.0 / (2 * 3));
  cfg.loss_type = LossType::SeqMeanTokenSum;
  EXPECT_DOUBLE_EQ(make_loss_normalizer(cfg, c).token_weight(3), 1.0 / 2);
  cfg.loss_type = LossType::DrGrpo;
  EXPECT_DOUBLE_EQ(make_loss_normalizer(cfg, c).token_weight(3), 1.0 / (2 * 10));
  EXPECT_DOUBLE_EQ(make_loss_normalizer(cfg, c).token_weight(0), 0.0);
}

TEST(LossAggregation, DrGrpoHasNoLengthBiasButSeqMeanTokenMeanDoes) {
  // Two sequences with the same advantage, lengths 2 and 6, at ratio 1. Dr.GRPO (TRL PR #3138/#3256): every token
  // gets -A / (N_seq * L); seq_mean_token_mean gives the short sequence's tokens 3x the per-token gradient.
  Batch b;
  b.add_sequence(std::vector<float>(2, -1.0f), std::vector<float>(2, -1.0f), std::vector<float>(2, -1.0f), std::vector<float>(2, -1.0f),
                 std::vector<float>(2, 1.0f), 1.0f);
  b.add_sequence(std::vector<float>(6, -1.0f), std::vector<float>(6, -1.0f), std::vector<float>(6, -1.0f), std::vector<float>(6, -1.0f),
                 std::vector<float>(6, 1.0f), 1.0f);
  RlConfig dr;
  dr.loss_type = LossType::DrGrpo;
  dr.max_completion_length = 8;
  const StepResult d = run_step(dr, b, 2);
  EXPECT_FLOAT_EQ(d.grad[0], -1.0f / 16);
  EXPECT_FLOAT_EQ(d.grad[7], -1.0f / 16);
  RlConfig sm;
  sm.loss_type = LossType::SeqMeanTokenMean;
  const StepResult s = run_step(sm, b, 2);
  EXPECT_FLOAT_EQ(s.grad[0], -1.0f / 4);
  EXPECT_FLOAT_EQ(s.grad[7], -1.0f / 12);
}

}  // namespace
}  // namespace reasonrl::rl

// The MoE balance loss arrives as one mean per micro-batch; weighted by balance_loss_scale the micro-batches add up to
// the mean over the whole step for any split (1 / n_micro does not for uneven splits: 3+3+2 below).
namespace reasonrl::rl {
namespace {
TEST(LossAggregation, BalanceLossScaleGivesTheStepMeanForAnySplit) {
  const std::vector<double> per_seq = {0.3, 1.7, 0.2, 0.9, 2.5, 0.1, 0.6, 1.1};
  double want = 0;
  for (double v : per_seq) want += v / double(per_seq.size());
  for (const std::vector<int>& split : {std::vector<int>{8}, std::vector<int>{1, 1, 1, 1, 1, 1, 1, 1}, std::vector<int>{3, 3, 2}}) {
    double got = 0, naive = 0;
    size_t i = 0;
    for (int n : split) {
      double mean = 0;
      for (int k = 0; k < n; ++k) mean += per_seq[i++] / n;
      got += balance_loss_scale(n, double(per_seq.size())) * mean;
      naive += mean / double(split.size());
    }
    EXPECT_NEAR(got, want, 1e-15) << split.size() << " micro-batches";
    if (split.size() == 3) {
      EXPECT_GT(std::fabs(naive - want), 1e-3) << "the 1/n_micro weight would not show the defect";
    }
  }
  EXPECT_THROW(balance_loss_scale(3, 0), FormatError);
  EXPECT_THROW(balance_loss_scale(9, 8), FormatError);
}
}  // namespace
}  // namespace reasonrl::rl

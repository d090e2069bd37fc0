// Golden test: our losses and gradients against PyTorch autograd of an independent padded-tensor implementation
// (tests/rl/torch_policy_loss.py, written from verl's core_algos and algorithms.md), for every loss_type and Kimi,
// and for GSPO (sequence-level ratio) and CISPO.
#include <gtest/gtest.h>
#include "tests/require.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "rl/core/entropy_bonus.h"
#include "rl/core/policy_loss.h"
#include "rl/core/rollout_correction.h"
#include "rl/util/error.h"
#include "rl_test_batch.h"

namespace reasonrl::rl {
namespace {

using testing::Batch;
using testing::random_batch;

bool have_torch() {
  const std::string cmd = std::string(REASONRL_PYTHON) + " -c 'import torch' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// Per case, besides the batch: each sequence's "truncated" flag and each token's entropy (a second random stream, so
// the batches of the older cases are the same as before these were added).
struct Extras {
  std::vector<bool> truncated;  // [S]
  std::vector<float> entropy;   // [T]
};

Extras random_extras(Rng& rng, const Batch& b) {
  Extras x;
  for (int64_t s = 0; s < b.n_seq(); ++s) x.truncated.push_back(rng.below(3) == 0);
  for (int64_t t = 0; t < b.n_tok(); ++t) x.entropy.push_back(static_cast<float>(0.05 + 3.0 * rng.uniform()));
  return x;
}

json batch_json(const Batch& b, const Extras& x) {
  json j;
  j["truncated"] = json::array();
  for (bool t : x.truncated) j["truncated"].push_back(t);
  j["entropy"] = json::array();
  for (int64_t s = 0; s < b.n_seq(); ++s)
    j["entropy"].push_back(std::vector<double>(x.entropy.begin() + b.offsets[s], x.entropy.begin() + b.offsets[s + 1]));
  for (const char* k : {"logp", "old_logp", "ref_logp", "rollout_logp", "mask"}) j[k] = json::array();
  for (int64_t s = 0; s < b.n_seq(); ++s) {
    auto seg = [&](const std::vector<float>& v) {
      json a = json::array();
      for (int64_t t = b.offsets[s]; t < b.offsets[s + 1]; ++t) a.push_back(static_cast<double>(v[t]));
      return a;
    };
    j["logp"].push_back(seg(b.logp));
    j["old_logp"].push_back(seg(b.old_logp));
    j["ref_logp"].push_back(seg(b.ref_logp));
    j["rollout_logp"].push_back(seg(b.rollout_logp));
    j["mask"].push_back(seg(b.mask));
  }
  j["adv"] = json::array();
  for (float a : b.seq_adv) j["adv"].push_back(static_cast<double>(a));
  return j;
}

// What one case reached: the loss's stats, the rejection counts and the responses the overlong filter masked.
struct CaseStats {
  LossStats loss;
  RejectionStats rs;
  double truncated_masked = 0;
};

// Runs every config on its own random batch (in order, from one Rng) through our masks (overlong filter, rollout_rs),
// loss and entropy bonus, and through the PyTorch script, and compares the loss and the gradients w.r.t. logp and the
// entropies. Returns each case's stats, so the caller can check that the data reached the clips and the bands.
std::vector<CaseStats> compare_with_torch(const std::vector<RlConfig>& cfgs, uint64_t seed, double spread) {
  Rng rng(seed), rng_x(seed + 1);
  std::vector<Batch> batches;
  std::vector<Extras> extras;
  json cases = json::array();
  for (const RlConfig& c : cfgs) {
    batches.push_back(random_batch(rng, 8, 10, spread));
    extras.push_back(random_extras(rng_x, batches.back()));
    json cj = config_to_json(c);
    cj["max_completion_length"] = c.max_completion_length;  // Dr.GRPO's L: a member, not a config key (rollout's)
    cases.push_back({{"config", cj}, {"batch", batch_json(batches.back(), extras.back())}});
  }
  const auto dir = std::filesystem::temp_directory_path();
  const std::string in = (dir / ("rl_golden_in_" + std::to_string(::getpid()) + ".json")).string();
  const std::string out = (dir / ("rl_golden_out_" + std::to_string(::getpid()) + ".json")).string();
  write_file_atomic(in, cases.dump());
  const std::string cmd = std::string(REASONRL_PYTHON) + " " + REASONRL_SOURCE_DIR + "/tests/rl/torch_policy_loss.py " + in + " " + out;
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const json res = json::parse(read_file(out));
  std::filesystem::remove(in);
  std::filesystem::remove(out);
  EXPECT_EQ(res.size(), cfgs.size());
  std::vector<CaseStats> stats;
  for (size_t i = 0; i < cfgs.size() && i < res.size(); ++i) {
    const RlConfig& c = cfgs[i];
    Batch b = batches[i];  // its mask gets the overlong filter and the rejection, as the trainer does before counting
    CaseStats cs;
    for (int64_t s = 0; s < b.n_seq(); ++s) {
      const auto t0 = b.offsets[s], n = b.offsets[s + 1] - t0;
      std::span<float> m(b.mask.data() + t0, size_t(n));
      cs.truncated_masked += mask_truncated_completion(c, extras[i].truncated[size_t(s)], m) ? 1 : 0;
      cs.rs += rollout_rejection(c, std::span<const float>(b.old_logp).subspan(size_t(t0), size_t(n)),
                                 std::span<const float>(b.rollout_logp).subspan(size_t(t0), size_t(n)), m);
    }
    const std::string name = std::string(enum_to_string(c.algorithm)) + "/" + enum_to_string(c.loss_type) + "/" +
                             enum_to_string(c.loss_mode) + "/" + enum_to_string(c.importance_sampling_level) + " case " +
                             std::to_string(i);
    const LossNormalizer norm = make_loss_normalizer(c, count_tokens(b.mask, b.offsets));
    std::vector<float> g(b.n_tok()), ge(b.n_tok());
    const double loss = compute_loss(c, b.inputs(), norm, g, &cs.loss) +
                        entropy_bonus(c, extras[i].entropy, b.mask, b.offsets, norm, ge);
    const double tl = res[i]["loss"].get<double>();
    EXPECT_NEAR(loss, tl, 1e-9 * (1 + std::abs(tl))) << name;
    for (int64_t s = 0; s < b.n_seq(); ++s)
      for (int64_t t = b.offsets[s]; t < b.offsets[s + 1]; ++t) {
        const double want = res[i]["grad"][s][t - b.offsets[s]].get<double>();
        EXPECT_NEAR(g[t], want, 1e-6 * std::abs(want) + 1e-9) << name << " seq " << s << " token " << t;
        const double want_e = res[i]["grad_entropy"][s][t - b.offsets[s]].get<double>();
        EXPECT_NEAR(ge[t], want_e, 1e-6 * std::abs(want_e) + 1e-12) << name << " entropy, seq " << s << " token " << t;
      }
    stats.push_back(cs);
  }
  return stats;
}

TEST(PolicyLossGolden, MatchesTorchAutograd) {
  REASONRL_REQUIRE_OR_SKIP(have_torch(), std::string(REASONRL_PYTHON) + " with torch is not available");
  std::vector<RlConfig> cfgs;
  for (auto lt : {LossType::TokenMean, LossType::SeqMeanTokenMean, LossType::SeqMeanTokenSum, LossType::DrGrpo}) {
    for (int v = 0; v < 3; ++v) {
      RlConfig c;
      c.loss_type = lt;
      c.max_completion_length = 12;
      c.epsilon_high = 0.28;
      if (v >= 1) { c.delta = 2.5; c.beta = 0.05; c.kl_estimator = KlEstimator::K3; }
      if (v == 2) { c.tis_cap = 1.5; c.kl_estimator = KlEstimator::K2; }  // spread 0.4 for rollout: some weights hit the cap
      cfgs.push_back(c);
    }
  }
  RlConfig k1c;
  k1c.beta = 0.1;
  k1c.kl_estimator = KlEstimator::K1;
  cfgs.push_back(k1c);
  RlConfig kimi;
  kimi.algorithm = Algorithm::Kimi;
  kimi.kimi_tau = 0.3;
  cfgs.push_back(kimi);

  const std::vector<CaseStats> st = compare_with_torch(cfgs, 31337, 0.8);  // spread 0.8: many ratios beyond every clip
  LossStats reached;  // over the dual-clip cases: the data must reach every clip, or the comparison proves little
  for (size_t i = 0; i < st.size(); ++i)
    if (cfgs[i].algorithm == Algorithm::Grpo && cfgs[i].delta > 0) reached += st[i].loss;
  EXPECT_GT(reached.dual_clip, 0.0);
  EXPECT_GT(reached.clip_low, 0.0);
  EXPECT_GT(reached.clip_high, 0.0);
  EXPECT_GT(reached.tis_truncated, 0.0);
}

// GSPO (importance_sampling_level sequence) and CISPO (loss_mode cispo), alone and together, with every loss_type and
// with the KL term, TIS and (GSPO) the dual clip.
TEST(PolicyLossGolden, GspoAndCispoMatchTorchAutograd) {
  REASONRL_REQUIRE_OR_SKIP(have_torch(), std::string(REASONRL_PYTHON) + " with torch is not available");
  std::vector<RlConfig> cfgs;
  for (auto lt : {LossType::TokenMean, LossType::SeqMeanTokenMean, LossType::SeqMeanTokenSum, LossType::DrGrpo}) {
    for (int v = 0; v < 5; ++v) {
      RlConfig c;
      c.loss_type = lt;
      c.max_completion_length = 12;
      if (v <= 1) {  // GSPO; clip ranges that a spread-0.8 batch's sequence ratios straddle
        c.importance_sampling_level = ImportanceSamplingLevel::Sequence;
        c.epsilon = 0.1;
        c.epsilon_high = 0.15;
        if (v == 1) { c.delta = 1.5; c.beta = 0.05; c.tis_cap = 1.5; }
      } else {  // CISPO
        c.loss_mode = PolicyLossMode::Cispo;
        c.epsilon = v == 2 ? 1.0 : 0.2;  // 1: no lower bound (the paper's setting)
        c.epsilon_high = 0.28;
        if (v == 3) { c.beta = 0.05; c.kl_estimator = KlEstimator::K2; c.tis_cap = 1.5; }
        if (v == 4) { c.importance_sampling_level = ImportanceSamplingLevel::Sequence; c.epsilon = 0.1; c.epsilon_high = 0.15; }
      }
      cfgs.push_back(c);
    }
  }
  const std::vector<CaseStats> st = compare_with_torch(cfgs, 4242, 0.8);
  LossStats gspo, cispo;  // the data must reach both clips of each mode, and leave tokens inside them
  for (size_t i = 0; i < st.size(); ++i)
    (cfgs[i].loss_mode == PolicyLossMode::Cispo ? cispo : gspo) += st[i].loss;
  for (const LossStats* r : {&gspo, &cispo}) {
    EXPECT_GT(r->clip_low, 0.0);
    EXPECT_GT(r->clip_high, 0.0);
    EXPECT_GT(r->tokens - r->clip_low - r->clip_high - r->dual_clip, 0.0);
  }
  EXPECT_GT(gspo.dual_clip, 0.0);
}

}  // namespace
}  // namespace reasonrl::rl

namespace reasonrl::rl {
namespace {

// Overlong filtering, sequence-level TIS, masked IS (rollout_rs token / sequence / geometric) and the entropy bonus,
// alone and combined, with every loss_type, both objectives where they apply, and GSPO / CISPO.
TEST(PolicyLossGolden, RolloutCorrectionOverlongFilterAndEntropyBonusMatchTorchAutograd) {
  REASONRL_REQUIRE_OR_SKIP(have_torch(), std::string(REASONRL_PYTHON) + " with torch is not available");
  std::vector<RlConfig> cfgs;
  for (auto lt : {LossType::TokenMean, LossType::SeqMeanTokenMean, LossType::SeqMeanTokenSum, LossType::DrGrpo}) {
    for (int v = 0; v < 7; ++v) {
      RlConfig c;
      c.loss_type = lt;
      c.max_completion_length = 12;
      c.epsilon_high = 0.28;
      switch (v) {
        case 0: c.mask_truncated_completions = true; break;
        case 1: c.tis_cap = 1.5; c.rollout_is = RolloutIsLevel::Sequence; break;
        case 2: c.rollout_rs = RolloutRs::Token; c.rollout_rs_threshold = 1.5; break;
        case 3: c.rollout_rs = RolloutRs::Sequence; c.rollout_rs_threshold = 3.0; c.rollout_rs_threshold_lower = 0.5; break;
        case 4: c.rollout_rs = RolloutRs::Geometric; c.rollout_rs_threshold = 1.2; c.tis_cap = 2.0; break;
        case 5: c.entropy_coeff = 0.01; c.beta = 0.05; break;
        case 6:  // everything at once, on GSPO + CISPO
          c.mask_truncated_completions = true;
          c.tis_cap = 1.5;
          c.rollout_is = RolloutIsLevel::Sequence;
          c.rollout_rs = RolloutRs::Token;
          c.rollout_rs_threshold = 2.0;
          c.entropy_coeff = 0.05;
          c.loss_mode = PolicyLossMode::Cispo;
          c.importance_sampling_level = ImportanceSamplingLevel::Sequence;
          c.epsilon = 0.1;
          c.epsilon_high = 0.15;
          break;
      }
      cfgs.push_back(c);
    }
  }
  RlConfig kimi;  // the masks and the bonus also apply to Kimi's sequence loss
  kimi.algorithm = Algorithm::Kimi;
  kimi.kimi_tau = 0.3;
  kimi.mask_truncated_completions = true;
  kimi.rollout_rs = RolloutRs::Geometric;
  kimi.rollout_rs_threshold = 1.2;
  kimi.entropy_coeff = 0.02;
  cfgs.push_back(kimi);

  const std::vector<CaseStats> st = compare_with_torch(cfgs, 777, 0.8);
  // the data must reach each mechanism and leave some of the batch alone, or the comparison proves little
  double trunc = 0, seq_tis_cut = 0, seq_tis_kept = 0;
  RejectionStats by_mode[4];
  for (size_t i = 0; i < st.size(); ++i) {
    trunc += st[i].truncated_masked;
    if (cfgs[i].rollout_is == RolloutIsLevel::Sequence) {
      seq_tis_cut += st[i].loss.tis_truncated;
      seq_tis_kept += st[i].loss.tokens - st[i].loss.tis_truncated;
    }
    by_mode[static_cast<int>(cfgs[i].rollout_rs)] += st[i].rs;
  }
  EXPECT_GT(trunc, 0.0);
  EXPECT_GT(seq_tis_cut, 0.0);
  EXPECT_GT(seq_tis_kept, 0.0);
  for (auto m : {RolloutRs::Token, RolloutRs::Sequence, RolloutRs::Geometric}) {
    const RejectionStats& r = by_mode[static_cast<int>(m)];
    EXPECT_GT(r.tokens_rejected, 0.0) << enum_to_string(m);
    EXPECT_LT(r.tokens_rejected, r.tokens) << enum_to_string(m);
  }
  EXPECT_EQ(by_mode[static_cast<int>(RolloutRs::None)].tokens_rejected, 0.0);
}

}  // namespace
}  // namespace reasonrl::rl

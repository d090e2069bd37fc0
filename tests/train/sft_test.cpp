// SFT's loss through each train_kernel (rl/train/sft.h): the fused head (only target positions reach the output head)
// and the packed batch give the full path's loss, MTP and balance losses and gradients (float: only the summation order
// differs, so to 1e-5 of the loss and 1e-4 of the largest gradient), and the packed gradient agrees with central finite
// differences of the loss along it; pack_sft_batch lays the sequences back to back.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "rl/train/sft.h"
#include "rl/util/rng.h"
#include "tests/long2short/tiny_model.h"

namespace reasonrl::train {
namespace {

std::vector<datasets::SftSequence> toy_sft(int n, uint64_t seed) {
  Rng rng(seed);
  std::vector<datasets::SftSequence> out(static_cast<size_t>(n));
  for (auto& s : out) {
    s.prompt_len = 2 + int(rng.below(5));
    const int len = s.prompt_len + 1 + int(rng.below(9));
    for (int t = 0; t < len; ++t) s.ids.push_back(int(rng.below(40)));
  }
  return out;
}

model::ModelConfig sft_model_config() {
  model::ModelConfig c = long2short::testing::tiny_model_config(32, 1);  // with MTP, as SFT trains it
  c.seq_aux_alpha = 0.01;
  c.mtp_loss_weight = 0.3;
  return c;
}

TEST(SftKernel, FusedAndPackedEqualTheFullPath) {
  const auto seqs = toy_sft(5, 3);
  std::vector<const datasets::SftSequence*> batch;
  for (const auto& s : seqs) batch.push_back(&s);
  model::Model m(sft_model_config());
  m.init_weights(4);
  double loss[3], mtp[3], bal[3];
  std::vector<float> g[3];
  const TrainKernel ks[3] = {TrainKernel::Full, TrainKernel::Fused, TrainKernel::Packed};
  for (int i = 0; i < 3; ++i) {
    m.zero_grad();
    size_t processed = 0;
    loss[i] = sft_loss_and_grad(m, batch, 0, ks[i], &processed);
    mtp[i] = m.last_mtp_loss();
    bal[i] = m.last_balance_loss();
    g[i].assign(m.grads().begin(), m.grads().end());
    size_t real = 0;
    for (const auto& s : seqs) real += s.ids.size();
    if (ks[i] == TrainKernel::Packed) {
      EXPECT_EQ(processed, real);
    }
  }
  EXPECT_GT(mtp[0], 0.0);
  EXPECT_GT(bal[0], 0.0);
  double gmax = 0;
  for (float x : g[0]) gmax = std::max(gmax, double(std::fabs(x)));
  EXPECT_GT(gmax, 1e-3);
  for (int i = 1; i < 3; ++i) {
    EXPECT_NEAR(loss[i], loss[0], 1e-5 * loss[0]) << enum_to_string(ks[i]);
    EXPECT_NEAR(mtp[i], mtp[0], 1e-5 * mtp[0]) << enum_to_string(ks[i]);
    EXPECT_NEAR(bal[i], bal[0], 1e-5 * bal[0]) << enum_to_string(ks[i]);
    double d = 0;
    for (size_t k = 0; k < g[0].size(); ++k) d = std::max(d, double(std::fabs(g[i][k] - g[0][k])));
    EXPECT_LT(d, 1e-4 * gmax) << enum_to_string(ks[i]) << ": largest gradient " << gmax;
  }
}

TEST(SftKernel, PackedGradientMatchesFiniteDifferences) {
  const auto seqs = toy_sft(4, 5);
  std::vector<const datasets::SftSequence*> batch;
  for (const auto& s : seqs) batch.push_back(&s);
  model::ModelConfig c = sft_model_config();
  c.seq_aux_alpha = 0.0;  // the loss alone (the balance loss's indicator is piecewise constant)
  model::Model m(c);
  m.init_weights(6);
  auto objective = [&] {
    m.zero_grad();
    return sft_loss_and_grad(m, batch, 0, TrainKernel::Packed) + m.last_mtp_loss();
  };
  objective();
  const std::vector<float> g(m.grads().begin(), m.grads().end());
  double norm = 0;
  for (float x : g) norm += double(x) * x;
  norm = std::sqrt(norm);
  ASSERT_GT(norm, 1e-3);
  const std::vector<float> p0(m.params().begin(), m.params().end());
  const double eps = 1e-2;
  auto at = [&](double e) {
    for (size_t i = 0; i < p0.size(); ++i) m.params()[i] = float(p0[i] + e * g[i] / norm);
    return objective();
  };
  const double fd = (at(eps) - at(-eps)) / (2 * eps);
  EXPECT_NEAR(fd, norm, 2e-3 * norm) << "finite difference " << fd << ", |gradient| " << norm;
}

TEST(SftKernel, PackBatchLaysSequencesBackToBack) {
  const auto seqs = toy_sft(3, 7);
  std::vector<const datasets::SftSequence*> batch;
  for (const auto& s : seqs) batch.push_back(&s);
  std::vector<int32_t> tok;
  std::vector<float> mask;
  std::vector<int> cu;
  const int longest = pack_sft_batch(batch, tok, mask, cu);
  ASSERT_EQ(cu.size(), 4u);
  int n = 0, lmax = 0;
  for (size_t s = 0; s < 3; ++s) {
    EXPECT_EQ(cu[s], n);
    for (size_t t = 0; t < seqs[s].ids.size(); ++t, ++n) {
      EXPECT_EQ(tok[size_t(n)], seqs[s].ids[t]);
      EXPECT_EQ(mask[size_t(n)], int(t) >= seqs[s].prompt_len ? 1.0f : 0.0f);
    }
    lmax = std::max(lmax, int(seqs[s].ids.size()));
  }
  EXPECT_EQ(cu[3], n);
  EXPECT_EQ(longest, lmax);
}

}  // namespace
}  // namespace reasonrl::train

// Tests for the prompt samplers: chi-square frequency checks against the target distribution, schedules, EMA/window
// estimates and exact state round trips.
#include "sampler/prompt_sampler.h"

#include <gtest/gtest.h>

#include <set>

#include "rl/util/error.h"

namespace reasonrl::sampler {
namespace {

// Pearson chi-square statistic of observed counts against expected probabilities (all > 0).
double chi_square(const std::vector<int>& counts, const std::vector<double>& p) {
  long long n = 0;
  for (int c : counts) n += c;
  double x = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double e = p[i] * double(n);
    x += (counts[i] - e) * (counts[i] - e) / e;
  }
  return x;
}
// Upper 0.1% points of chi-square (standard tables).
constexpr double kChi2_999_df9 = 27.877, kChi2_999_df19 = 43.820;

std::vector<PromptMeta> metas(int n) {
  std::vector<PromptMeta> m(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) m[size_t(i)].difficulty = i % 5;
  return m;
}

TEST(UniformSampler, WithReplacementMatchesUniform) {
  SamplerConfig c;
  c.replacement = true;
  auto s = make_prompt_sampler(c, metas(20));
  Rng rng(42);
  std::vector<int> counts(20);
  for (int step = 0; step < 200; ++step)
    for (int id : s->sample(100, rng)) ++counts[size_t(id)];
  EXPECT_LT(chi_square(counts, s->probabilities()), kChi2_999_df19);
}

TEST(UniformSampler, EpochsVisitEveryPromptOnce) {
  auto s = make_prompt_sampler(SamplerConfig{}, metas(10));
  Rng rng(1);
  std::vector<int> all;
  for (int k = 0; k < 6; ++k)
    for (int id : s->sample(5, rng)) all.push_back(id);
  for (int epoch = 0; epoch < 3; ++epoch) {
    std::set<int> seen(all.begin() + epoch * 10, all.begin() + epoch * 10 + 10);
    EXPECT_EQ(seen.size(), 10u) << "epoch " << epoch;
  }
  EXPECT_NE(std::vector<int>(all.begin(), all.begin() + 10), std::vector<int>(all.begin() + 10, all.begin() + 20));  // reshuffled
}

// Success rates 0, 0.1, ..., 0.9 put into the sampler through updates of 10 rollouts each.
std::unique_ptr<PromptSampler> prioritized(bool replacement, double floor = 0.05) {
  SamplerConfig c;
  c.type = SamplerType::Prioritized;
  c.replacement = replacement;
  c.floor = floor;
  auto s = make_prompt_sampler(c, metas(10));
  for (int i = 0; i < 10; ++i) s->update(i, i == 9 ? 10 : i, 10, 0);  // prompt 9 is always solved
  return s;
}

std::vector<double> expected_prioritized(double floor) {
  std::vector<double> w(10);
  double sum = 0;
  for (int i = 0; i < 10; ++i) sum += (w[size_t(i)] = std::max(1.0 - (i == 9 ? 1.0 : i / 10.0), floor));
  for (auto& x : w) x /= sum;
  return w;
}

TEST(PrioritizedSampler, ProbabilitiesFollowOneMinusSuccessWithFloor) {
  auto s = prioritized(true);
  const auto p = s->probabilities();
  const auto want = expected_prioritized(0.05);
  for (int i = 0; i < 10; ++i) EXPECT_NEAR(p[size_t(i)], want[size_t(i)], 1e-12) << i;
  EXPECT_GT(p[9], 0.0);  // solved prompts still appear now and then
}

TEST(PrioritizedSampler, FrequenciesMatchTargetChiSquare) {
  auto s = prioritized(true);
  Rng rng(7);
  std::vector<int> counts(10);
  for (int step = 0; step < 100; ++step)
    for (int id : s->sample(500, rng)) ++counts[size_t(id)];
  EXPECT_LT(chi_square(counts, expected_prioritized(0.05)), kChi2_999_df9);
}

TEST(PrioritizedSampler, WithoutReplacementSingleDrawsMatchTargetAndBatchesHaveNoRepeats) {
  auto s = prioritized(false);
  Rng rng(9);
  std::vector<int> counts(10);
  for (int k = 0; k < 30000; ++k) ++counts[size_t(s->sample(1, rng).at(0))];
  EXPECT_LT(chi_square(counts, expected_prioritized(0.05)), kChi2_999_df9);
  for (int k = 0; k < 50; ++k) {
    const auto b = s->sample(8, rng);
    EXPECT_EQ(std::set<int>(b.begin(), b.end()).size(), 8u);
  }
}

TEST(PrioritizedSampler, PriorAndOfflinePassRateForPromptsWithoutHistory) {
  SamplerConfig c;
  c.type = SamplerType::Prioritized;
  c.prior = 0.2;
  auto m = metas(3);
  m[1].pass_rate = 0.9;
  auto s = make_prompt_sampler(c, m);
  EXPECT_DOUBLE_EQ(s->success_rate(0), 0.2);
  EXPECT_DOUBLE_EQ(s->success_rate(1), 0.9);
  const auto p = s->probabilities();
  EXPECT_NEAR(p[0], 0.8 / (0.8 + 0.1 + 0.8), 1e-12);
}

TEST(SuccessStats, EmaAndWindow) {
  SamplerConfig c;
  c.type = SamplerType::Prioritized;
  c.ema_alpha = 0.5;
  auto s = make_prompt_sampler(c, metas(2));
  s->update(0, 1, 4, 0);
  EXPECT_DOUBLE_EQ(s->success_rate(0), 0.25);  // first update sets the estimate
  s->update(0, 3, 4, 1);
  EXPECT_DOUBLE_EQ(s->success_rate(0), 0.5);   // 0.5 * 0.25 + 0.5 * 0.75
  c.estimator = SuccessEstimator::Window;
  c.window = 2;
  auto w = make_prompt_sampler(c, metas(2));
  w->update(0, 0, 4, 0);
  w->update(0, 3, 4, 1);
  w->update(0, 4, 4, 2);
  EXPECT_DOUBLE_EQ(w->success_rate(0), 7.0 / 8.0);  // the first update has left the window
  EXPECT_THROW(w->update(5, 0, 1, 0), ConfigError);
  EXPECT_THROW(w->update(0, 3, 2, 0), ConfigError);
}

TEST(CurriculumSampler, KimiWarmupThenHardOnly) {
  SamplerConfig c;
  c.type = SamplerType::Curriculum;
  c.warmup_steps = 3;
  c.hard_min_difficulty = 3;
  auto s = make_prompt_sampler(c, metas(20));  // difficulties 0..4 repeating: 8 prompts are >= 3
  Rng rng(3);
  std::set<int> warm, hard;
  for (int step = 0; step < 3; ++step)
    for (int id : s->sample(10, rng)) warm.insert(id % 5);
  EXPECT_TRUE(warm.count(0) && warm.count(1));
  for (int step = 3; step < 20; ++step)
    for (int id : s->sample(8, rng)) hard.insert(id % 5);
  EXPECT_EQ(hard, (std::set<int>{3, 4}));
  const auto p = s->probabilities();
  EXPECT_DOUBLE_EQ(p[4], 1.0 / 8);
  EXPECT_DOUBLE_EQ(p[0], 0.0);
}

TEST(CurriculumSampler, ByPassRateUsesMeasuredSuccess) {
  SamplerConfig c;
  c.type = SamplerType::Curriculum;
  c.curriculum_by = CurriculumBy::PassRate;
  c.warmup_steps = 0;
  c.hard_max_pass_rate = 0.5;
  auto s = make_prompt_sampler(c, metas(4));
  s->update(0, 8, 8, 0);
  s->update(1, 1, 8, 0);
  s->update(2, 7, 8, 0);
  s->update(3, 4, 8, 0);
  const auto p = s->probabilities();
  EXPECT_EQ(p, (std::vector<double>{0, 0.5, 0, 0.5}));
}

TEST(CurriculumSampler, LinearPoolGrowsFromEasiest) {
  SamplerConfig c;
  c.type = SamplerType::Curriculum;
  c.schedule = CurriculumSchedule::Linear;
  c.start_fraction = 0.2;
  c.curriculum_steps = 10;
  auto s = make_prompt_sampler(c, metas(20));
  auto count_pos = [&] {
    int k = 0;
    for (double x : s->probabilities()) k += x > 0;
    return k;
  };
  EXPECT_EQ(count_pos(), 4);
  for (int id = 0; id < 20; ++id)
    if (s->probabilities()[size_t(id)] > 0) {
      EXPECT_EQ(id % 5, 0);  // difficulty 0 first
    }
  s->set_step(5);
  EXPECT_EQ(count_pos(), 12);
  s->set_step(10);
  EXPECT_EQ(count_pos(), 20);
}

void expect_round_trip(SamplerConfig c) {
  auto a = make_prompt_sampler(c, metas(13));
  Rng rng(11);
  for (int step = 0; step < 7; ++step) {
    for (int id : a->sample(5, rng)) a->update(id, int(rng.below(5)), 4 + int(rng.below(1)), step);
  }
  const std::string saved = a->state().dump();
  auto b = make_prompt_sampler(c, metas(13));
  b->load_state(json::parse(saved));
  EXPECT_EQ(b->state().dump(), saved);
  Rng ra = rng, rb = rng;
  for (int step = 7; step < 12; ++step) {
    const auto xa = a->sample(6, ra), xb = b->sample(6, rb);
    ASSERT_EQ(xa, xb) << "step " << step;
    for (int id : xa) {
      a->update(id, 1, 3, step);
      b->update(id, 1, 3, step);
    }
  }
  EXPECT_EQ(a->state().dump(), b->state().dump());
  EXPECT_EQ(a->probabilities(), b->probabilities());
}

TEST(SamplerState, RoundTripIsExactForEveryType) {
  for (auto t : {SamplerType::Uniform, SamplerType::Curriculum, SamplerType::Prioritized})
    for (bool rep : {false, true}) {
      SamplerConfig c;
      c.type = t;
      c.replacement = rep;
      c.curriculum_by = CurriculumBy::PassRate;
      c.warmup_steps = 4;
      c.ema_alpha = 0.37;  // non-dyadic: the EMA must survive JSON exactly
      SCOPED_TRACE(std::string(enum_to_string(t)) + (rep ? " with replacement" : ""));
      expect_round_trip(c);
    }
}

TEST(SamplerState, LoadRejectsMismatches) {
  SamplerConfig c;
  auto a = make_prompt_sampler(c, metas(5));
  json st = a->state();
  c.type = SamplerType::Prioritized;
  EXPECT_THROW(make_prompt_sampler(c, metas(5))->load_state(st), FormatError);
  c.type = SamplerType::Uniform;
  EXPECT_THROW(make_prompt_sampler(c, metas(6))->load_state(st), FormatError);
  st["version"] = 3;
  EXPECT_THROW(make_prompt_sampler(c, metas(5))->load_state(st), FormatError);
  EXPECT_THROW(make_prompt_sampler(c, {}), ConfigError);
}

}  // namespace
}  // namespace reasonrl::sampler

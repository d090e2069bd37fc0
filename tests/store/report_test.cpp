// Tests for the HTML report: every plotted number equals the store's (metrics, success by difficulty, length
// quantiles, weighted reward components, rolling means, evaluations, completions, the sample browser's data), one or
// two runs, constant metrics listed instead of drawn, the page is self-contained, text is escaped, empty stores render.
#include "rl/store/report.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "report_points.h"
#include "rl/store/inspect.h"
#include "rl/store/synthetic.h"
#include "rl/util/error.h"

namespace reasonrl::store {
namespace {

namespace fs = std::filesystem;
using testing::chart_points;
using testing::series_of;

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("reasonrl_report_" + std::to_string(getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    db_ = (dir_ / "rollouts.db").string();
  }
  void TearDown() override { fs::remove_all(dir_); }
  void write_one_sample_run(const std::string& name, const std::string& config, const std::string& component,
                            double value, double reward);
  fs::path dir_;
  std::string db_;
};

SyntheticSpec spec30() {
  SyntheticSpec s;
  s.n_steps = 30;
  return s;
}

// Well-formed UTF-8 (no sequence cut in the middle).
bool valid_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

// Every stored metric is either plotted (exactly) in a metric chart or listed as constant (with its one value).
void expect_metrics_shown(const std::string& html, const RolloutStore& ro, const std::string& run) {
  int dups = 0;
  auto plotted = testing::plotted_metrics(html, run, &dups);
  EXPECT_EQ(dups, 0) << "a metric point is plotted twice";
  for (const auto& c : testing::collapsed_metrics(html)) {
    if (c.run != run) continue;
    Stmt s = ro.db().prepare("SELECT step, value FROM step_metrics WHERE key = ? AND value IS NOT NULL");
    s.bind(1, c.key);
    size_t n = 0;
    while (s.step()) {
      ++n;
      EXPECT_EQ(s.f64(1), c.value) << c.key << " is listed as constant";
      EXPECT_TRUE(plotted.emplace(std::make_pair(c.key, std::to_string(s.i64(0))), s.f64(1)).second) << c.key;
    }
    EXPECT_EQ(n, c.n) << c.key;
  }
  const auto stored = testing::db_metrics(ro);
  EXPECT_EQ(plotted.size(), stored.size());
  for (const auto& [k, v] : stored) {
    auto it = plotted.find(k);
    ASSERT_NE(it, plotted.end()) << "not shown: " << k.first << " at step " << k.second;
    EXPECT_EQ(it->second, v) << k.first << " at step " << k.second;  // exact: shortest round-trip text
  }
}

TEST_F(ReportTest, MetricChartsCarryExactlyTheStoredMetrics) {
  {
    auto st = RolloutStore::open(db_);
    write_synthetic_run(st, spec30());
  }
  write_report(db_, (dir_ / "r.html").string());
  const std::string html = read_file((dir_ / "r.html").string());
  auto ro = RolloutStore::open(db_, true);
  const auto charts = chart_points(html);
  expect_metrics_shown(html, ro, "synthetic");
  // The charts the issue names hold the series they should.
  EXPECT_EQ(series_of(charts.at("reward")),
            (std::set<std::string>{"reward/mean", "reward/accuracy", "reward/format", "reward/length"}));
  EXPECT_EQ(series_of(charts.at("pass_rate")), (std::set<std::string>{"accuracy", "pass_rate"}));
  EXPECT_EQ(series_of(charts.at("length")), (std::set<std::string>{"len/mean", "len/p90"}));
  for (const char* k : {"kl", "entropy", "clip_frac", "staleness", "tokens_per_s"})
    EXPECT_EQ(series_of(charts.at(k)), (std::set<std::string>{k})) << k;
  EXPECT_EQ(series_of(charts.at("time")),
            (std::set<std::string>{"time/rollout_ms", "time/reward_ms", "time/update_ms", "time/step_ms"}));
  EXPECT_EQ(charts.at("kl").size(), 30u);
  EXPECT_TRUE(testing::collapsed_metrics(html).empty());  // nothing in the synthetic run is constant
}

TEST_F(ReportTest, SampleChartsMatchSql) {
  {
    auto st = RolloutStore::open(db_);
    write_synthetic_run(st, spec30());
  }
  auto ro = RolloutStore::open(db_, true);
  const std::string html = render_report(ro);
  const auto charts = chart_points(html);
  // Success by difficulty: first half (steps 0..14) and second half (15..29).
  std::map<std::pair<std::string, std::string>, double> want;
  Stmt s = ro.db().prepare(
      "SELECT CASE WHEN step <= 14 THEN 'steps 0..14' ELSE 'steps 15..29' END, difficulty, avg(correct) "
      "FROM samples_view GROUP BY 1, 2");
  while (s.step()) want[{s.text(0), std::to_string(s.i64(1))}] = s.f64(2);
  const auto& bars = charts.at("difficulty");
  ASSERT_EQ(bars.size(), want.size());
  for (const auto& b : bars) EXPECT_DOUBLE_EQ(b.y, want.at({b.series, b.x})) << b.series << " " << b.x;
  // Length quantiles per step (no pooled histogram): p10, p50, p90 of each step's n_tokens, computed here from the
  // sorted lengths by linear interpolation between order statistics (numpy's default).
  EXPECT_EQ(charts.count("length_hist"), 0u);
  const auto& q = charts.at("length_quantiles");
  ASSERT_EQ(q.size(), 3u * 30u);
  for (const auto& p : q) {
    Stmt l = ro.db().prepare("SELECT n_tokens FROM samples WHERE step = ? ORDER BY n_tokens");
    l.bind(1, static_cast<int64_t>(std::stoll(p.x)));
    std::vector<double> v;
    while (l.step()) v.push_back(static_cast<double>(l.i64(0)));
    const double f = p.series == "p10" ? 0.1 : p.series == "p50" ? 0.5 : 0.9;
    const double pos = f * static_cast<double>(v.size() - 1);
    const size_t i = static_cast<size_t>(pos);
    const double expect = i + 1 < v.size() ? v[i] + (pos - static_cast<double>(i)) * (v[i + 1] - v[i]) : v[i];
    EXPECT_NEAR(p.y, expect, 1e-9) << p.series << " at step " << p.x;
  }
  // Evaluations: pass@1 against mean tokens, one point per evaluation.
  std::map<double, double> evals;
  Stmt e = ro.db().prepare(
      "SELECT a.value, b.value FROM evaluations a JOIN evaluations b USING (step, split, stage) "
      "WHERE a.key = 'mean_tokens' AND b.key = 'pass@1'");
  while (e.step()) evals[e.f64(0)] = e.f64(1);
  const auto& sc = charts.at("eval_tradeoff");
  ASSERT_EQ(sc.size(), evals.size());
  for (const auto& p : sc) EXPECT_EQ(p.y, evals.at(std::stod(p.x)));
  // Completions: the best table starts with the highest reward, the truncated one holds only truncated samples.
  const std::string best = html.substr(html.find("id=\"best\""));
  const std::string first_reward = testing::attr(best.substr(best.find("<td class=\"num\" data-reward")), "data-reward");
  Stmt qr = ro.db().prepare("SELECT max(reward) FROM samples");
  ASSERT_TRUE(qr.step());
  EXPECT_EQ(std::stod(first_reward), qr.f64(0));
  const size_t t0 = html.find("id=\"truncated\""), t1 = html.find("</section>", t0);
  const std::string trunc = html.substr(t0, t1 - t0);
  size_t n_len = 0;
  for (size_t p = trunc.find("<td>length</td>"); p != std::string::npos; p = trunc.find("<td>length</td>", p + 1)) ++n_len;
  EXPECT_EQ(n_len, 5u);
  EXPECT_EQ(trunc.find("<td>stop</td>"), std::string::npos);
}

// A fresh database holding one run (name, stored config) with one sample: one reward component and the total.
void ReportTest::write_one_sample_run(const std::string& name, const std::string& config, const std::string& component,
                                      double value, double reward) {
  fs::remove(db_);
  auto st = RolloutStore::open(db_);
  st.begin_run({name, config, "v", 1, ""});
  st.upsert_prompts({{0, "d", "", "p", "g", 1}});
  SampleRecord s;
  s.reward_components[component] = value;
  s.reward = reward;
  s.finish_reason = "stop";
  st.write_step({0, {}}, {s});
}

// The weighted reward components of each step add up to the step's mean total reward, each part being
// weight * (mean of the component over all samples, n/a = 0), with the weights from the run's config.
TEST_F(ReportTest, WeightedRewardComponentsStackToTheMeanReward) {
  {
    auto st = RolloutStore::open(db_);
    st.begin_run({"weighted", R"({"rewards": {"weights": {"format": 0.5, "length": 2}}})", "v", 1, ""});
    st.upsert_prompts({{0, "d", "", "p", "g", 1}});
    for (int64_t step = 0; step < 6; ++step) {
      std::vector<SampleRecord> ss;
      for (int i = 0; i < 4; ++i) {
        SampleRecord s;
        s.step = step;
        s.prompt_id = 0;
        s.group_index = i;
        s.finish_reason = "stop";
        s.correct = (i + step) % 3 == 0;
        s.reward_components["accuracy"] = s.correct ? 1.0 : 0.0;
        s.reward_components["format"] = i % 2 ? 1.0 : 0.0;
        s.reward_components["length"] = s.correct ? std::optional<double>(-0.05 * (i + 1)) : std::nullopt;
        s.reward = *s.reward_components["accuracy"] + 0.5 * *s.reward_components["format"] +
                   2 * s.reward_components["length"].value_or(0);
        ss.push_back(s);
      }
      st.write_step({step, {{"kl", 0.1 * static_cast<double>(step)}}}, ss);
    }
  }
  auto ro = RolloutStore::open(db_, true);
  const std::string html = render_report(ro);
  const auto charts = chart_points(html);
  const auto& pts = charts.at("reward_weighted");
  std::map<std::string, double> sum_parts;
  size_t n_parts = 0;
  for (const auto& p : pts) {
    if (p.series.rfind("total", 0) == 0) continue;
    ++n_parts;
    sum_parts[p.x] += p.y;
    const std::string comp = p.series.substr(0, p.series.find(' '));
    const double w = comp == "format" ? 0.5 : comp == "length" ? 2 : 1;
    EXPECT_NE(p.series.find(fmt::format("{}", w)), std::string::npos) << p.series;
    Stmt s = ro.db().prepare("SELECT sum(coalesce(r.value, 0)) / (SELECT count(*) FROM samples WHERE step = ?1) "
                             "FROM sample_rewards r JOIN samples s ON s.id = r.sample_id WHERE s.step = ?1 AND r.component = ?2");
    s.bind(1, static_cast<int64_t>(std::stoll(p.x))).bind(2, comp);
    ASSERT_TRUE(s.step());
    EXPECT_NEAR(p.y, w * s.f64(0), 1e-12) << p.series << " at step " << p.x;
  }
  EXPECT_EQ(n_parts, 3u * 6u);
  Stmt m = ro.db().prepare("SELECT step, avg(reward) FROM samples GROUP BY step");
  while (m.step()) EXPECT_NEAR(sum_parts[std::to_string(m.i64(0))], m.f64(1), 1e-12) << "step " << m.i64(0);
  EXPECT_NE(html.find("every sample&#39;s total is the weighted sum"), std::string::npos);
  // A total the weights do not explain is counted and shown.
  write_one_sample_run("bad", "{}", "accuracy", 1.0, 0.25);
  EXPECT_NE(render_report(RolloutStore::open(db_, true)).find("1 sample totals are NOT the weighted sum"), std::string::npos);
  // Weights that cannot be read are said to be unread (and taken as 1), not reported as "none given".
  write_one_sample_run("unreadable", R"({"rewards": {"weights": {"format": "half"}}})", "format", 1.0, 0.5);
  const std::string unread = render_report(RolloutStore::open(db_, true));
  EXPECT_NE(unread.find("rewards.weights in the run&#39;s stored config could not be read"), std::string::npos);
  EXPECT_EQ(unread.find("none given (all 1)"), std::string::npos);
}

// Noisy series get a trailing rolling mean (window max(5, n/20)); a trend does not.
TEST_F(ReportTest, RollingMeansOnNoisySeriesOnly) {
  {
    auto st = RolloutStore::open(db_);
    write_synthetic_run(st, spec30());
  }
  auto ro = RolloutStore::open(db_, true);
  const std::string html = render_report(ro);
  // clip_frac is uniform noise around 0.065; kl is a rising line with a little noise.
  const auto smooth = testing::tags_in(html, "clip_frac", "path", "smooth");
  ASSERT_EQ(smooth.size(), 2u);  // the step view and the wall-time view
  EXPECT_EQ(testing::attr(smooth[0], "data-window"), "5");
  const auto ys = testing::numbers(testing::attr(smooth[0], "data-ys"));
  Stmt s = ro.db().prepare("SELECT value FROM step_metrics WHERE key = 'clip_frac' ORDER BY step");
  std::vector<double> v;
  while (s.step()) v.push_back(s.f64(0));
  ASSERT_EQ(ys.size(), v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    double sum = 0;
    const size_t from = i >= 4 ? i - 4 : 0;
    for (size_t k = from; k <= i; ++k) sum += v[k];
    EXPECT_NEAR(ys[i], sum / static_cast<double>(i - from + 1), 1e-12) << i;
  }
  EXPECT_TRUE(testing::tags_in(html, "kl", "path", "smooth").empty());
  ReportOptions off;
  off.smooth_min_points = 0;
  EXPECT_TRUE(testing::tags_in(render_report(ro, off), "clip_frac", "path", "smooth").empty());
}

// A chart whose series are all constant is not drawn but listed with its value.
TEST_F(ReportTest, ConstantMetricsAreCollapsed) {
  {
    auto st = RolloutStore::open(db_);
    st.begin_run({"flat", "{}", "v", 1, ""});
    for (int64_t step = 0; step < 5; ++step)
      st.write_step({step, {{"kl", 0.01 * static_cast<double>(step)}, {"clip_frac", 0}, {"loss/zero", 0}, {"x", 3}}}, {});
  }
  auto ro = RolloutStore::open(db_, true);
  const std::string html = render_report(ro);
  const auto charts = chart_points(html);
  EXPECT_EQ(charts.at("kl").size(), 5u);
  for (const char* id : {"clip_frac", "metric:loss/zero", "metric:x"}) EXPECT_EQ(charts.count(id), 0u) << id;
  std::set<std::string> keys;
  for (const auto& c : testing::collapsed_metrics(html)) keys.insert(c.key);
  EXPECT_EQ(keys, (std::set<std::string>{"clip_frac", "loss/zero", "x"}));
  expect_metrics_shown(html, ro, "flat");
  // Two runs: each run's constant keys are listed under its label, by their plain key.
  const std::string two = render_report({{&ro, "A"}, {&ro, "B"}});
  EXPECT_TRUE(valid_utf8(two));
  std::set<std::pair<std::string, std::string>> listed;
  for (const auto& c : testing::collapsed_metrics(two)) listed.insert({c.run, c.key});
  EXPECT_EQ(listed.size(), 6u);
  EXPECT_TRUE(listed.count({"B", "loss/zero"}));
  expect_metrics_shown(two, ro, "A");
  expect_metrics_shown(two, ro, "B");
}

// Two runs overlaid: every chart carries each run's own numbers under its label; the wall-time view places each
// point at the running sum of time/step_ms; equal run names are told apart.
TEST_F(ReportTest, TwoRunsOverlaid) {
  const std::string db_b = (dir_ / "b.db").string();
  {
    auto a = RolloutStore::open(db_);
    write_synthetic_run(a, spec30());
    SyntheticSpec sb = spec30();
    sb.seed = 7;
    sb.n_steps = 20;
    sb.name = "other";
    auto b = RolloutStore::open(db_b);
    write_synthetic_run(b, sb);
  }
  auto ra = RolloutStore::open(db_, true), rb = RolloutStore::open(db_b, true);
  EXPECT_EQ(run_labels({&ra, &rb}, {}), (std::vector<std::string>{"synthetic", "other"}));
  EXPECT_EQ(run_labels({&ra, &ra}, {}), (std::vector<std::string>{"synthetic", "synthetic (2)"}));
  EXPECT_EQ(run_labels({&ra, &rb}, {"GRPO", ""}), (std::vector<std::string>{"GRPO", "other"}));
  EXPECT_THROW(run_labels({&ra, &rb}, {"GRPO"}), Error);
  const std::string html = render_report({{&ra, "GRPO"}, {&rb, "SFT"}});
  EXPECT_TRUE(valid_utf8(html));
  expect_metrics_shown(html, ra, "GRPO");
  expect_metrics_shown(html, rb, "SFT");
  const auto charts = chart_points(html);
  EXPECT_EQ(series_of(charts.at("kl")), (std::set<std::string>{"GRPO \xC2\xB7 kl", "SFT \xC2\xB7 kl"}));
  EXPECT_EQ(charts.at("kl").size(), 50u);
  // Quantile bands for both runs, a weighted-reward stack per run, completions per run.
  std::set<std::string> qruns;
  for (const auto& p : charts.at("length_quantiles")) qruns.insert(p.run);
  EXPECT_EQ(qruns, (std::set<std::string>{"GRPO", "SFT"}));
  EXPECT_EQ(charts.count("reward_weighted-0") + charts.count("reward_weighted-1"), 2u);
  EXPECT_NE(html.find("id=\"best-1\""), std::string::npos);
  // Wall time: the kl paths of the x-time view carry the elapsed seconds.
  const auto lines = testing::tags_in(html, "kl", "path", "line");
  std::vector<std::string> xs;
  for (const auto& l : lines)
    if (!testing::attr(l, "data-xs").empty()) xs.push_back(testing::attr(l, "data-xs"));
  ASSERT_EQ(xs.size(), 2u);
  const auto tb = testing::numbers(xs[1]);
  Stmt s = rb.db().prepare("SELECT value FROM step_metrics WHERE key = 'time/step_ms' ORDER BY step");
  double t = 0;
  size_t i = 0;
  while (s.step()) {
    t += s.f64(0) / 1000;
    ASSERT_LT(i, tb.size());
    EXPECT_NEAR(tb[i++], t, 1e-9);
  }
  EXPECT_EQ(i, tb.size());
  EXPECT_NE(html.find("name=\"xaxis\" value=\"time\""), std::string::npos);
  EXPECT_NE(html.find("<title>GRPO vs SFT"), std::string::npos);
}

// The sample browser embeds whole steps, evenly spaced, first and last included, bounded per step by whole groups.
TEST_F(ReportTest, SampleBrowserEmbedsTheChosenSamples) {
  {
    auto st = RolloutStore::open(db_);
    write_synthetic_run(st, spec30());  // 8 groups of 4 per step
  }
  auto ro = RolloutStore::open(db_, true);
  ReportOptions opt;
  opt.browser_steps = 4;
  opt.browser_per_step = 10;  // two whole groups of 4
  opt.browser_text_chars = 50;
  const std::string html = render_report(ro, opt);
  const std::string open = "<script type=\"application/json\" id=\"samples-data\">";
  const size_t b = html.find(open);
  ASSERT_NE(b, std::string::npos);
  const json d = json::parse(html.substr(b + open.size(), html.find("</script>", b) - b - open.size()));
  std::map<int64_t, int> per_step;
  for (const auto& row : d["samples"]) {
    ++per_step[row[2].get<int64_t>()];
    const json full = sample_json(ro, row[1].get<int64_t>());  // the row is that sample's
    EXPECT_EQ(row[2], full["step"]);
    EXPECT_EQ(row[3], full["prompt_id"]);
    EXPECT_EQ(row[5].get<bool>(), full["correct"].get<bool>());
    EXPECT_EQ(row[6], full["finish_reason"]);
    EXPECT_EQ(row[7], full["n_tokens"]);
    const std::string text = full["text"].get<std::string>();
    EXPECT_EQ(row[9].get<std::string>(), text.substr(0, 50));
    EXPECT_EQ(row[10].get<bool>(), text.size() > 50);
    EXPECT_LT(full["group_id"].get<int>(), 2);
  }
  EXPECT_EQ(per_step, (std::map<int64_t, int>{{0, 8}, {10, 8}, {19, 8}, {29, 8}}));
  EXPECT_NE(html.find("data-embedded=\"32\" data-total=\"960\""), std::string::npos);
  opt.browser_steps = 0;
  EXPECT_EQ(render_report(ro, opt).find(open), std::string::npos);
}

TEST_F(ReportTest, SelfContainedAndEscaped) {
  {
    auto st = RolloutStore::open(db_);
    st.begin_run({"<b>run</b>", "{\"a\": \"</script>\"}", "v", 1, ""});
    st.upsert_prompts({{0, "d", "", "is 1 < 2 & \"x\"?", "<yes>", 1}});
    SampleRecord s;
    s.prompt_id = 0;
    s.text = "<script>alert('x')</script> bad byte \xD8" "1 cut \xE2\x82";
    s.finish_reason = "stop";
    s.reward = 1;
    st.write_step({0, {{"kl", 0.5}}}, {s});
  }
  auto ro = RolloutStore::open(db_, true);
  const std::string html = render_report(ro);
  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"), std::string::npos);
  EXPECT_EQ(html.find("<b>run</b>"), std::string::npos);
  EXPECT_EQ(html.find("</script>\""), std::string::npos);
  // No network: nothing loaded from elsewhere.
  for (const char* bad : {"src=", "<link", "@import", "url(", "http://", "https://"})
    EXPECT_EQ(html.find(bad), std::string::npos) << bad;
  EXPECT_EQ(std::count(html.begin(), html.end(), '\0'), 0);
  // Bytes a model emitted that are not UTF-8 are shown as U+FFFD: the page stays well-formed. The store replaces them
  // when it writes (schema 4), one U+FFFD per ill-formed sequence as Python's decode(errors="replace"): the cut
  // 3-byte sequence E2 82 is one.
  EXPECT_TRUE(valid_utf8(html));
  EXPECT_NE(html.find("bad byte \xEF\xBF\xBD" "1 cut \xEF\xBF\xBD"), std::string::npos);
  EXPECT_EQ(html.find("\xEF\xBF\xBD\xEF\xBF\xBD"), std::string::npos);
}

TEST_F(ReportTest, EmptyStoreRendersWithNotes) {
  { auto st = RolloutStore::open(db_); }
  auto ro = RolloutStore::open(db_, true);
  const std::string html = render_report(ro);
  EXPECT_NE(html.find("no data in this run"), std::string::npos);
  EXPECT_NE(html.find("no evaluations in this run"), std::string::npos);
  EXPECT_EQ(chart_points(html).at("kl").size(), 0u);
}

TEST_F(ReportTest, EvaluationStagesArePlottedAsPassAt1AgainstMeanTokens) {
  {
    auto st = RolloutStore::open(db_);
    st.write_eval({0, "heldout", "long", {{"pass@1", 0.5}, {"mean_tokens", 900}}});
    st.write_eval({1, "heldout", "merge", {{"pass@1", 0.45}, {"mean_tokens", 400}}});
    st.write_eval({2, "heldout", "shortest", {{"pass@1", 0.4}, {"mean_tokens", 250}}});
  }
  auto ro = RolloutStore::open(db_, true);
  const auto charts = chart_points(render_report(ro));
  const auto& sc = charts.at("eval_tradeoff");
  ASSERT_EQ(sc.size(), 3u);
  EXPECT_EQ(series_of(sc), (std::set<std::string>{"heldout / long", "heldout / merge", "heldout / shortest"}));
  for (const auto& p : sc) {
    if (p.series == "heldout / merge") {
      EXPECT_EQ(p.x, "400");
      EXPECT_EQ(p.y, 0.45);
    }
  }
  EXPECT_EQ(charts.at("eval_steps").size(), 3u);
}

TEST_F(ReportTest, MissingDatabaseIsAnIoError) {
  EXPECT_THROW(write_report((dir_ / "nope.db").string(), (dir_ / "r.html").string()), IoError);
  EXPECT_FALSE(fs::exists(dir_ / "r.html"));
}

}  // namespace
}  // namespace reasonrl::store

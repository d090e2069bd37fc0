// Tests for the HTML report: every plotted number equals the store's (metrics, success by difficulty, the length
// histogram, evaluations, completions), the page is self-contained, text is escaped, and empty stores render.
#include "rl/store/report.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "report_points.h"
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
  fs::path dir_;
  std::string db_;
};

SyntheticSpec spec30() {
  SyntheticSpec s;
  s.n_steps = 30;
  return s;
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
  int dups = 0;
  const auto plotted = testing::plotted_metrics(charts, &dups);
  EXPECT_EQ(dups, 0) << "a metric point is plotted twice";
  const auto stored = testing::db_metrics(ro);
  EXPECT_EQ(plotted.size(), stored.size());
  for (const auto& [k, v] : stored) {
    auto it = plotted.find(k);
    ASSERT_NE(it, plotted.end()) << "not plotted: " << k.first << " at step " << k.second;
    EXPECT_EQ(it->second, v) << k.first << " at step " << k.second;  // exact: shortest round-trip text
  }
  // The charts the issue names hold the series they should.
  EXPECT_EQ(series_of(charts.at("reward")),
            (std::set<std::string>{"reward/mean", "reward/accuracy", "reward/format", "reward/length"}));
  EXPECT_EQ(series_of(charts.at("pass_rate")), (std::set<std::string>{"accuracy", "pass_rate"}));
  EXPECT_EQ(series_of(charts.at("length")), (std::set<std::string>{"len/mean", "len/p90"}));
  for (const char* k : {"kl", "entropy", "clip_frac", "staleness", "tokens_per_s"})
    EXPECT_EQ(series_of(charts.at(k)), (std::set<std::string>{k})) << k;
  EXPECT_EQ(series_of(charts.at("time")),
            (std::set<std::string>{"time/rollout_ms", "time/reward_ms", "time/update_ms"}));
  EXPECT_EQ(charts.at("kl").size(), 30u);
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
  // Length histogram: every sample counted once, correct and incorrect apart.
  double correct = 0, incorrect = 0;
  for (const auto& b : charts.at("length_hist")) (b.series == "correct" ? correct : incorrect) += b.y;
  EXPECT_EQ(correct, ro.db().scalar_i64("SELECT count(*) FROM samples WHERE correct = 1"));
  EXPECT_EQ(incorrect, ro.db().scalar_i64("SELECT count(*) FROM samples WHERE correct = 0"));
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
  Stmt q = ro.db().prepare("SELECT max(reward) FROM samples");
  ASSERT_TRUE(q.step());
  EXPECT_EQ(std::stod(first_reward), q.f64(0));
  const size_t t0 = html.find("id=\"truncated\""), t1 = html.find("</section>", t0);
  const std::string trunc = html.substr(t0, t1 - t0);
  size_t n_len = 0;
  for (size_t p = trunc.find("<td>length</td>"); p != std::string::npos; p = trunc.find("<td>length</td>", p + 1)) ++n_len;
  EXPECT_EQ(n_len, 5u);
  EXPECT_EQ(trunc.find("<td>stop</td>"), std::string::npos);
}

TEST_F(ReportTest, SelfContainedAndEscaped) {
  {
    auto st = RolloutStore::open(db_);
    st.begin_run({"<b>run</b>", "{\"a\": \"</script>\"}", "v", 1, ""});
    st.upsert_prompts({{0, "d", "", "is 1 < 2 & \"x\"?", "<yes>", 1}});
    SampleRecord s;
    s.prompt_id = 0;
    s.text = "<script>alert('x')</script>";
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

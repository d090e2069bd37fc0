// Renders the HTML report in headless Chromium (Debian `chromium`): the page runs its script with no console message,
// the rendered DOM carries the store's numbers, and a screenshot is written; two runs overlaid show both runs'
// colours in the screenshot's pixels; the sample browser filters. A page with a deliberate script error
// shows that console errors are caught. Skipped, with a message, when chromium is not installed.
#include <gtest/gtest.h>
#include "tests/require.h"
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>

#include "report_points.h"
#include "rl/store/report.h"
#include "rl/store/synthetic.h"
#include "rl/util/error.h"

namespace reasonrl::store {
namespace {

namespace fs = std::filesystem;

std::string find_chromium() {
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"})
    if (fs::exists(p)) return p;
  return "";
}

struct Render {
  int rc = -1;
  std::string dom, console;  // console: the CONSOLE lines Chromium logged
};

// One headless run: dump the DOM after load and take a screenshot. `fragment` ("#focus=kl"...) presets the view.
Render render(const std::string& chromium, const fs::path& html, const fs::path& png, const fs::path& work,
              const std::string& fragment = "", const std::string& window = "1280,3600") {
  const std::string tag = png.stem().string();
  const fs::path profile = work / ("profile_" + tag);
  fs::remove_all(profile);
  const fs::path dom = work / (tag + ".dom"), err = work / (tag + ".err");
  const std::string cmd = chromium +
                          " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
                          " --disable-background-networking --disable-component-update --disable-sync"
                          " --disable-extensions --user-data-dir=" + profile.string() +
                          " --enable-logging=stderr --v=0 --window-size=" + window + " --screenshot=" + png.string() +
                          " --dump-dom 'file://" + html.string() + fragment + "' >" + dom.string() + " 2>" + err.string();
  Render r;
  r.rc = std::system(cmd.c_str());
  r.dom = read_file(dom.string());
  const std::string log = read_file(err.string());
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);)
    if (line.find(":CONSOLE") != std::string::npos) r.console += line + "\n";
  fs::remove_all(profile);
  return r;
}

class ReportBrowser : public ::testing::Test {
 protected:
  void SetUp() override {
    chromium_ = find_chromium();
    REASONRL_REQUIRE_OR_SKIP(!chromium_.empty(), "chromium is not installed (scripts/install-deps.sh --test installs it)");
    dir_ = fs::temp_directory_path() / ("reasonrl_report_browser_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty() && !std::getenv("REASONRL_KEEP_REPORT")) fs::remove_all(dir_);
  }
  std::string chromium_;
  fs::path dir_;
};

TEST_F(ReportBrowser, NoConsoleErrorsAndTheDomCarriesTheStoredNumbers) {
  const std::string db = (dir_ / "rollouts.db").string();
  SyntheticSpec spec;
  spec.n_steps = 40;
  {
    auto st = RolloutStore::open(db);
    write_synthetic_run(st, spec);
  }
  const fs::path html = dir_ / "report.html", png = dir_ / "report.png";
  write_report(db, html.string());
  const Render r = render(chromium_, html, png, dir_);
  ASSERT_EQ(r.rc, 0);
  EXPECT_EQ(r.console, "") << "console messages while rendering the report";
  // The script ran to its end, and counted every plotted point.
  const std::string page = read_file(html.string());
  size_t n_pts = 0;
  for (const auto& [id, pts] : testing::chart_points(page)) n_pts += pts.size();
  EXPECT_NE(r.dom.find("data-ready=\"1\""), std::string::npos);
  EXPECT_NE(r.dom.find("data-points=\"" + std::to_string(n_pts) + "\""), std::string::npos) << n_pts;
  // The rendered DOM's charts carry exactly the numbers in the database (nothing in this run is constant).
  auto ro = RolloutStore::open(db, true);
  int dups = 0;
  const auto plotted = testing::plotted_metrics(r.dom, "synthetic", &dups);
  const auto stored = testing::db_metrics(ro);
  EXPECT_EQ(dups, 0);
  EXPECT_EQ(plotted, stored);
  // The sample browser ran: with no filter every embedded sample matches.
  const std::string count_tag = r.dom.substr(r.dom.find("id=\"samples-count\""));
  EXPECT_EQ(testing::attr(" " + count_tag.substr(0, count_tag.find('>')), "data-matches"),
            testing::attr(" " + r.dom.substr(r.dom.find("data-embedded=")), "data-embedded"));
  // A screenshot was taken (a PNG of some substance).
  ASSERT_TRUE(fs::exists(png));
  EXPECT_GT(fs::file_size(png), 20000u);
  EXPECT_EQ(read_file(png.string()).substr(1, 3), "PNG");
  std::printf("screenshot: %s (%ju bytes); set REASONRL_KEEP_REPORT=1 to keep it\n", png.c_str(),
              static_cast<uintmax_t>(fs::file_size(png)));
}

// Counts the screenshot's pixels near each colour (tests/store/png_colors.py: a PNG decoder on Python's zlib).
std::map<std::string, long> colour_counts(const fs::path& png, const std::vector<std::string>& colours) {
  const std::string python = std::string(REASONRL_PYTHON).empty() ? "/usr/bin/python3" : REASONRL_PYTHON;
  std::string cmd = python + " " REASONRL_SOURCE_DIR "/tests/store/png_colors.py " + png.string();
  for (const auto& c : colours) cmd += " " + c;
  const fs::path out = png.string() + ".json";
  EXPECT_EQ(std::system((cmd + " >" + out.string()).c_str()), 0) << cmd;
  std::map<std::string, long> m;
  const json j = json::parse(read_file(out.string()));
  for (const auto& c : colours) m[c] = j.at(c).get<long>();
  return m;
}

// Two runs overlaid: the kl chart, shown alone (#focus=kl), has pixels of both runs' colours in quantity (a line of
// 30 or 40 points and its markers); hiding the second run (#hide=B) leaves its colour only on the legend swatch, which
// shows the check would catch a missing series. The wall-time view renders both runs too, and the sample browser's
// filters preset from the address select what SQL selects.
TEST_F(ReportBrowser, OverlayOfTwoRunsRendersBothSeries) {
  const std::string db_a = (dir_ / "a.db").string(), db_b = (dir_ / "b.db").string();
  SyntheticSpec sa, sb;
  sa.n_steps = 40;
  sa.name = "A";
  sb.n_steps = 30;
  sb.seed = 9;
  sb.name = "B";
  write_synthetic_file(db_a, sa);
  write_synthetic_file(db_b, sb);
  const fs::path html = dir_ / "overlay.html";
  write_report({db_a, db_b}, html.string());
  const std::string blue = "1f77b4", orange = "ff7f0e";  // the palette's first two colours: runs A and B
  const Render both = render(chromium_, html, dir_ / "both.png", dir_, "#focus=kl", "1100,700");
  ASSERT_EQ(both.rc, 0);
  EXPECT_EQ(both.console, "");
  auto n = colour_counts(dir_ / "both.png", {blue, orange});
  std::printf("overlay kl chart: %ld pixels of run A's colour, %ld of run B's\n", n[blue], n[orange]);
  constexpr long kEnough = 400;  // the legend swatch alone is 10 x 10 CSS pixels
  EXPECT_GT(n[blue], kEnough);
  EXPECT_GT(n[orange], kEnough) << "the second run's series is not drawn";
  const Render hidden = render(chromium_, html, dir_ / "hidden.png", dir_, "#focus=kl&hide=B", "1100,700");
  ASSERT_EQ(hidden.rc, 0);
  n = colour_counts(dir_ / "hidden.png", {blue, orange});
  std::printf("with run B hidden: %ld and %ld\n", n[blue], n[orange]);
  EXPECT_GT(n[blue], kEnough);
  EXPECT_LT(n[orange], kEnough);
  const Render by_time = render(chromium_, html, dir_ / "time.png", dir_, "#focus=kl&x=time", "1100,700");
  ASSERT_EQ(by_time.rc, 0);
  EXPECT_NE(by_time.dom.find("class=\"by-time"), std::string::npos);
  n = colour_counts(dir_ / "time.png", {blue, orange});
  std::printf("wall-time view: %ld and %ld\n", n[blue], n[orange]);
  EXPECT_GT(n[blue], kEnough);
  EXPECT_GT(n[orange], kEnough);
  // The browser, filtered from the address: run B, steps 3..5, correct answers only.
  const Render f = render(chromium_, html, dir_ / "filter.png", dir_, "#run=B&step=3:5&correct=yes");
  ASSERT_EQ(f.rc, 0);
  const size_t at = f.dom.find("id=\"samples-count\"");
  ASSERT_NE(at, std::string::npos);
  const std::string matches = testing::attr(" " + f.dom.substr(at, f.dom.find('>', at) - at), "data-matches");
  const int64_t want = RolloutStore::open(db_b, true).db().scalar_i64(
      "SELECT count(*) FROM samples WHERE step BETWEEN 3 AND 5 AND correct = 1");
  ASSERT_GT(want, 0);
  EXPECT_EQ(matches, std::to_string(want));
  const size_t b0 = f.dom.find("id=\"samples-body\""), b1 = f.dom.find("</tbody>", b0);
  ASSERT_NE(b0, std::string::npos);
  size_t rows = 0, of_b = 0;
  for (size_t p = f.dom.find("<tr ", b0); p < b1; p = f.dom.find("<tr ", p + 1)) {
    ++rows;
    of_b += testing::attr(f.dom.substr(p, f.dom.find('>', p) - p), "data-run") == "B";
  }
  EXPECT_EQ(static_cast<int64_t>(rows), want);
  EXPECT_EQ(of_b, rows);
}

TEST_F(ReportBrowser, ConsoleErrorsAreCaught) {
  const fs::path html = dir_ / "bad.html";
  write_file_atomic(html.string(),
                    "<!DOCTYPE html><html><body><p>x</p><script>console.error('deliberate');"
                    " notDefinedAnywhere();</script></body></html>\n");
  const Render r = render(chromium_, html, dir_ / "bad.png", dir_);
  EXPECT_NE(r.console.find("deliberate"), std::string::npos) << r.console;
  EXPECT_NE(r.console.find("notDefinedAnywhere"), std::string::npos) << r.console;
}

}  // namespace
}  // namespace reasonrl::store

// Renders the HTML report in headless Chromium (Debian `chromium`): the page runs its script with no console message,
// the rendered DOM carries the store's numbers, and a screenshot is written. A page with a deliberate script error
// shows that console errors are caught. Skipped, with a message, when chromium is not installed.
#include <gtest/gtest.h>
#include "tests/require.h"
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
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

// One headless run: dump the DOM after load and take a screenshot.
Render render(const std::string& chromium, const fs::path& html, const fs::path& png, const fs::path& work) {
  const fs::path profile = work / ("profile_" + html.stem().string());
  fs::remove_all(profile);
  const fs::path dom = work / (html.stem().string() + ".dom"), err = work / (html.stem().string() + ".err");
  const std::string cmd = chromium +
                          " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
                          " --disable-background-networking --disable-component-update --disable-sync"
                          " --disable-extensions --user-data-dir=" + profile.string() +
                          " --enable-logging=stderr --v=0 --window-size=1280,3600 --screenshot=" + png.string() +
                          " --dump-dom file://" + html.string() + " >" + dom.string() + " 2>" + err.string();
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
  // The rendered DOM's charts carry exactly the numbers in the database.
  auto ro = RolloutStore::open(db, true);
  int dups = 0;
  const auto plotted = testing::plotted_metrics(testing::chart_points(r.dom), &dups);
  const auto stored = testing::db_metrics(ro);
  EXPECT_EQ(dups, 0);
  EXPECT_EQ(plotted, stored);
  // A screenshot was taken (a PNG of some substance).
  ASSERT_TRUE(fs::exists(png));
  EXPECT_GT(fs::file_size(png), 20000u);
  EXPECT_EQ(read_file(png.string()).substr(1, 3), "PNG");
  std::printf("screenshot: %s (%ju bytes); set REASONRL_KEEP_REPORT=1 to keep it\n", png.c_str(),
              static_cast<uintmax_t>(fs::file_size(png)));
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

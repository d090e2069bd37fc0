// cmd_report.cpp: `reasonrl report A.db [B.db ...] -o report.html`: one self-contained HTML page of charts, a sample
// browser and completions, several runs overlaid.
#include <filesystem>
#include <iostream>
#include <memory>

#include "rl/cli/commands.h"
#include "rl/store/report.h"
#include "rl/util/error.h"

namespace reasonrl::cli {

void add_report_command(CLI::App& app) {
  struct Opts {
    std::vector<std::string> dbs, labels;
    std::string out;
    store::ReportOptions r;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("report", "write one self-contained HTML report (charts over steps or wall time, "
                                           "length quantiles, weighted reward components, success by difficulty, "
                                           "evaluations, a sample browser, completions) from one or more runs' "
                                           "rollouts.db, overlaid");
  cmd->add_option("db", o->dbs, "the runs' rollouts.db files, or run directories (several: overlaid)")->required();
  cmd->add_option("-o,--output", o->out, "the HTML file to write (default: report.html next to the first database)");
  cmd->add_option("--label", o->labels, "a label per run, in the order of the files (default: the run's name)");
  cmd->add_option("--title", o->r.title, "page title (default: the runs' names)");
  cmd->add_option("--completions", o->r.n_completions, "rows in each completions table (best, worst, truncated)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--max-text-chars", o->r.max_text_chars, "cut completions longer than this in the page")
      ->check(CLI::Range(1, 10000000));
  cmd->add_option("--browser-steps", o->r.browser_steps,
                  "sample browser: embed the samples of up to this many evenly spaced steps per run (0: no browser)")
      ->check(CLI::Range(0, 100000))->capture_default_str();
  cmd->add_option("--browser-per-step", o->r.browser_per_step, "sample browser: at most this many samples per step")
      ->check(CLI::Range(1, 100000))->capture_default_str();
  cmd->add_option("--browser-text-chars", o->r.browser_text_chars, "sample browser: cut texts longer than this")
      ->check(CLI::Range(1, 10000000))->capture_default_str();
  cmd->add_option("--smooth-min-points", o->r.smooth_min_points,
                  "draw rolling means over noisy series of at least this many steps (0: never)")
      ->check(CLI::Range(0, 1000000))->capture_default_str();
  cmd->callback([o] {
    namespace fs = std::filesystem;
    std::vector<std::string> dbs;
    for (std::string db : o->dbs) {
      if (fs::is_directory(db)) db = (fs::path(db) / "rollouts.db").string();
      if (!fs::exists(db)) throw IoError("no such run: '" + db + "' does not exist");
      dbs.push_back(db);
    }
    if (!o->labels.empty() && o->labels.size() != dbs.size())
      throw Error(std::to_string(o->labels.size()) + " --label for " + std::to_string(dbs.size()) +
                  " runs: give one --label per file, or none");
    std::string out = o->out;
    if (out.empty()) out = (fs::path(dbs[0]).parent_path() / "report.html").string();
    store::write_report(dbs, out, o->r, o->labels);
    std::cout << "wrote " << out << "\n";
  });
}

}  // namespace reasonrl::cli

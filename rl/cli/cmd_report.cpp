// cmd_report.cpp: `reasonrl report RUN.db -o report.html`: one self-contained HTML page of charts and completions.
#include <filesystem>
#include <iostream>
#include <memory>

#include "rl/cli/commands.h"
#include "rl/store/report.h"
#include "rl/util/error.h"

namespace reasonrl::cli {

void add_report_command(CLI::App& app) {
  struct Opts {
    std::string db, out;
    store::ReportOptions r;
  };
  auto o = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("report", "write one self-contained HTML report (charts over steps, success by "
                                           "difficulty, length histogram, evaluations, completions) from a run's rollouts.db");
  cmd->add_option("db", o->db, "the run's rollouts.db, or the run directory")->required();
  cmd->add_option("-o,--output", o->out, "the HTML file to write (default: report.html next to the database)");
  cmd->add_option("--title", o->r.title, "page title (default: the run's name)");
  cmd->add_option("--completions", o->r.n_completions, "rows in each completions table (best, worst, truncated)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--max-text-chars", o->r.max_text_chars, "cut completions longer than this in the page")
      ->check(CLI::Range(1, 10000000));
  cmd->callback([o] {
    namespace fs = std::filesystem;
    std::string db = o->db;
    if (fs::is_directory(db)) db = (fs::path(db) / "rollouts.db").string();
    if (!fs::exists(db)) throw IoError("no such run: '" + db + "' does not exist");
    std::string out = o->out;
    if (out.empty()) out = (fs::path(db).parent_path() / "report.html").string();
    store::write_report(db, out, o->r);
    std::cout << "wrote " << out << "\n";
  });
}

}  // namespace reasonrl::cli

// report.h: `reasonrl report`: one self-contained HTML file (inline SVG charts, a little inline JS, no network) from
// one or several rollout stores overlaid (aligned by step, or by wall time with a toggle): metrics over steps with
// rolling means, response-length quantile bands, weighted reward components stacked, success by difficulty,
// evaluations, a client-side sample browser and completion tables.
#pragma once
#include <string>
#include <vector>

#include "rl/store/store.h"

namespace reasonrl::store {

struct ReportOptions {
  std::string title;            // default: the run's name (several runs: their names joined by " vs ")
  int n_completions = 5;        // rows per completions table (best, worst, truncated)
  int max_text_chars = 6000;    // completions longer than this are cut (the full text stays in the store)
  // The sample browser embeds every sample of up to `browser_steps` evenly spaced steps of each run (the first and
  // the last step included), at most `browser_per_step` per step (whole groups, lowest group ids first), each text
  // cut at `browser_text_chars`. 0 steps: no browser.
  int browser_steps = 24;
  int browser_per_step = 64;
  int browser_text_chars = 3000;
  // Rolling (trailing) means are drawn over noisy series of at least this many points; 0 = never.
  int smooth_min_points = 20;
};

// The runs to overlay with their labels (one per store: the run's name unless given).
struct ReportRun {
  const RolloutStore* store = nullptr;
  std::string label;
};

// The HTML text. Every plotted point carries its numbers as data attributes: <circle data-run="LABEL"
// data-series="kl" data-x="STEP" data-y="VALUE">, bars likewise (data-series, data-x = category, data-y), so tests
// and scripts can read them back. Metric charts carry data-kind="metric"; derived ones (quantiles, weighted reward
// stacks, bars, evaluations) carry other kinds. A chart whose series are all constant is not drawn: it is listed
// under "Constant metrics" as <li data-run data-series data-value data-n>.
std::string render_report(const std::vector<ReportRun>& runs, const ReportOptions& opt = {});
std::string render_report(const RolloutStore& st, const ReportOptions& opt = {});

// The label of each store: `given[i]` when given (empty = not given), else the run's name; equal labels get " (2)",
// " (3)" appended. `given` is empty or one per store (Error otherwise).
std::vector<std::string> run_labels(const std::vector<const RolloutStore*>& stores, const std::vector<std::string>& given);

// Opens each of `db_paths` read-only and writes the report to `out_path` atomically.
void write_report(const std::vector<std::string>& db_paths, const std::string& out_path, const ReportOptions& opt = {},
                  const std::vector<std::string>& labels = {});
void write_report(const std::string& db_path, const std::string& out_path, const ReportOptions& opt = {});

}  // namespace reasonrl::store

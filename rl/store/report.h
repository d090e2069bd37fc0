// report.h: `reasonrl report`: one self-contained HTML file (inline SVG charts, a little inline JS, no network) from a
// rollout store: metrics over steps, success by difficulty, a length histogram, evaluations, sample completions.
#pragma once
#include <string>

#include "rl/store/store.h"

namespace reasonrl::store {

struct ReportOptions {
  std::string title;            // default: the run's name
  int n_completions = 5;        // rows per completions table (best, worst, truncated)
  int max_text_chars = 6000;    // completions longer than this are cut (the full text stays in the store)
  int histogram_bins = 24;
};

// The HTML text. Every plotted point carries its numbers as data attributes: <circle data-series="kl" data-x="STEP"
// data-y="VALUE">, bars likewise (data-series, data-x = category, data-y), so tests and scripts can read them back.
std::string render_report(const RolloutStore& st, const ReportOptions& opt = {});
// Opens `db_path` read-only and writes the report to `out_path` atomically.
void write_report(const std::string& db_path, const std::string& out_path, const ReportOptions& opt = {});

}  // namespace reasonrl::store

// report_points.h: test helpers that read the plotted numbers back out of a report (HTML or a browser's DOM dump)
// and the numbers the charts should carry out of the rollout store.
#pragma once
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "rl/store/store.h"

namespace reasonrl::store::testing {

struct Point {
  std::string series, x;
  double y;
};

// The value of attribute `name` inside one tag's text, or "" if absent.
inline std::string attr(const std::string& tag, const std::string& name) {
  const std::string key = " " + name + "=\"";
  const size_t p = tag.find(key);
  if (p == std::string::npos) return "";
  const size_t b = p + key.size(), e = tag.find('"', b);
  return tag.substr(b, e - b);
}

// chart id -> its points (circles and bars with class "pt"), in document order.
inline std::map<std::string, std::vector<Point>> chart_points(const std::string& html) {
  std::map<std::string, std::vector<Point>> out;
  const std::string fig = "<figure class=\"chart-box\"";
  for (size_t f = html.find(fig); f != std::string::npos;) {
    const size_t next = html.find(fig, f + 1);
    const size_t end = next == std::string::npos ? html.size() : next;
    const std::string id = attr(html.substr(f, html.find('>', f) - f), "id");
    auto& v = out[id];
    for (size_t p = html.find(" class=\"pt", f); p != std::string::npos && p < end; p = html.find(" class=\"pt", p + 1)) {
      const size_t open = html.rfind('<', p), close = html.find('>', p);
      const std::string tag = html.substr(open, close - open);
      v.push_back({attr(tag, "data-series"), attr(tag, "data-x"), std::stod(attr(tag, "data-y"))});
    }
    f = next;
  }
  return out;
}

// (key, step) -> value of every non-NULL step metric in the store.
inline std::map<std::pair<std::string, std::string>, double> db_metrics(const RolloutStore& st) {
  std::map<std::pair<std::string, std::string>, double> m;
  Stmt s = st.db().prepare("SELECT key, step, value FROM step_metrics WHERE value IS NOT NULL");
  while (s.step()) m[{s.text(0), std::to_string(s.i64(1))}] = s.f64(2);
  return m;
}

// The metric charts' points as (series, step) -> value, over every chart except the bar and evaluation charts.
inline std::map<std::pair<std::string, std::string>, double> plotted_metrics(
    const std::map<std::string, std::vector<Point>>& charts, int* duplicates) {
  static const std::set<std::string> kNotMetrics = {"difficulty", "length_hist", "eval_tradeoff", "eval_steps"};
  std::map<std::pair<std::string, std::string>, double> m;
  *duplicates = 0;
  for (const auto& [id, pts] : charts) {
    if (kNotMetrics.count(id)) continue;
    for (const auto& p : pts) *duplicates += !m.emplace(std::make_pair(p.series, p.x), p.y).second;
  }
  return m;
}

inline std::set<std::string> series_of(const std::vector<Point>& pts) {
  std::set<std::string> s;
  for (const auto& p : pts) s.insert(p.series);
  return s;
}

}  // namespace reasonrl::store::testing

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
  std::string run, series, x;
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

// Every figure: chart id -> [begin, end) of its text.
inline std::map<std::string, std::pair<size_t, size_t>> figures(const std::string& html) {
  std::map<std::string, std::pair<size_t, size_t>> out;
  const std::string fig = "<figure class=\"chart-box\"";
  for (size_t f = html.find(fig); f != std::string::npos;) {
    const size_t next = html.find(fig, f + 1);
    const size_t end = std::min(next == std::string::npos ? html.size() : next, html.find("</figure>", f));
    out[attr(html.substr(f, html.find('>', f) - f), "id")] = {f, end};
    f = next;
  }
  return out;
}

// chart id -> its data-kind ("metric", "quantiles", "stack", "bars", "eval").
inline std::map<std::string, std::string> chart_kinds(const std::string& html) {
  std::map<std::string, std::string> out;
  for (const auto& [id, r] : figures(html)) out[id] = attr(html.substr(r.first, html.find('>', r.first) - r.first), "data-kind");
  return out;
}

// chart id -> its points (circles and bars with class "pt"), in document order.
inline std::map<std::string, std::vector<Point>> chart_points(const std::string& html) {
  std::map<std::string, std::vector<Point>> out;
  for (const auto& [id, r] : figures(html)) {
    auto& v = out[id];
    for (size_t p = html.find(" class=\"pt", r.first); p != std::string::npos && p < r.second;
         p = html.find(" class=\"pt", p + 1)) {
      const size_t open = html.rfind('<', p), close = html.find('>', p);
      const std::string tag = html.substr(open, close - open);
      v.push_back({attr(tag, "data-run"), attr(tag, "data-series"), attr(tag, "data-x"), std::stod(attr(tag, "data-y"))});
    }
  }
  return out;
}

// The opening tags of every `<tag ... class="cls"` inside chart `id`.
inline std::vector<std::string> tags_in(const std::string& html, const std::string& id, const std::string& tag,
                                        const std::string& cls) {
  std::vector<std::string> out;
  const auto figs = figures(html);
  auto it = figs.find(id);
  if (it == figs.end()) return out;
  const std::string key = "<" + tag + " class=\"" + cls + "\"";
  for (size_t p = html.find(key, it->second.first); p != std::string::npos && p < it->second.second;
       p = html.find(key, p + 1))
    out.push_back(html.substr(p, html.find('>', p) - p));
  return out;
}

// Space-separated numbers.
inline std::vector<double> numbers(const std::string& s) {
  std::vector<double> v;
  size_t p = 0;
  while (p < s.size()) {
    size_t e = s.find(' ', p);
    if (e == std::string::npos) e = s.size();
    if (e > p) v.push_back(std::stod(s.substr(p, e - p)));
    p = e + 1;
  }
  return v;
}

// (key, step) -> value of every non-NULL step metric in the store.
inline std::map<std::pair<std::string, std::string>, double> db_metrics(const RolloutStore& st) {
  std::map<std::pair<std::string, std::string>, double> m;
  Stmt s = st.db().prepare("SELECT key, step, value FROM step_metrics WHERE value IS NOT NULL");
  while (s.step()) m[{s.text(0), std::to_string(s.i64(1))}] = s.f64(2);
  return m;
}

// The points of the metric charts (data-kind "metric") of run `run` as (key, step) -> value; several runs'
// series are named "RUN · key", the prefix is taken off.
inline std::map<std::pair<std::string, std::string>, double> plotted_metrics(const std::string& html,
                                                                             const std::string& run, int* duplicates) {
  std::map<std::pair<std::string, std::string>, double> m;
  *duplicates = 0;
  const auto kinds = chart_kinds(html);
  const std::string prefix = run + " \xC2\xB7 ";
  for (const auto& [id, pts] : chart_points(html)) {
    if (kinds.at(id) != "metric") continue;
    for (const auto& p : pts) {
      if (p.run != run) continue;
      const std::string key = p.series.rfind(prefix, 0) == 0 ? p.series.substr(prefix.size()) : p.series;
      *duplicates += !m.emplace(std::make_pair(key, p.x), p.y).second;
    }
  }
  return m;
}

struct CollapsedMetric {
  std::string run, key;
  double value;
  size_t n;
};
inline std::vector<CollapsedMetric> collapsed_metrics(const std::string& html) {
  std::vector<CollapsedMetric> out;
  const size_t b = html.find("<ul class=\"collapsed\">");
  if (b == std::string::npos) return out;
  const size_t e = html.find("</ul>", b);
  for (size_t p = html.find("<li ", b); p != std::string::npos && p < e; p = html.find("<li ", p + 1)) {
    const std::string tag = html.substr(p, html.find('>', p) - p);
    out.push_back({attr(tag, "data-run"), attr(tag, "data-series"), std::stod(attr(tag, "data-value")),
                   std::stoul(attr(tag, "data-n"))});
  }
  return out;
}

inline std::set<std::string> series_of(const std::vector<Point>& pts) {
  std::set<std::string> s;
  for (const auto& p : pts) s.insert(p.series);
  return s;
}

}  // namespace reasonrl::store::testing

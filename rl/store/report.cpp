// report.cpp: renders one or several rollout stores as one self-contained HTML page: inline SVG charts, inline JS.
#include "rl/store/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "rl/store/inspect.h"
#include "rl/util/error.h"

namespace reasonrl::store {

namespace {

const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr const char* kSep = " \xC2\xB7 ";  // between a run's label and a key: "GRPO · kl"
constexpr int kW = 520, kH = 270, kL = 58, kR = 14, kT = 12, kB = 40;

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 if it is not one.
size_t utf8_len(const std::string& s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  return n;
}

// HTML-escaped text; bytes that are not well-formed UTF-8 (a model can emit them) become U+FFFD.
std::string esc(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_len(s, i);
    if (n == 0) {
      o += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    if (n > 1) {
      o.append(s, i, n);
      i += n;
      continue;
    }
    switch (s[i++]) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += s[i - 1];
    }
  }
  return o;
}

// Exact (shortest round-trip) number for data attributes.
std::string num(double v) { return fmt::format("{}", v); }

// Cut to at most n bytes without splitting a UTF-8 sequence.
std::string cut_utf8(const std::string& s, size_t n, bool* cut = nullptr) {
  if (cut) *cut = s.size() > n;
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

struct Ticks {
  double lo, hi, step;
  std::vector<double> at;
};

// "Nice" ticks (1, 2, 5 times a power of ten) covering [lo, hi].
Ticks nice_ticks(double lo, double hi, int target, bool integer = false) {
  if (!(hi > lo)) {
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  if (integer) step = std::max(1.0, std::round(step));
  Ticks t{std::floor(lo / step) * step, std::ceil(hi / step) * step, step, {}};
  for (double v = t.lo; v <= t.hi + step * 1e-9; v += step) t.at.push_back(std::fabs(v) < step * 1e-9 ? 0 : v);
  return t;
}

std::string tick_label(double v, double step) {
  if (std::fabs(v) >= 1e6 || (step < 1e-4 && v != 0)) return fmt::format("{:.3g}", v);
  const int dec = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  return fmt::format("{:.{}f}", v, dec);
}

struct Series {
  std::string name;                             // legend entry and data-series
  std::string run;                              // data-run: the run's label
  std::vector<std::pair<double, double>> pts;   // (x, y); x = step for charts over steps
  std::vector<std::pair<double, double>> tpts;  // (elapsed seconds, y); empty = no wall-time view
  int color = -1;                               // palette index; -1 = the series' position
  bool dashed = false;
  bool edge = false;                            // the edge of a band: small markers, no line
};

// The area between two curves sharing x (quantile bands, stacked reward components).
struct Band {
  int color = 0;
  std::vector<std::pair<double, double>> lo, hi, tlo, thi;  // by step, and by elapsed seconds
  double opacity = 0.18;
};

struct Bounds {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  void add(double x, double y) {
    x0 = std::min(x0, x);
    x1 = std::max(x1, x);
    y0 = std::min(y0, y);
    y1 = std::max(y1, y);
  }
  bool empty() const { return !(x1 >= x0); }
};

// Trailing rolling mean over `w` points (fewer at the start).
std::vector<double> rolling_mean(const std::vector<std::pair<double, double>>& pts, size_t w) {
  std::vector<double> out;
  double sum = 0;
  for (size_t i = 0; i < pts.size(); ++i) {
    sum += pts[i].second;
    if (i >= w) sum -= pts[i - w].second;
    out.push_back(sum / static_cast<double>(std::min(i + 1, w)));
  }
  return out;
}

// Noisy: the RMS of consecutive differences exceeds half the series' standard deviation (a trend moves little from
// point to point; white noise moves about 1.4 standard deviations). The window: max(5, n / 20) points.
size_t smooth_window(const std::vector<std::pair<double, double>>& pts, int min_points) {
  if (min_points <= 0 || pts.size() < static_cast<size_t>(min_points)) return 0;
  const double n = static_cast<double>(pts.size());
  double mean = 0, var = 0, d2 = 0;
  for (const auto& p : pts) mean += p.second / n;
  for (size_t i = 0; i < pts.size(); ++i) {
    var += (pts[i].second - mean) * (pts[i].second - mean) / n;
    if (i) d2 += (pts[i].second - pts[i - 1].second) * (pts[i].second - pts[i - 1].second) / (n - 1);
  }
  if (!(var > 0) || std::sqrt(d2) <= 0.5 * std::sqrt(var)) return 0;
  return std::max<size_t>(5, pts.size() / 20);
}

bool constant(const Series& s) {
  if (s.pts.size() < 2) return false;
  for (const auto& p : s.pts)
    if (p.second != s.pts.front().second) return false;
  return true;
}

std::string legend(const std::vector<Series>& series) {
  std::set<std::string> seen;
  std::string s;
  for (size_t i = 0; i < series.size(); ++i) {
    if (!seen.insert(series[i].name).second) continue;
    const int c = series[i].color >= 0 ? series[i].color : static_cast<int>(i);
    s += fmt::format("<span data-series=\"{}\" style=\"--c:{}\">{}</span>", esc(series[i].name), kPalette[c % 10],
                     esc(series[i].name));
  }
  if (seen.size() < 2) return "";
  return "<div class=\"legend\">" + s + "</div>";
}

std::string figure_open(const std::string& id, const std::string& title, const std::string& kind,
                        const std::string& note = "") {
  return fmt::format("<figure class=\"chart-box\" id=\"{}\" data-chart=\"{}\" data-kind=\"{}\"><figcaption>{}{}"
                     "</figcaption>",
                     esc(id), esc(id), kind, esc(title), note.empty() ? "" : "<small> " + esc(note) + "</small>");
}

std::string empty_figure(const std::string& id, const std::string& title, const std::string& kind,
                         const std::string& why) {
  return figure_open(id, title, kind) + "<p class=\"empty\">" + esc(why) + "</p></figure>\n";
}

// A plot area mapping data bounds to the SVG box, with its axes.
struct Frame {
  Ticks xt, yt;
  double pw = kW - kL - kR, ph = kH - kT - kB;
  Frame(const Bounds& b, bool integer_x) : xt(nice_ticks(b.x0, b.x1, 6, integer_x)), yt(nice_ticks(b.y0, b.y1, 5)) {}
  double X(double x) const { return kL + pw * (x - xt.lo) / (xt.hi - xt.lo); }
  double Y(double y) const { return kT + ph * (1 - (y - yt.lo) / (yt.hi - yt.lo)); }
};

// Axes, grid and labels for a plot area.
std::string axes(const Ticks& xt, const Ticks& yt, const std::string& xlabel, const std::string& ylabel,
                 const std::vector<std::string>* xcats = nullptr) {
  const double pw = kW - kL - kR, ph = kH - kT - kB;
  std::string s;
  for (double v : yt.at) {
    const double y = kT + ph * (1 - (v - yt.lo) / (yt.hi - yt.lo));
    s += fmt::format("<line class=\"grid\" x1=\"{}\" x2=\"{}\" y1=\"{:.1f}\" y2=\"{:.1f}\"/>", kL, kW - kR, y, y);
    s += fmt::format("<text class=\"yt\" x=\"{}\" y=\"{:.1f}\">{}</text>", kL - 5, y + 4, tick_label(v, yt.step));
  }
  if (xcats) {
    const double bw = pw / static_cast<double>(std::max<size_t>(1, xcats->size()));
    const size_t every = std::max<size_t>(1, xcats->size() / 8);
    for (size_t i = 0; i < xcats->size(); i += every)
      s += fmt::format("<text class=\"xt\" x=\"{:.1f}\" y=\"{}\">{}</text>", kL + bw * (i + 0.5), kH - kB + 15,
                       esc((*xcats)[i]));
  } else {
    for (double v : xt.at) {
      const double x = kL + pw * (v - xt.lo) / (xt.hi - xt.lo);
      s += fmt::format("<text class=\"xt\" x=\"{:.1f}\" y=\"{}\">{}</text>", x, kH - kB + 15, tick_label(v, xt.step));
    }
  }
  s += fmt::format("<line class=\"axis\" x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>", kL, kW - kR, kH - kB, kH - kB);
  s += fmt::format("<line class=\"axis\" x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>", kL, kL, kT, kH - kB);
  s += fmt::format("<text class=\"xl\" x=\"{}\" y=\"{}\">{}</text>", kL + pw / 2, kH - 6, esc(xlabel));
  s += fmt::format("<text class=\"yl\" transform=\"translate(13,{}) rotate(-90)\">{}</text>", kT + ph / 2, esc(ylabel));
  return s;
}

std::string path_d(const Frame& f, const std::vector<std::pair<double, double>>& pts) {
  std::string d;
  for (size_t k = 0; k < pts.size(); ++k) d += fmt::format("{}{:.1f},{:.1f}", k ? "L" : "M", f.X(pts[k].first), f.Y(pts[k].second));
  return d;
}

// The closed area between two curves sharing x: along hi, back along lo.
std::string band_path(const Frame& f, const std::vector<std::pair<double, double>>& lo,
                      const std::vector<std::pair<double, double>>& hi, int color, double opacity) {
  std::string d = path_d(f, hi);
  for (size_t k = lo.size(); k-- > 0;) d += fmt::format("L{:.1f},{:.1f}", f.X(lo[k].first), f.Y(lo[k].second));
  return fmt::format("<path class=\"band\" d=\"{}Z\" style=\"fill:{};opacity:{}\"/>", d, kPalette[color % 10], opacity);
}

// Opens the <g> of one series (closed by the caller); css_color: its colour.
std::string series_open(const std::string& name, const std::string& run, const std::string& css_color) {
  return fmt::format("<g class=\"series\" data-series=\"{}\" data-run=\"{}\" style=\"--c:{}\">", esc(name), esc(run),
                     css_color);
}

// A hoverable marker drawn at (cx, cy) whose tooltip shows the data point (x, y).
std::string marker(double cx, double cy, double radius, const std::string& run, const std::string& series, double x,
                   double y) {
  return fmt::format(
      "<circle class=\"pt\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{}\" data-run=\"{}\" data-series=\"{}\" data-x=\"{}\" "
      "data-y=\"{}\"/>",
      cx, cy, radius, esc(run), esc(series), num(x), num(y));
}

struct PlotStyle {
  bool markers_only = false;
  int smooth_min_points = 0;
};

// One SVG of a line chart. by_time: plot tpts (paths only, no markers) instead of pts.
std::string line_svg(const std::vector<Series>& series, const std::vector<Band>& bands, const std::string& xlabel,
                     const std::string& ylabel, bool by_time, const PlotStyle& style) {
  Bounds b;
  for (const auto& s : series)
    for (const auto& [x, y] : by_time ? s.tpts : s.pts) b.add(x, y);
  for (const auto& bd : bands)
    for (const auto* v : {&bd.lo, &bd.hi, &bd.tlo, &bd.thi})
      if ((v == &bd.tlo || v == &bd.thi) == by_time)
        for (const auto& [x, y] : *v) b.add(x, y);
  const Frame f(b, !by_time && xlabel == "step");
  size_t n = 0;
  for (const auto& s : series) n += s.pts.size();
  std::string out = fmt::format("<svg class=\"chart{}\" viewBox=\"0 0 {} {}\" data-xlabel=\"{}\">",
                                by_time ? " x-time" : " x-step", kW, kH, by_time ? "seconds" : esc(xlabel));
  out += axes(f.xt, f.yt, by_time ? "wall time (s)" : xlabel, ylabel);
  for (const auto& bd : bands) {
    const auto& lo = by_time ? bd.tlo : bd.lo;
    const auto& hi = by_time ? bd.thi : bd.hi;
    if (lo.empty() || lo.size() != hi.size()) continue;
    out += band_path(f, lo, hi, bd.color, bd.opacity);
  }
  const double r = n > 600 ? 1.4 : 2.6;
  for (size_t i = 0; i < series.size(); ++i) {
    const auto& s = series[i];
    const auto& pts = by_time ? s.tpts : s.pts;
    const int c = s.color >= 0 ? s.color : static_cast<int>(i);
    out += series_open(s.name, s.run, kPalette[c % 10]);
    const size_t w = smooth_window(s.pts, style.smooth_min_points);
    std::string xs;  // the wall-time view has no markers: its path carries the elapsed seconds
    if (by_time)
      for (size_t k = 0; k < pts.size(); ++k) xs += (k ? " " : "") + num(pts[k].first);
    if (!style.markers_only && !s.edge && pts.size() > 1)
      out += fmt::format("<path class=\"{}\" d=\"{}\"{}{}/>", w ? "raw" : "line", path_d(f, pts),
                         s.dashed ? " stroke-dasharray=\"4 3\"" : "", by_time ? " data-xs=\"" + xs + "\"" : "");
    if (w && pts.size() == s.pts.size()) {
      const auto m = rolling_mean(s.pts, w);
      std::vector<std::pair<double, double>> sm;
      std::string ys;
      for (size_t k = 0; k < m.size(); ++k) {
        sm.emplace_back(pts[k].first, m[k]);
        ys += (k ? " " : "") + num(m[k]);
      }
      out += fmt::format("<path class=\"smooth\" d=\"{}\" data-window=\"{}\"{}/>", path_d(f, sm), w,
                         by_time ? "" : " data-ys=\"" + ys + "\"");
    }
    if (!by_time)
      for (const auto& [x, y] : pts)
        out += marker(f.X(x), f.Y(y), style.markers_only ? 4.0 : s.edge ? 0.8 : w ? 1.2 : r, s.run, s.name, x, y);
    out += "</g>";
  }
  return out + "</svg>";
}

std::string line_chart(const std::string& id, const std::string& title, const std::string& kind,
                       const std::vector<Series>& series, const std::string& xlabel, const std::string& ylabel,
                       const std::string& note, const PlotStyle& style, const std::vector<Band>& bands = {}) {
  size_t n = 0, nt = 0;
  for (const auto& s : series) {
    n += s.pts.size();
    nt += s.tpts.size();
  }
  if (n == 0) return empty_figure(id, title, kind, "no data in this run");
  std::string out = figure_open(id, title, kind, note) + legend(series);
  out += line_svg(series, bands, xlabel, ylabel, false, style);
  if (nt > 0) out += line_svg(series, bands, xlabel, ylabel, true, style);
  return out + "</figure>\n";
}

// Grouped bars: one group per category, one bar per series; nullopt = no bar.
std::string bar_chart(const std::string& id, const std::string& title, const std::vector<std::string>& cats,
                      const std::vector<std::pair<std::string, std::vector<std::optional<double>>>>& series,
                      const std::string& xlabel, const std::string& ylabel, const std::string& note = "") {
  double y1 = 0;
  bool any = false;
  for (size_t c = 0; c < cats.size(); ++c)
    for (const auto& [name, vals] : series)
      if (vals[c]) {
        any = true;
        y1 = std::max(y1, *vals[c]);
      }
  if (!any) return empty_figure(id, title, "bars", "no data in this run");
  const Ticks yt = nice_ticks(0, y1, 5);
  const Ticks xt{0, 1, 1, {}};
  const double pw = kW - kL - kR, ph = kH - kT - kB;
  auto Y = [&](double y) { return kT + ph * (1 - (y - yt.lo) / (yt.hi - yt.lo)); };
  std::vector<Series> names;
  for (const auto& s : series) names.push_back({s.first, "", {}, {}, -1, false, false});
  std::string out = figure_open(id, title, "bars", note) + legend(names);
  out += fmt::format("<svg class=\"chart\" viewBox=\"0 0 {} {}\" data-xlabel=\"{}\">", kW, kH, esc(xlabel));
  out += axes(xt, yt, xlabel, ylabel, &cats);
  const double gw = pw / static_cast<double>(cats.size());
  const double bw = gw * 0.8 / static_cast<double>(series.size());
  for (size_t i = 0; i < series.size(); ++i) {
    const auto& [name, vals] = series[i];
    out += fmt::format("<g class=\"series\" data-series=\"{}\" style=\"--c:{}\">", esc(name), kPalette[i % 10]);
    for (size_t c = 0; c < cats.size(); ++c) {
      if (!vals[c]) continue;
      const double x = kL + gw * c + gw * 0.1 + bw * i;
      const double top = Y(*vals[c]), bottom = Y(0);
      out += fmt::format(
          "<rect class=\"pt bar\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" data-series=\"{}\" "
          "data-x=\"{}\" data-y=\"{}\"/>",
          x, top, std::max(0.5, bw - 1), std::max(0.0, bottom - top), esc(name), esc(cats[c]), num(*vals[c]));
    }
    out += "</g>";
  }
  return out + "</svg></figure>\n";
}

struct Completion {
  int64_t id, step, prompt_id, n_tokens;
  double reward, advantage;
  bool correct;
  std::string finish, text, prompt, gold;
  std::string comps;
};

std::vector<Completion> completions(const RolloutStore& st, const std::string& where_order, int n) {
  std::vector<Completion> out;
  Stmt s = st.db().prepare(
      "SELECT id, step, prompt_id, n_tokens, reward, advantage, correct, finish_reason, text, prompt_text, gold "
      "FROM samples_view " + where_order + " LIMIT ?");
  s.bind(1, static_cast<int64_t>(n));
  Stmt c = st.db().prepare("SELECT component, value FROM sample_rewards WHERE sample_id = ? ORDER BY component");
  while (s.step()) {
    Completion x{s.i64(0), s.i64(1), s.i64(2), s.i64(3), s.f64(4), s.f64(5), s.i64(6) != 0,
                 s.text(7), s.text(8), s.text(9), s.text(10), ""};
    c.bind(1, x.id);
    while (c.step())
      x.comps += (x.comps.empty() ? "" : ", ") + c.text(0) + " " + (c.is_null(1) ? "n/a" : fmt::format("{:.3g}", c.f64(1)));
    c.reset();
    out.push_back(std::move(x));
  }
  return out;
}

std::string completions_table(const std::string& id, const std::string& title, const std::vector<Completion>& rows,
                              int max_chars, const std::string& db_path) {
  std::string s = fmt::format("<section class=\"completions\" id=\"{}\"><h3>{}</h3>", esc(id), esc(title));
  if (rows.empty()) return s + "<p class=\"empty\">none</p></section>\n";
  s += "<table><thead><tr><th>id</th><th>step</th><th>prompt</th><th>reward</th><th>components</th><th>correct</th>"
       "<th>tokens</th><th>finish</th><th>completion</th></tr></thead><tbody>";
  for (const auto& r : rows) {
    bool cut = false;
    const std::string text = cut_utf8(r.text, static_cast<size_t>(max_chars), &cut);
    const std::string head = cut_utf8(r.text, 90);
    s += fmt::format(
        "<tr data-sample-id=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"num\" data-reward=\"{}\">{:.4g}</td>"
        "<td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td><details><summary>{}</summary>"
        "<div class=\"prompt\"><b>prompt:</b> {}<br><b>gold:</b> {}</div><pre>{}{}</pre></details></td></tr>",
        r.id, r.id, r.step, r.prompt_id, num(r.reward), r.reward, esc(r.comps), r.correct ? "yes" : "no", r.n_tokens,
        esc(r.finish), esc(head) + (r.text.size() > head.size() ? "&hellip;" : ""), esc(r.prompt), esc(r.gold),
        esc(text), cut ? "\n[... cut; `reasonrl inspect " + esc(db_path) + " show " + std::to_string(r.id) + "` has it all]" : "");
  }
  return s + "</tbody></table></section>\n";
}

// "2026-11-23T12:00:00Z" -> seconds since the epoch.
std::optional<double> parse_iso(const std::string& s) {
  std::tm tm{};
  if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec) != 6)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(timegm(&tm));
}

// What the report reads from one store.
struct RunData {
  const RolloutStore* st = nullptr;
  std::string label;
  int index = 0;
  std::optional<RunInfo> info;
  std::map<std::string, std::vector<std::pair<double, double>>> metrics;  // key -> (step, value), NULLs skipped
  std::map<int64_t, double> elapsed;  // step -> seconds since the run started, at the end of the step
  std::string time_source;
};

RunData load_run(const ReportRun& r, int index) {
  RunData d;
  d.st = r.store;
  d.label = r.label;
  d.index = index;
  d.info = r.store->run_info();
  const Db& db = r.store->db();
  Stmt s = db.prepare("SELECT key, step, value FROM step_metrics WHERE value IS NOT NULL ORDER BY key, step");
  while (s.step()) d.metrics[s.text(0)].emplace_back(static_cast<double>(s.i64(1)), s.f64(2));
  // Wall time: the sum of time/step_ms when every step has it (exact, no resume gaps); else written_at minus the
  // run's start (1 s resolution, resume gaps included).
  const int64_t n_steps = db.scalar_i64("SELECT count(*) FROM steps");
  const int64_t n_timed = db.scalar_i64("SELECT count(*) FROM step_metrics WHERE key = 'time/step_ms' AND value IS NOT NULL");
  if (n_steps > 0 && n_timed == n_steps) {
    double t = 0;
    Stmt q = db.prepare("SELECT step, value FROM step_metrics WHERE key = 'time/step_ms' ORDER BY step");
    while (q.step()) d.elapsed[q.i64(0)] = (t += q.f64(1) / 1000);
    d.time_source = "wall time = running sum of time/step_ms";
  } else if (n_steps > 0 && d.info) {
    if (const auto t0 = parse_iso(d.info->started_at)) {
      Stmt q = db.prepare("SELECT step, written_at FROM steps ORDER BY step");
      while (q.step())
        if (const auto t = parse_iso(q.text(1))) d.elapsed[q.i64(0)] = *t - *t0;
      d.time_source = "wall time = written_at \xE2\x88\x92 start (1 s resolution, pauses included)";
    }
  }
  return d;
}

std::vector<std::pair<double, double>> by_time(const RunData& r, const std::vector<std::pair<double, double>>& pts) {
  std::vector<std::pair<double, double>> out;
  if (r.elapsed.empty()) return out;
  for (const auto& [x, y] : pts) {
    auto it = r.elapsed.find(static_cast<int64_t>(x));
    if (it == r.elapsed.end()) return {};  // a step without a time: no wall-time view for this series
    out.emplace_back(it->second, y);
  }
  return out;
}

struct Collapsed {
  std::string run, key;
  double value;
  size_t n;
};

// Samples per step: p10, p50, p90 of n_tokens.
struct Quantiles {
  std::vector<std::pair<double, double>> q[3];
};
constexpr double kQ[3] = {0.1, 0.5, 0.9};
constexpr const char* kQName[3] = {"p10", "p50", "p90"};

Quantiles length_quantiles(const RolloutStore& st) {
  Quantiles out;
  Stmt s = st.db().prepare("SELECT step, n_tokens FROM samples ORDER BY step");
  std::vector<double> cur;
  int64_t step = 0;
  auto flush = [&] {
    if (cur.empty()) return;
    for (int k = 0; k < 3; ++k) out.q[k].emplace_back(static_cast<double>(step), quantile(cur, kQ[k]));
    cur.clear();
  };
  while (s.step()) {
    if (!cur.empty() && s.i64(0) != step) flush();
    step = s.i64(0);
    cur.push_back(static_cast<double>(s.i64(1)));
  }
  flush();
  return out;
}

// Reward weights from the run's resolved config ("rewards": {"weights": {...}}); a missing weight is 1.
// The run's rewards.weights from its stored config. A config or weights entry that cannot be read leaves the weights
// at 1 and says why in `problem` (shown on the chart), never silently.
std::map<std::string, double> reward_weights(const RunData& r, std::string* problem) {
  std::map<std::string, double> w;
  if (!r.info) return w;
  try {
    const json c = json::parse(r.info->config_json);
    if (c.contains("rewards") && c["rewards"].contains("weights"))
      for (auto it = c["rewards"]["weights"].begin(); it != c["rewards"]["weights"].end(); ++it)
        w[it.key()] = it.value().get<double>();
  } catch (const std::exception& e) {
    w.clear();
    *problem = fmt::format("rewards.weights in the run's stored config could not be read ({}), so all are taken as 1",
                           e.what());
  }
  return w;
}

// Reward components weighted as they enter the total, stacked: per step, mean over the step's samples of
// weight * value (a component that did not apply counts 0), positive parts stacked up and negative ones down, with
// the mean total as a line. The note counts samples whose stored total is not the weighted sum.
std::string reward_stack_chart(const RunData& r, const std::string& id, const std::string& title) {
  const Db& db = r.st->db();
  std::string weights_problem;
  const auto w = reward_weights(r, &weights_problem);
  auto weight = [&](const std::string& c) { return w.count(c) ? w.at(c) : 1.0; };
  std::map<int64_t, int64_t> n_at;
  std::map<int64_t, double> total_at;
  {
    Stmt s = db.prepare("SELECT step, count(*), sum(reward) FROM samples GROUP BY step");
    while (s.step()) {
      n_at[s.i64(0)] = s.i64(1);
      total_at[s.i64(0)] = s.f64(2);
    }
  }
  std::map<std::string, std::map<int64_t, double>> sums;  // component -> step -> sum of weight * value
  std::map<int64_t, double> per_sample;                   // sample id -> weighted sum
  std::map<int64_t, double> reward_of;
  {
    Stmt s = db.prepare("SELECT s.step, r.component, r.value, s.id, s.reward FROM sample_rewards r "
                        "JOIN samples s ON s.id = r.sample_id ORDER BY s.step, r.component");
    while (s.step()) {
      const double v = s.is_null(2) ? 0.0 : weight(s.text(1)) * s.f64(2);
      sums[s.text(1)][s.i64(0)] += v;
      per_sample[s.i64(3)] += v;
      reward_of[s.i64(3)] = s.f64(4);
    }
  }
  if (sums.empty()) return empty_figure(id, title, "stack", "no reward components in this run");
  int64_t mismatched = 0;
  for (const auto& [sid, v] : per_sample)
    if (std::fabs(v - reward_of[sid]) > 1e-6 * std::max(1.0, std::fabs(reward_of[sid]))) ++mismatched;
  std::vector<Series> series;
  std::vector<Band> bands;
  std::map<int64_t, double> pos, neg;
  int color = 0;
  std::string wtext;
  for (const auto& [comp, by_step] : sums) {
    Series s;
    s.name = fmt::format("{} \xC3\x97 {}", comp, weight(comp));
    s.run = r.label;
    s.color = color;
    Band b;
    b.color = color;
    b.opacity = 0.55;
    for (const auto& [step, n] : n_at) {
      auto it = by_step.find(step);
      const double v = it == by_step.end() ? 0.0 : it->second / static_cast<double>(n);
      double& base = v >= 0 ? pos[step] : neg[step];
      const double lo = v >= 0 ? base : base + v, hi = v >= 0 ? base + v : base;
      base += v;
      b.lo.emplace_back(static_cast<double>(step), lo);
      b.hi.emplace_back(static_cast<double>(step), hi);
      s.pts.emplace_back(static_cast<double>(step), v);
    }
    wtext += (wtext.empty() ? "" : ", ") + fmt::format("{} {}", comp, weight(comp));
    series.push_back(std::move(s));
    bands.push_back(std::move(b));
    ++color;
  }
  Series total;
  total.name = "total (mean reward)";
  total.run = r.label;
  total.color = color;
  for (const auto& [step, n] : n_at) total.pts.emplace_back(static_cast<double>(step), total_at[step] / static_cast<double>(n));
  // The markers of the components sit on their band's top edge (up) or bottom edge (down); data-y is the part itself.
  std::string out = figure_open(id, title, "stack",
                                fmt::format("mean over each step's samples of weight \xC3\x97 value (n/a = 0); "
                                            "weights from the config: {}{}",
                                            !weights_problem.empty() ? weights_problem
                                            : w.empty()              ? "none given (all 1)"
                                                                     : wtext,
                                            mismatched ? fmt::format("; {} sample totals are NOT the weighted sum", mismatched)
                                                       : "; every sample's total is the weighted sum"));
  std::vector<Series> all = series;
  all.push_back(total);
  out += legend(all);
  Bounds b;
  for (const auto& bd : bands)
    for (size_t k = 0; k < bd.lo.size(); ++k) {
      b.add(bd.lo[k].first, bd.lo[k].second);
      b.add(bd.hi[k].first, bd.hi[k].second);
    }
  for (const auto& [x, y] : total.pts) b.add(x, y);
  b.add(b.x0, 0);
  const Frame f(b, true);
  out += fmt::format("<svg class=\"chart\" viewBox=\"0 0 {} {}\" data-xlabel=\"step\">", kW, kH);
  out += axes(f.xt, f.yt, "step", "reward");
  for (size_t i = 0; i < series.size(); ++i) {
    const auto& bd = bands[i];
    out += series_open(series[i].name, r.label, kPalette[bd.color % 10]);
    out += band_path(f, bd.lo, bd.hi, bd.color, bd.opacity);
    for (size_t k = 0; k < series[i].pts.size(); ++k) {
      const auto [x, v] = series[i].pts[k];
      out += marker(f.X(x), f.Y(v >= 0 ? bd.hi[k].second : bd.lo[k].second), 1.2, r.label, series[i].name, x, v);
    }
    out += "</g>";
  }
  out += series_open(total.name, r.label, "#222") + fmt::format("<path class=\"line\" d=\"{}\"/>", path_d(f, total.pts));
  for (const auto& [x, y] : total.pts) out += marker(f.X(x), f.Y(y), 1.6, r.label, total.name, x, y);
  return out + "</g></svg></figure>\n";
}

// The sample browser's data: every sample of up to opt.browser_steps evenly spaced steps per run (first and last
// included), whole groups in group order up to opt.browser_per_step per step, texts cut at opt.browser_text_chars.
std::string browser_data(const std::vector<RunData>& runs, const ReportOptions& opt, int64_t* embedded,
                         int64_t* total, std::string* rule) {
  json out = json::object();
  json labels = json::array(), prompts = json::array(), rows = json::array();
  *embedded = *total = 0;
  for (const auto& r : runs) {
    labels.push_back(r.label);
    const Db& db = r.st->db();
    *total += db.scalar_i64("SELECT count(*) FROM samples");
    std::vector<int64_t> steps;
    {
      Stmt s = db.prepare("SELECT step FROM steps ORDER BY step");
      while (s.step()) steps.push_back(s.i64(0));
    }
    std::vector<int64_t> chosen;
    const size_t k = static_cast<size_t>(std::max(0, opt.browser_steps));
    if (steps.size() <= k) {
      chosen = steps;
    } else if (k == 1) {
      chosen = {steps.back()};
    } else if (k > 1) {
      for (size_t i = 0; i < k; ++i) {
        const size_t at = static_cast<size_t>(std::llround(static_cast<double>(i) * static_cast<double>(steps.size() - 1) /
                                                           static_cast<double>(k - 1)));
        if (chosen.empty() || chosen.back() != steps[at]) chosen.push_back(steps[at]);
      }
    }
    json pr = json::object();
    Stmt s = db.prepare("SELECT id, step, prompt_id, group_id, group_index, correct, finish_reason, n_tokens, reward, "
                        "text, prompt_text, gold FROM samples_view WHERE step = ? ORDER BY group_id, group_index, id");
    for (int64_t step : chosen) {
      s.bind(1, step);
      std::vector<json> group;
      int64_t taken = 0, group_id = -1;
      bool full = false;
      auto flush = [&] {
        if (group.empty() || full) return;
        if (taken > 0 && taken + static_cast<int64_t>(group.size()) > opt.browser_per_step) {
          full = true;
          return;
        }
        for (auto& g : group) {
          if (taken >= opt.browser_per_step) break;
          rows.push_back(std::move(g));
          ++taken;
        }
        group.clear();
      };
      while (s.step()) {
        if (s.i64(3) != group_id) {
          flush();
          group.clear();
          group_id = s.i64(3);
        }
        bool cut = false;
        const std::string text = cut_utf8(s.text(9), static_cast<size_t>(std::max(1, opt.browser_text_chars)), &cut);
        group.push_back(json::array({r.index, s.i64(0), s.i64(1), s.i64(2), s.i64(4), s.i64(5) != 0, s.text(6),
                                     s.i64(7), s.f64(8), text, cut}));
        const std::string pid = std::to_string(s.i64(2));
        if (!pr.contains(pid)) pr[pid] = json::array({s.text(10), s.text(11)});
      }
      flush();
      s.reset();
      *embedded += taken;
    }
    prompts.push_back(std::move(pr));
  }
  *rule = fmt::format("every sample of up to {} evenly spaced steps per run (the first and the last included), whole "
                      "groups in group order up to {} samples per step, each text cut at {} characters",
                      opt.browser_steps, opt.browser_per_step, opt.browser_text_chars);
  out["runs"] = labels;
  out["prompts"] = prompts;
  out["columns"] = json::array({"run", "id", "step", "prompt", "index", "correct", "finish", "tokens", "reward", "text", "cut"});
  out["samples"] = rows;
  std::string text = out.dump(-1, ' ', false, json::error_handler_t::replace);
  // Inside <script type="application/json">: no "</script" or "<!--" may appear; '<' only occurs inside strings.
  std::string safe;
  safe.reserve(text.size());
  for (char c : text) safe += c == '<' ? std::string("\\u003c") : std::string(1, c);
  return safe;
}

const char* kCss = R"css(
:root { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; background: #fafafa; }
body { margin: 0 auto; max-width: 1180px; padding: 16px 20px 60px; }
h1 { font-size: 22px; margin: 4px 0; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
h3 { font-size: 15px; margin: 16px 0 6px; }
.meta { color: #555; font-size: 13px; } .meta span { margin-right: 16px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 12px; }
figure.chart-box { margin: 0; background: #fff; border: 1px solid #e3e3e3; border-radius: 6px; padding: 8px 10px; }
figcaption { font-weight: 600; font-size: 14px; } figcaption small { font-weight: 400; color: #777; }
svg.chart { width: 100%; height: auto; display: block; }
svg .grid { stroke: #eee; } svg .axis { stroke: #999; }
svg text { font-size: 11px; fill: #555; } svg .yt { text-anchor: end; } svg .xt, svg .xl { text-anchor: middle; }
svg .yl { text-anchor: middle; }
svg g.series path { fill: none; stroke: var(--c); stroke-width: 1.6; }
svg g.series circle { fill: var(--c); } svg g.series rect { fill: var(--c); opacity: .85; }
svg g.series.hidden { display: none; }
svg .pt:hover { stroke: #000; stroke-width: 1; }
.legend { font-size: 12px; margin: 2px 0 4px; } .legend span { cursor: pointer; margin-right: 12px; white-space: nowrap; }
.legend span::before { content: ""; display: inline-block; width: 10px; height: 10px; background: var(--c);
  margin-right: 4px; border-radius: 2px; vertical-align: -1px; }
.legend span.off { opacity: .35; }
.empty { color: #999; font-style: italic; font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 12px; background: #fff; }
th, td { border: 1px solid #e3e3e3; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
details summary { cursor: pointer; font-family: ui-monospace, monospace; color: #333; }
pre { white-space: pre-wrap; word-break: break-word; max-height: 360px; overflow: auto; background: #f7f7f7;
  padding: 6px; margin: 4px 0; font-size: 12px; }
.prompt { font-size: 12px; color: #444; margin-top: 4px; }
#tip { position: absolute; display: none; pointer-events: none; background: rgba(20,20,20,.88); color: #fff;
  font-size: 12px; padding: 3px 6px; border-radius: 3px; white-space: nowrap; }
svg.chart.x-time { display: none; } body.by-time svg.chart.x-step { display: none; }
body.by-time svg.chart.x-time { display: block; }
svg g.series path.raw { opacity: .35; } svg g.series path.smooth { stroke-width: 2.4; }
svg g.series path.band, svg path.band { stroke: none; }
.controls { font-size: 13px; margin: 10px 0; } .controls label { margin-right: 12px; }
.runs { font-size: 13px; margin: 6px 0; } .runs li { margin: 2px 0; }
.runs .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 4px; }
ul.collapsed { font-size: 12px; columns: 2; color: #555; }
.filters { font-size: 12px; margin: 6px 0; } .filters label { margin-right: 10px; white-space: nowrap; }
.filters input[type=number] { width: 70px; } .filters input[type=text] { width: 130px; }
)css";


const char* kJs = R"js(
(function () {
  var tip = document.getElementById('tip');
  function el(id) { return document.getElementById(id); }
  function fmt(v) { var x = Number(v); return Math.abs(x) >= 1e4 || x === Math.round(x) ? String(x) : x.toPrecision(4); }
  document.querySelectorAll('svg.chart').forEach(function (svg) {
    var xl = svg.getAttribute('data-xlabel') || 'x';
    svg.addEventListener('mousemove', function (e) {
      var t = e.target;
      if (t.classList && t.classList.contains('pt')) {
        var run = t.getAttribute('data-run');
        tip.textContent = (run ? run + ': ' : '') + t.getAttribute('data-series') + ' \u2014 ' + xl + ' ' +
            t.getAttribute('data-x') + ': ' + fmt(t.getAttribute('data-y'));
        tip.style.left = (e.pageX + 12) + 'px';
        tip.style.top = (e.pageY + 12) + 'px';
        tip.style.display = 'block';
      } else {
        tip.style.display = 'none';
      }
    });
    svg.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
  });
  document.querySelectorAll('.legend span').forEach(function (s) {
    s.addEventListener('click', function () {
      var fig = s.closest('figure'), name = s.getAttribute('data-series');
      s.classList.toggle('off');
      fig.querySelectorAll('g.series').forEach(function (g) {
        if (g.getAttribute('data-series') === name) g.classList.toggle('hidden');
      });
    });
  });
  var radios = document.querySelectorAll('input[name=xaxis]');
  function setX(v) {
    document.body.classList.toggle('by-time', v === 'time');
    radios.forEach(function (r) { r.checked = r.value === v; });
  }
  radios.forEach(function (r) { r.addEventListener('change', function () { setX(r.value); }); });
  // The address's #fragment presets the view: x=time, hide=RUN, focus=CHART_ID, and the sample browser's filters
  // (run, step=A:B, prompt, correct=yes|no, finish, text).
  var h = {};
  location.hash.replace(/^#/, '').split('&').forEach(function (kv) {
    if (!kv) return;
    var i = kv.indexOf('=');
    h[decodeURIComponent(i < 0 ? kv : kv.slice(0, i))] = i < 0 ? '' : decodeURIComponent(kv.slice(i + 1));
  });
  if (h.x) setX(h.x);
  if (h.hide !== undefined)
    document.querySelectorAll('g.series').forEach(function (g) {
      if (g.getAttribute('data-run') === h.hide) g.classList.add('hidden');
    });
  var data = el('samples-data');
  if (data) browser(JSON.parse(data.textContent), h);
  if (h.focus && el(h.focus)) {
    var fig = el(h.focus);
    Array.prototype.slice.call(document.body.children).forEach(function (c) {
      if (c !== fig && c.id !== 'tip' && c.tagName !== 'SCRIPT') c.style.display = 'none';
    });
    document.body.insertBefore(fig, document.body.firstChild);
    fig.style.width = '1000px';
  }

  function browser(d, h) {
    var C = {};
    d.columns.forEach(function (c, i) { C[c] = i; });
    var f = { run: el('f-run'), s0: el('f-step-min'), s1: el('f-step-max'), prompt: el('f-prompt'),
              correct: el('f-correct'), finish: el('f-finish'), text: el('f-text') };
    function option(sel, value, text) {
      var o = document.createElement('option');
      o.value = value;
      o.textContent = text;
      sel.appendChild(o);
    }
    d.runs.forEach(function (r, i) { option(f.run, String(i), r); });
    var fins = {};
    d.samples.forEach(function (s) { fins[s[C.finish]] = 1; });
    Object.keys(fins).sort().forEach(function (x) { option(f.finish, x, x); });
    if (h.run !== undefined) f.run.value = String(d.runs.indexOf(h.run));
    if (h.step) { var p = h.step.split(':'); f.s0.value = p[0]; f.s1.value = p.length > 1 ? p[1] : p[0]; }
    if (h.prompt) f.prompt.value = h.prompt;
    if (h.correct) f.correct.value = h.correct;
    if (h.finish) f.finish.value = h.finish;
    if (h.text) f.text.value = h.text;
    function match(s) {
      if (f.run.value !== '' && String(s[C.run]) !== f.run.value) return false;
      if (f.s0.value !== '' && s[C.step] < Number(f.s0.value)) return false;
      if (f.s1.value !== '' && s[C.step] > Number(f.s1.value)) return false;
      var q = f.prompt.value.trim();
      if (q !== '') {
        if (/^\d+$/.test(q)) { if (s[C.prompt] !== Number(q)) return false; }
        else { var pt = d.prompts[s[C.run]][String(s[C.prompt])]; if (!pt || pt[0].indexOf(q) < 0) return false; }
      }
      if (f.correct.value === 'yes' && !s[C.correct]) return false;
      if (f.correct.value === 'no' && s[C.correct]) return false;
      if (f.finish.value !== '' && s[C.finish] !== f.finish.value) return false;
      if (f.text.value !== '' && s[C.text].indexOf(f.text.value) < 0) return false;
      return true;
    }
    var body = el('samples-body'), count = el('samples-count'), LIMIT = 100;
    function td(tr, text, cls) {
      var c = document.createElement('td');
      c.textContent = text;
      if (cls) c.className = cls;
      tr.appendChild(c);
      return c;
    }
    function render() {
      var m = d.samples.filter(match);
      body.textContent = '';
      m.slice(0, LIMIT).forEach(function (s) {
        var tr = document.createElement('tr');
        tr.setAttribute('data-sample-id', s[C.id]);
        tr.setAttribute('data-run', d.runs[s[C.run]]);
        td(tr, d.runs[s[C.run]]);
        td(tr, s[C.step], 'num');
        td(tr, s[C.id], 'num');
        td(tr, s[C.prompt], 'num');
        td(tr, s[C.correct] ? 'yes' : 'no');
        td(tr, s[C.tokens], 'num');
        td(tr, s[C.finish]);
        td(tr, fmt(s[C.reward]), 'num');
        var c = td(tr, ''), det = document.createElement('details'), sum = document.createElement('summary');
        var text = s[C.text];
        sum.textContent = text.length > 90 ? text.slice(0, 90) + '\u2026' : text;
        det.appendChild(sum);
        var pt = d.prompts[s[C.run]][String(s[C.prompt])] || ['', ''];
        var pd = document.createElement('div');
        pd.className = 'prompt';
        pd.textContent = 'prompt: ' + pt[0] + '\ngold: ' + pt[1];
        det.appendChild(pd);
        var pre = document.createElement('pre');
        pre.textContent = text + (s[C.cut] ? '\n[... cut; `reasonrl inspect RUN.db show ' + s[C.id] + '` has it all]' : '');
        det.appendChild(pre);
        c.appendChild(det);
        body.appendChild(tr);
      });
      count.textContent = m.length + ' of ' + d.samples.length + ' embedded samples match' +
          (m.length > LIMIT ? ' (the first ' + LIMIT + ' shown)' : '');
      count.setAttribute('data-matches', String(m.length));
    }
    Object.keys(f).forEach(function (k) {
      f[k].addEventListener('input', render);
      f[k].addEventListener('change', render);
    });
    render();
  }
  document.documentElement.setAttribute('data-points', String(document.querySelectorAll('.pt').length));
  document.documentElement.setAttribute('data-ready', '1');
})();
)js";

}  // namespace

std::vector<std::string> run_labels(const std::vector<const RolloutStore*>& stores, const std::vector<std::string>& given) {
  if (!given.empty() && given.size() != stores.size())
    throw Error(fmt::format("{} labels for {} runs: give one --label per file, or none", given.size(), stores.size()));
  std::vector<std::string> out;
  std::map<std::string, int> seen;
  for (size_t i = 0; i < stores.size(); ++i) {
    std::string l = !given.empty() && !given[i].empty() ? given[i] : "";
    if (l.empty()) {
      const auto info = stores[i]->run_info();
      l = info && !info->name.empty() ? info->name : "run " + std::to_string(i + 1);
    }
    const int n = ++seen[l];
    out.push_back(n == 1 ? l : fmt::format("{} ({})", l, n));
  }
  return out;
}

std::string render_report(const RolloutStore& st, const ReportOptions& opt) {
  return render_report(std::vector<ReportRun>{{&st, run_labels({&st}, {})[0]}}, opt);
}

std::string render_report(const std::vector<ReportRun>& in, const ReportOptions& opt) {
  if (in.empty()) throw Error("report: no run given");
  std::vector<RunData> runs;
  for (size_t i = 0; i < in.size(); ++i) runs.push_back(load_run(in[i], static_cast<int>(i)));
  const bool multi = runs.size() > 1;
  std::string title = opt.title;
  if (title.empty())
    for (const auto& r : runs) title += (title.empty() ? "" : " vs ") + r.label;
  bool any_time = false;
  for (const auto& r : runs) any_time |= !r.elapsed.empty();
  const PlotStyle style{false, opt.smooth_min_points};

  std::set<std::string> used;
  std::vector<Collapsed> collapsed;
  // A series per run (and per key): the run's label prefixes the key when several runs are overlaid.
  auto make = [&](const RunData& r, const std::string& key, int color) {
    Series s;
    s.name = multi ? r.label + kSep + key : key;
    s.run = r.label;
    s.pts = r.metrics.at(key);
    s.tpts = by_time(r, s.pts);
    s.color = color;
    return s;
  };
  auto keys_of = [&](std::initializer_list<std::string> keys, const std::string& prefix, const std::set<std::string>& skip) {
    std::vector<std::string> out;
    for (const auto& k : keys)
      for (const auto& r : runs)
        if (r.metrics.count(k) && std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
    if (!prefix.empty()) {
      std::set<std::string> pre;
      for (const auto& r : runs)
        for (const auto& [k, v] : r.metrics)
          if (k.rfind(prefix, 0) == 0 && !skip.count(k) && std::find(out.begin(), out.end(), k) == out.end()) pre.insert(k);
      out.insert(out.end(), pre.begin(), pre.end());
    }
    return out;
  };
  // A metric chart over steps: one series per run and key; a chart whose series are all constant is collapsed.
  auto metric_chart = [&](const std::string& id, const std::string& title_, const std::vector<std::string>& keys,
                          const std::string& ylabel, const std::string& note) -> std::string {
    std::vector<Series> series;
    for (const auto& k : keys) used.insert(k);
    // One key: a colour per run. Several keys: a colour per key, the second run dashed.
    for (const auto& r : runs)
      for (size_t ki = 0; ki < keys.size(); ++ki)
        if (r.metrics.count(keys[ki])) {
          series.push_back(make(r, keys[ki], keys.size() == 1 ? r.index : static_cast<int>(ki)));
          series.back().dashed = keys.size() > 1 && r.index % 2 == 1;
        }
    if (!series.empty() && std::all_of(series.begin(), series.end(), constant)) {
      for (const auto& s : series)
        collapsed.push_back({s.run, multi ? s.name.substr(s.run.size() + std::string(kSep).size()) : s.name,
                             s.pts.front().second, s.pts.size()});
      return "";
    }
    return line_chart(id, title_, "metric", series, "step", ylabel, note, style);
  };

  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    << "<title>" << esc(title) << " \xE2\x80\x94 reasonrl report</title><style>" << kCss << "</style></head><body>\n";
  h << "<h1>" << esc(title) << "</h1>\n";
  for (const auto& r : runs) {
    const Db& db = r.st->db();
    h << "<div class=\"meta run-meta\" data-run=\"" << esc(r.label) << "\">";
    if (multi)
      h << "<span><span class=\"swatch\" style=\"background:" << kPalette[r.index % 10] << "\"></span><b>" << esc(r.label)
        << "</b></span>";
    h << "<span>" << esc(r.st->path()) << "</span>";
    if (r.info)
      h << "<span>started " << esc(r.info->started_at) << "</span><span>" << esc(r.info->version) << "</span><span>seed "
        << r.info->seed << "</span>";
    h << "<span>" << esc(steps_range_text(*r.st)) << "</span><span>" << db.scalar_i64("SELECT count(*) FROM samples")
      << " samples</span><span>" << db.scalar_i64("SELECT count(*) FROM prompts") << " prompts</span><span>schema v"
      << r.st->schema_version() << "</span>";
    if (!r.elapsed.empty())
      h << "<span>" << fmt::format("{:.1f}", r.elapsed.rbegin()->second) << " s (" << esc(r.time_source) << ")</span>";
    h << "</div>\n";
    if (r.info && !r.info->config_json.empty()) {
      std::string cfg = r.info->config_json;
      try {
        cfg = json::parse(cfg).dump(2);
      } catch (const std::exception&) {
      }
      h << "<details><summary>resolved config" << (multi ? " of " + esc(r.label) : "") << "</summary><pre>" << esc(cfg)
        << "</pre></details>\n";
    }
  }
  if (any_time)
    h << "<div class=\"controls\">x axis: <label><input type=\"radio\" name=\"xaxis\" value=\"step\" checked> step</label>"
         "<label><input type=\"radio\" name=\"xaxis\" value=\"time\"> wall time</label></div>\n";

  // ---- training curves
  h << "<h2>Training</h2><div class=\"grid\">\n";
  h << metric_chart("reward", "Reward per component",
                    keys_of({metric::kRewardMean}, "reward/", {metric::kRewardMean, metric::kRewardStd}), "reward",
                    "mean over samples where it applied (unweighted)");
  h << metric_chart("pass_rate", "Pass rate", keys_of({metric::kAccuracy, metric::kPassRate}, "", {}), "fraction",
                    "accuracy = correct samples; pass_rate = prompts with one correct sample");
  h << metric_chart("length", "Response length", keys_of({metric::kLenMean, metric::kLenP90}, "", {}), "tokens",
                    "mean and 90th percentile");
  h << metric_chart("kl", "KL to the reference", keys_of({metric::kKl}, "", {}), "KL", "");
  h << metric_chart("entropy", "Entropy", keys_of({metric::kEntropy}, "", {}), "nats / token", "");
  h << metric_chart("clip_frac", "Clip fraction", keys_of({metric::kClipFrac}, "", {}), "fraction", "");
  h << metric_chart("staleness", "Staleness", keys_of({metric::kStaleness}, "", {}), "policy versions",
                    "mean (policy version \xE2\x88\x92 oldest version that generated the sample)");
  h << metric_chart("tokens_per_s", "Throughput", keys_of({metric::kTokensPerS}, "", {}), "tokens / s", "");
  h << metric_chart("time", "Time per stage", keys_of({}, metric::kTimePrefix, {}), "ms", "");
  h << "</div>\n";

  // ---- samples: length quantiles, weighted reward components, success by difficulty
  h << "<h2>Samples</h2><div class=\"grid\">\n";
  {
    std::vector<Series> series;
    std::vector<Band> bands;
    for (const auto& r : runs) {
      const Quantiles q = length_quantiles(*r.st);
      for (int k : {1, 0, 2}) {
        Series s;
        s.name = multi ? r.label + kSep + kQName[k] : kQName[k];
        s.run = r.label;
        s.pts = q.q[k];
        s.tpts = by_time(r, s.pts);
        s.color = r.index;
        s.edge = k != 1;
        series.push_back(std::move(s));
      }
      Band b;
      b.color = r.index;
      b.lo = q.q[0];
      b.hi = q.q[2];
      b.tlo = by_time(r, b.lo);
      b.thi = by_time(r, b.hi);
      bands.push_back(std::move(b));
    }
    PlotStyle qs = style;
    qs.smooth_min_points = 0;
    h << line_chart("length_quantiles", "Response length by step", "quantiles", series, "step", "tokens",
                    "p50 (line) of each step's samples in a band from p10 to p90", qs, bands);
  }
  for (const auto& r : runs)
    h << reward_stack_chart(r, multi ? "reward_weighted-" + std::to_string(r.index) : "reward_weighted",
                            multi ? "Reward components as weighted in the total: " + r.label
                                  : "Reward components as weighted in the total");
  {
    std::vector<std::string> cats;
    std::map<std::string, size_t> cat_of;
    for (const auto& r : runs) {
      Stmt s = r.st->db().prepare("SELECT DISTINCT difficulty FROM samples_view ORDER BY difficulty IS NULL, difficulty");
      while (s.step()) {
        const std::string c = s.is_null(0) ? "unknown" : std::to_string(s.i64(0));
        if (!cat_of.count(c)) {
          cat_of[c] = cats.size();
          cats.push_back(c);
        }
      }
    }
    std::vector<std::pair<std::string, std::vector<std::optional<double>>>> series;
    for (const auto& r : runs) {
      const Db& db = r.st->db();
      const int64_t lo = db.scalar_i64("SELECT coalesce(min(step), 0) FROM steps");
      const int64_t hi = db.scalar_i64("SELECT coalesce(max(step), 0) FROM steps");
      const int64_t mid = lo + (hi - lo) / 2;
      auto add = [&](const std::string& name, int64_t a, int64_t b) {
        std::vector<std::optional<double>> v(cats.size());
        Stmt s = db.prepare("SELECT difficulty, avg(correct) FROM samples_view WHERE step BETWEEN ? AND ? GROUP BY difficulty");
        s.bind(1, a).bind(2, b);
        while (s.step()) v[cat_of[s.is_null(0) ? "unknown" : std::to_string(s.i64(0))]] = s.f64(1);
        series.emplace_back((multi ? r.label + kSep : "") + name, std::move(v));
      };
      if (hi > lo) {
        add(fmt::format("steps {}..{}", lo, mid), lo, mid);
        add(fmt::format("steps {}..{}", mid + 1, hi), mid + 1, hi);
      } else {
        add("all steps", lo, hi);
      }
    }
    h << bar_chart("difficulty", "Success by difficulty", cats, series, "difficulty", "fraction correct",
                   "first half of the run vs second half");
  }
  h << "</div>\n";

  // ---- evaluations
  h << "<h2>Evaluations</h2>\n";
  {
    struct Ev {
      const RunData* run;
      int64_t step;
      std::string split, stage;
      std::map<std::string, double> v;
    };
    std::vector<Ev> evs;
    std::set<std::string> keys;
    for (const auto& r : runs) {
      Stmt s = r.st->db().prepare("SELECT step, split, stage, key, value FROM evaluations WHERE value IS NOT NULL "
                                  "ORDER BY step, split, stage, key");
      while (s.step()) {
        if (evs.empty() || evs.back().run != &r || evs.back().step != s.i64(0) || evs.back().split != s.text(1) ||
            evs.back().stage != s.text(2))
          evs.push_back({&r, s.i64(0), s.text(1), s.text(2), {}});
        evs.back().v[s.text(3)] = s.f64(4);
        keys.insert(s.text(3));
      }
    }
    if (evs.empty()) {
      h << "<p class=\"empty\">no evaluations in this run</p>\n";
    } else {
      auto first_of = [&](std::initializer_list<const char*> cands, const std::string& prefix) -> std::string {
        for (const char* c : cands)
          if (keys.count(c)) return c;
        for (const auto& k : keys)
          if (!prefix.empty() && k.rfind(prefix, 0) == 0) return k;
        return "";
      };
      const std::string yk = first_of({"pass@1", "accuracy"}, "pass@");
      const std::string xk = first_of({"mean_tokens", "len/mean", "tokens_mean"}, "");
      h << "<div class=\"grid\">\n";
      std::map<std::string, Series> scatter, over_steps;
      std::vector<std::string> order;
      for (const auto& e : evs) {
        const std::string name = (multi ? e.run->label + kSep : "") + e.split + (e.stage.empty() ? "" : " / " + e.stage);
        if (!over_steps.count(name)) order.push_back(name);
        if (!yk.empty() && e.v.count(yk)) {
          auto& os = over_steps[name];
          os.name = name;
          os.run = e.run->label;
          os.pts.emplace_back(static_cast<double>(e.step), e.v.at(yk));
          auto t = e.run->elapsed.find(e.step);
          if (t != e.run->elapsed.end()) os.tpts.emplace_back(t->second, e.v.at(yk));
          if (!xk.empty() && e.v.count(xk)) {
            scatter[name].name = name;
            scatter[name].run = e.run->label;
            scatter[name].pts.emplace_back(e.v.at(xk), e.v.at(yk));
          }
        }
      }
      std::vector<Series> sc, os;
      for (const auto& n : order) {
        if (scatter.count(n)) sc.push_back(scatter[n]);
        if (over_steps.count(n)) {
          os.push_back(over_steps[n]);
          if (os.back().tpts.size() != os.back().pts.size()) os.back().tpts.clear();
        }
      }
      PlotStyle markers{true, 0};
      if (!yk.empty() && !xk.empty())
        h << line_chart("eval_tradeoff", yk + " vs " + xk, "eval", sc, xk, yk, "one point per evaluation (split / stage)",
                        markers);
      if (!yk.empty()) h << line_chart("eval_steps", yk + " over steps", "eval", os, "step", yk, "", PlotStyle{false, 0});
      h << "</div>\n<table class=\"evals\"><thead><tr>" << (multi ? "<th>run</th>" : "") << "<th>step</th><th>split</th><th>stage</th>";
      for (const auto& k : keys) h << "<th>" << esc(k) << "</th>";
      h << "</tr></thead><tbody>";
      for (const auto& e : evs) {
        h << "<tr>" << (multi ? "<td>" + esc(e.run->label) + "</td>" : "") << "<td>" << e.step << "</td><td>"
          << esc(e.split) << "</td><td>" << esc(e.stage) << "</td>";
        for (const auto& k : keys) {
          if (e.v.count(k)) h << "<td class=\"num\" data-key=\"" << esc(k) << "\" data-value=\"" << num(e.v.at(k)) << "\">"
                              << fmt::format("{:.4g}", e.v.at(k)) << "</td>";
          else h << "<td></td>";
        }
        h << "</tr>";
      }
      h << "</tbody></table>\n";
    }
  }

  // ---- other metrics
  {
    std::set<std::string> rest;
    for (const auto& r : runs)
      for (const auto& [k, v] : r.metrics)
        if (!used.count(k)) rest.insert(k);
    std::string charts;
    for (const auto& k : rest) charts += metric_chart("metric:" + k, k, {k}, "", "");
    if (!charts.empty()) h << "<h2>Other metrics</h2><div class=\"grid\">\n" << charts << "</div>\n";
  }
  if (!collapsed.empty()) {
    h << "<h2>Constant metrics</h2><p class=\"meta\">Not drawn: each holds one value at every step.</p>"
         "<ul class=\"collapsed\">";
    for (const auto& c : collapsed)
      h << "<li data-run=\"" << esc(c.run) << "\" data-series=\"" << esc(c.key) << "\" data-value=\"" << num(c.value)
        << "\" data-n=\"" << c.n << "\">" << (multi ? esc(c.run) + ": " : "") << "<code>" << esc(c.key) << "</code> = "
        << fmt::format("{:.6g}", c.value) << " (" << c.n << " steps)</li>";
    h << "</ul>\n";
  }

  // ---- sample browser
  if (opt.browser_steps > 0) {
    int64_t embedded = 0, total = 0;
    std::string rule;
    const std::string data = browser_data(runs, opt, &embedded, &total, &rule);
    h << "<h2>Sample browser</h2><section class=\"browser\" id=\"browser\" data-embedded=\"" << embedded
      << "\" data-total=\"" << total << "\"><p class=\"meta\">" << embedded << " of " << total
      << " samples embedded: " << esc(rule) << ". All of them: <code>reasonrl inspect RUN.db samples</code>.</p>"
      << "<div class=\"filters\"><label>run <select id=\"f-run\"><option value=\"\">any</option></select></label>"
      << "<label>steps <input id=\"f-step-min\" type=\"number\"> to <input id=\"f-step-max\" type=\"number\"></label>"
      << "<label>prompt (id or text) <input id=\"f-prompt\" type=\"text\"></label>"
      << "<label>correct <select id=\"f-correct\"><option value=\"\">any</option><option value=\"yes\">yes</option>"
      << "<option value=\"no\">no</option></select></label>"
      << "<label>finish <select id=\"f-finish\"><option value=\"\">any</option></select></label>"
      << "<label>text contains <input id=\"f-text\" type=\"text\"></label></div>"
      << "<p class=\"meta\" id=\"samples-count\"></p><table><thead><tr><th>run</th><th>step</th><th>id</th><th>prompt</th>"
      << "<th>correct</th><th>tokens</th><th>finish</th><th>reward</th><th>completion</th></tr></thead>"
      << "<tbody id=\"samples-body\"></tbody></table>"
      << "<script type=\"application/json\" id=\"samples-data\">" << data << "</script></section>\n";
  }

  // ---- completions
  h << "<h2>Completions</h2>\n";
  const int n = std::max(1, opt.n_completions);
  for (const auto& r : runs) {
    const std::string sfx = multi ? "-" + std::to_string(r.index) : "";
    const std::string of = multi ? " \xE2\x80\x94 " + r.label : "";
    h << completions_table("best" + sfx, "Best (highest reward)" + of,
                           completions(*r.st, "ORDER BY reward DESC, step DESC, id", n), opt.max_text_chars, r.st->path());
    h << completions_table("worst" + sfx, "Worst (lowest reward)" + of,
                           completions(*r.st, "ORDER BY reward ASC, step DESC, id", n), opt.max_text_chars, r.st->path());
    h << completions_table("truncated" + sfx, "Truncated (finish reason: length), latest first" + of,
                           completions(*r.st, "WHERE finish_reason = 'length' ORDER BY step DESC, id", n),
                           opt.max_text_chars, r.st->path());
  }
  h << "<p class=\"meta\">Generated by reasonrl report from";
  for (const auto& r : runs) h << " " << esc(r.st->path());
  h << ". Query it yourself: <code>sqlite3 " << esc(runs[0].st->path()) << "</code>.</p>\n";
  h << "<div id=\"tip\"></div><script>" << kJs << "</script></body></html>\n";
  return h.str();
}

void write_report(const std::vector<std::string>& db_paths, const std::string& out_path, const ReportOptions& opt,
                  const std::vector<std::string>& labels) {
  std::vector<RolloutStore> stores;
  for (const auto& p : db_paths) stores.push_back(RolloutStore::open(p, true));
  std::vector<const RolloutStore*> ptrs;
  for (const auto& s : stores) ptrs.push_back(&s);
  const auto l = run_labels(ptrs, labels);
  std::vector<ReportRun> runs;
  for (size_t i = 0; i < stores.size(); ++i) runs.push_back({&stores[i], l[i]});
  write_file_atomic(out_path, render_report(runs, opt));
}

void write_report(const std::string& db_path, const std::string& out_path, const ReportOptions& opt) {
  write_report(std::vector<std::string>{db_path}, out_path, opt);
}

}  // namespace reasonrl::store

// report.cpp: renders a rollout store as one self-contained HTML page with inline SVG charts and a little inline JS.
#include "rl/store/report.h"

#include <fmt/format.h>

#include <algorithm>
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
constexpr int kW = 520, kH = 270, kL = 58, kR = 14, kT = 12, kB = 40;

std::string esc(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
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
  std::string name;
  std::vector<std::pair<double, double>> pts;  // (x, y)
  bool dashed = false;
};

std::string legend(const std::vector<std::string>& names) {
  if (names.size() < 2) return "";
  std::string s = "<div class=\"legend\">";
  for (size_t i = 0; i < names.size(); ++i)
    s += fmt::format("<span data-series=\"{}\" style=\"--c:{}\">{}</span>", esc(names[i]), kPalette[i % 10],
                     esc(names[i]));
  return s + "</div>";
}

std::string figure_open(const std::string& id, const std::string& title, const std::string& note = "") {
  return fmt::format("<figure class=\"chart-box\" id=\"{}\" data-chart=\"{}\"><figcaption>{}{}</figcaption>", esc(id),
                     esc(id), esc(title), note.empty() ? "" : "<small> " + esc(note) + "</small>");
}

std::string empty_figure(const std::string& id, const std::string& title, const std::string& why) {
  return figure_open(id, title) + "<p class=\"empty\">" + esc(why) + "</p></figure>\n";
}

// Axes, grid and labels for a plot area mapping [x0,x1]x[y0,y1].
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

std::string line_chart(const std::string& id, const std::string& title, const std::vector<Series>& series,
                       const std::string& xlabel = "step", const std::string& ylabel = "", const std::string& note = "",
                       bool markers_only = false) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  size_t n = 0;
  for (const auto& s : series)
    for (const auto& [x, y] : s.pts) {
      x0 = std::min(x0, x);
      x1 = std::max(x1, x);
      y0 = std::min(y0, y);
      y1 = std::max(y1, y);
      ++n;
    }
  if (n == 0) return empty_figure(id, title, "no data in this run");
  const Ticks xt = nice_ticks(x0, x1, 6, xlabel == "step"), yt = nice_ticks(y0, y1, 5);
  const double pw = kW - kL - kR, ph = kH - kT - kB;
  auto X = [&](double x) { return kL + pw * (x - xt.lo) / (xt.hi - xt.lo); };
  auto Y = [&](double y) { return kT + ph * (1 - (y - yt.lo) / (yt.hi - yt.lo)); };
  std::vector<std::string> names;
  for (const auto& s : series) names.push_back(s.name);
  std::string out = figure_open(id, title, note) + legend(names);
  out += fmt::format("<svg class=\"chart\" viewBox=\"0 0 {} {}\" data-xlabel=\"{}\">", kW, kH, esc(xlabel));
  out += axes(xt, yt, xlabel, ylabel);
  const double r = n > 600 ? 1.4 : 2.6;
  for (size_t i = 0; i < series.size(); ++i) {
    const auto& s = series[i];
    const char* col = kPalette[i % 10];
    out += fmt::format("<g class=\"series\" data-series=\"{}\" style=\"--c:{}\">", esc(s.name), col);
    if (!markers_only && s.pts.size() > 1) {
      std::string d;
      for (size_t k = 0; k < s.pts.size(); ++k) d += fmt::format("{}{:.1f},{:.1f}", k ? "L" : "M", X(s.pts[k].first), Y(s.pts[k].second));
      out += fmt::format("<path d=\"{}\"{}/>", d, s.dashed ? " stroke-dasharray=\"4 3\"" : "");
    }
    for (const auto& [x, y] : s.pts)
      out += fmt::format("<circle class=\"pt\" cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"{}\" data-series=\"{}\" data-x=\"{}\" data-y=\"{}\"/>",
                         X(x), Y(y), markers_only ? 4.0 : r, esc(s.name), num(x), num(y));
    out += "</g>";
  }
  return out + "</svg></figure>\n";
}

// Grouped bars: one group per category, one bar per series; nullopt = no bar.
std::string bar_chart(const std::string& id, const std::string& title, const std::vector<std::string>& cats,
                      const std::vector<std::pair<std::string, std::vector<std::optional<double>>>>& series,
                      const std::string& xlabel, const std::string& ylabel, const std::string& note = "",
                      bool stacked = false) {
  double y1 = 0;
  bool any = false;
  for (size_t c = 0; c < cats.size(); ++c) {
    double stack = 0;
    for (const auto& [name, vals] : series)
      if (vals[c]) {
        any = true;
        stack += *vals[c];
        y1 = std::max(y1, stacked ? stack : *vals[c]);
      }
  }
  if (!any) return empty_figure(id, title, "no data in this run");
  const Ticks yt = nice_ticks(0, y1, 5);
  const Ticks xt{0, 1, 1, {}};
  const double pw = kW - kL - kR, ph = kH - kT - kB;
  auto Y = [&](double y) { return kT + ph * (1 - (y - yt.lo) / (yt.hi - yt.lo)); };
  std::vector<std::string> names;
  for (const auto& s : series) names.push_back(s.first);
  std::string out = figure_open(id, title, note) + legend(names);
  out += fmt::format("<svg class=\"chart\" viewBox=\"0 0 {} {}\" data-xlabel=\"{}\">", kW, kH, esc(xlabel));
  out += axes(xt, yt, xlabel, ylabel, &cats);
  const double gw = pw / static_cast<double>(cats.size());
  const double bw = stacked ? gw * 0.8 : gw * 0.8 / static_cast<double>(series.size());
  std::vector<double> base(cats.size(), 0);
  for (size_t i = 0; i < series.size(); ++i) {
    const auto& [name, vals] = series[i];
    out += fmt::format("<g class=\"series\" data-series=\"{}\" style=\"--c:{}\">", esc(name), kPalette[i % 10]);
    for (size_t c = 0; c < cats.size(); ++c) {
      if (!vals[c]) continue;
      const double x = kL + gw * c + gw * 0.1 + (stacked ? 0 : bw * i);
      const double top = Y(base[c] + *vals[c]), bottom = Y(base[c]);
      out += fmt::format(
          "<rect class=\"pt bar\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" data-series=\"{}\" "
          "data-x=\"{}\" data-y=\"{}\"/>",
          x, top, std::max(0.5, bw - 1), std::max(0.0, bottom - top), esc(name), esc(cats[c]), num(*vals[c]));
      if (stacked) base[c] += *vals[c];
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
                              int max_chars) {
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
        esc(text), cut ? "\n[... cut; `reasonrl inspect RUN.db show " + std::to_string(r.id) + "` has it all]" : "");
  }
  return s + "</tbody></table></section>\n";
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
)css";

const char* kJs = R"js(
(function () {
  var tip = document.getElementById('tip');
  function fmt(v) { var x = Number(v); return Math.abs(x) >= 1e4 || x === Math.round(x) ? String(x) : x.toPrecision(4); }
  document.querySelectorAll('svg.chart').forEach(function (svg) {
    var xl = svg.getAttribute('data-xlabel') || 'x';
    svg.addEventListener('mousemove', function (e) {
      var t = e.target;
      if (t.classList && t.classList.contains('pt')) {
        tip.textContent = t.getAttribute('data-series') + ' \u2014 ' + xl + ' ' + t.getAttribute('data-x') + ': ' +
            fmt(t.getAttribute('data-y'));
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
  document.documentElement.setAttribute('data-points', String(document.querySelectorAll('.pt').length));
  document.documentElement.setAttribute('data-ready', '1');
})();
)js";

}  // namespace

std::string render_report(const RolloutStore& st, const ReportOptions& opt) {
  const Db& db = st.db();
  const auto info = st.run_info();
  const std::string title = !opt.title.empty() ? opt.title : info ? info->name : std::string("rollout store");

  // All step metrics: key -> [(step, value)] (NULL values skipped).
  std::map<std::string, Series> m;
  {
    Stmt s = db.prepare("SELECT key, step, value FROM step_metrics WHERE value IS NOT NULL ORDER BY key, step");
    while (s.step()) {
      auto& ser = m[s.text(0)];
      ser.name = s.text(0);
      ser.pts.emplace_back(static_cast<double>(s.i64(1)), s.f64(2));
    }
  }
  std::set<std::string> used;
  auto pick = [&](std::initializer_list<std::string> keys) {
    std::vector<Series> out;
    for (const auto& k : keys)
      if (m.count(k)) {
        out.push_back(m[k]);
        used.insert(k);
      }
    return out;
  };
  auto pick_prefix = [&](const std::string& prefix, const std::set<std::string>& skip) {
    std::vector<Series> out;
    for (const auto& [k, s] : m)
      if (k.rfind(prefix, 0) == 0 && !skip.count(k)) {
        out.push_back(s);
        used.insert(k);
      }
    return out;
  };

  const int64_t n_steps = db.scalar_i64("SELECT count(*) FROM steps");
  const int64_t n_samples = db.scalar_i64("SELECT count(*) FROM samples");
  const int64_t n_prompts = db.scalar_i64("SELECT count(*) FROM prompts");

  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
    << "<title>" << esc(title) << " \xE2\x80\x94 reasonrl report</title><style>" << kCss << "</style></head><body>\n";
  h << "<h1>" << esc(title) << "</h1><div class=\"meta\">";
  if (info)
    h << "<span>started " << esc(info->started_at) << "</span><span>" << esc(info->version) << "</span><span>seed "
      << info->seed << "</span>";
  h << "<span>" << esc(steps_range_text(st)) << "</span><span>" << n_samples << " samples</span><span>"
    << n_prompts << " prompts</span><span>schema v" << st.schema_version() << "</span></div>\n";
  if (info && !info->config_json.empty()) {
    std::string cfg = info->config_json;
    try {
      cfg = json::parse(cfg).dump(2);
    } catch (const std::exception&) {
    }
    h << "<details><summary>resolved config</summary><pre>" << esc(cfg) << "</pre></details>\n";
  }

  // ---- training curves
  h << "<h2>Training</h2><div class=\"grid\">\n";
  {
    auto rew = pick({metric::kRewardMean});
    auto comps = pick_prefix("reward/", {metric::kRewardMean, metric::kRewardStd});
    rew.insert(rew.end(), comps.begin(), comps.end());
    h << line_chart("reward", "Reward per component", rew, "step", "reward", "mean over samples where it applied");
  }
  h << line_chart("pass_rate", "Pass rate", pick({metric::kAccuracy, metric::kPassRate}), "step", "fraction",
                  "accuracy = correct samples; pass_rate = prompts with one correct sample");
  {
    auto len = pick({metric::kLenMean, metric::kLenP90});
    h << line_chart("length", "Response length", len, "step", "tokens", "mean and 90th percentile");
  }
  h << line_chart("kl", "KL to the reference", pick({metric::kKl}), "step", "KL");
  h << line_chart("entropy", "Entropy", pick({metric::kEntropy}), "step", "nats / token");
  h << line_chart("clip_frac", "Clip fraction", pick({metric::kClipFrac}), "step", "fraction");
  h << line_chart("staleness", "Staleness", pick({metric::kStaleness}), "step", "policy versions",
                  "mean (policy version \xE2\x88\x92 oldest version that generated the sample)");
  h << line_chart("tokens_per_s", "Throughput", pick({metric::kTokensPerS}), "step", "tokens / s");
  h << line_chart("time", "Time per stage", pick_prefix(metric::kTimePrefix, {}), "step", "ms");
  h << "</div>\n";

  // ---- samples: success by difficulty, length histogram
  h << "<h2>Samples</h2><div class=\"grid\">\n";
  {
    const int64_t lo = db.scalar_i64("SELECT coalesce(min(step), 0) FROM steps");
    const int64_t hi = db.scalar_i64("SELECT coalesce(max(step), 0) FROM steps");
    const int64_t mid = lo + (hi - lo) / 2;
    std::vector<std::string> cats;
    std::map<std::string, size_t> cat_of;
    {
      Stmt s = db.prepare("SELECT DISTINCT difficulty FROM samples_view ORDER BY difficulty IS NULL, difficulty");
      while (s.step()) {
        cat_of[s.is_null(0) ? "unknown" : std::to_string(s.i64(0))] = cats.size();
        cats.push_back(s.is_null(0) ? "unknown" : std::to_string(s.i64(0)));
      }
    }
    std::vector<std::pair<std::string, std::vector<std::optional<double>>>> series;
    auto add = [&](const std::string& name, const std::string& cond, int64_t a, int64_t b) {
      std::vector<std::optional<double>> v(cats.size());
      Stmt s = db.prepare("SELECT difficulty, avg(correct) FROM samples_view WHERE step BETWEEN ? AND ? " + cond +
                          " GROUP BY difficulty");
      s.bind(1, a).bind(2, b);
      while (s.step()) v[cat_of[s.is_null(0) ? "unknown" : std::to_string(s.i64(0))]] = s.f64(1);
      series.emplace_back(name, std::move(v));
    };
    if (hi > lo) {
      add(fmt::format("steps {}..{}", lo, mid), "", lo, mid);
      add(fmt::format("steps {}..{}", mid + 1, hi), "", mid + 1, hi);
    } else {
      add("all steps", "", lo, hi);
    }
    h << bar_chart("difficulty", "Success by difficulty", cats, series, "difficulty", "fraction correct",
                   "first half of the run vs second half");
  }
  {
    const int64_t max_len = db.scalar_i64("SELECT coalesce(max(n_tokens), 0) FROM samples");
    const int bins = std::max(1, opt.histogram_bins);
    const int64_t width = std::max<int64_t>(1, (max_len + bins) / bins);
    std::vector<std::string> cats;
    for (int b = 0; b < bins; ++b) cats.push_back(fmt::format("{}-{}", b * width, (b + 1) * width - 1));
    std::vector<std::optional<double>> ok(bins), bad(bins);
    Stmt s = db.prepare("SELECT n_tokens / ?, correct, count(*) FROM samples GROUP BY 1, 2");
    s.bind(1, width);
    while (s.step()) {
      const auto b = static_cast<size_t>(std::clamp<int64_t>(s.i64(0), 0, bins - 1));
      auto& slot = s.i64(1) ? ok[b] : bad[b];
      slot = slot.value_or(0) + static_cast<double>(s.i64(2));
    }
    h << bar_chart("length_hist", "Length histogram", cats, {{"correct", ok}, {"incorrect", bad}}, "tokens", "samples",
                   fmt::format("all {} samples, stacked", n_samples), true);
  }
  h << "</div>\n";

  // ---- evaluations
  h << "<h2>Evaluations</h2>\n";
  {
    struct Ev {
      int64_t step;
      std::string split, stage;
      std::map<std::string, double> v;
    };
    std::vector<Ev> evs;
    std::set<std::string> keys;
    Stmt s = db.prepare("SELECT step, split, stage, key, value FROM evaluations WHERE value IS NOT NULL "
                        "ORDER BY step, split, stage, key");
    while (s.step()) {
      if (evs.empty() || evs.back().step != s.i64(0) || evs.back().split != s.text(1) || evs.back().stage != s.text(2))
        evs.push_back({s.i64(0), s.text(1), s.text(2), {}});
      evs.back().v[s.text(3)] = s.f64(4);
      keys.insert(s.text(3));
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
      // pass@1 vs mean tokens: one point per evaluation, one series per split/stage.
      std::map<std::string, Series> scatter, over_steps;
      for (const auto& e : evs) {
        const std::string name = e.split + (e.stage.empty() ? "" : " / " + e.stage);
        if (!yk.empty() && e.v.count(yk)) {
          over_steps[name].name = name;
          over_steps[name].pts.emplace_back(static_cast<double>(e.step), e.v.at(yk));
          if (!xk.empty() && e.v.count(xk)) {
            scatter[name].name = name;
            scatter[name].pts.emplace_back(e.v.at(xk), e.v.at(yk));
          }
        }
      }
      std::vector<Series> sc, os;
      for (auto& [k, v] : scatter) sc.push_back(v);
      for (auto& [k, v] : over_steps) os.push_back(v);
      if (!yk.empty() && !xk.empty())
        h << line_chart("eval_tradeoff", yk + " vs " + xk, sc, xk, yk, "one point per evaluation (split / stage)", true);
      if (!yk.empty()) h << line_chart("eval_steps", yk + " over steps", os, "step", yk);
      h << "</div>\n<table class=\"evals\"><thead><tr><th>step</th><th>split</th><th>stage</th>";
      for (const auto& k : keys) h << "<th>" << esc(k) << "</th>";
      h << "</tr></thead><tbody>";
      for (const auto& e : evs) {
        h << "<tr><td>" << e.step << "</td><td>" << esc(e.split) << "</td><td>" << esc(e.stage) << "</td>";
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
    std::vector<std::string> rest;
    for (const auto& [k, s] : m)
      if (!used.count(k)) rest.push_back(k);
    if (!rest.empty()) {
      h << "<h2>Other metrics</h2><div class=\"grid\">\n";
      for (const auto& k : rest) h << line_chart("metric:" + k, k, {m[k]}, "step", "");
      h << "</div>\n";
    }
  }

  // ---- completions
  h << "<h2>Completions</h2>\n";
  const int n = std::max(1, opt.n_completions);
  h << completions_table("best", "Best (highest reward)", completions(st, "ORDER BY reward DESC, step DESC, id", n),
                         opt.max_text_chars);
  h << completions_table("worst", "Worst (lowest reward)", completions(st, "ORDER BY reward ASC, step DESC, id", n),
                         opt.max_text_chars);
  h << completions_table("truncated", "Truncated (finish reason: length), latest first",
                         completions(st, "WHERE finish_reason = 'length' ORDER BY step DESC, id", n),
                         opt.max_text_chars);
  h << "<p class=\"meta\">" << n_steps << " steps. Generated by reasonrl report from " << esc(st.path())
    << ". Query it yourself: <code>sqlite3 " << esc(st.path()) << "</code>.</p>\n";
  h << "<div id=\"tip\"></div><script>" << kJs << "</script></body></html>\n";
  return h.str();
}

void write_report(const std::string& db_path, const std::string& out_path, const ReportOptions& opt) {
  auto st = RolloutStore::open(db_path, true);
  write_file_atomic(out_path, render_report(st, opt));
}

}  // namespace reasonrl::store

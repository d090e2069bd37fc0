// inspect.cpp: the read-side queries behind `reasonrl inspect` and their text/JSON rendering.
#include "rl/store/inspect.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "rl/util/error.h"
#include "rl/util/utf8.h"

namespace reasonrl::store {

namespace {

json cell(const Stmt& s, int i) {
  switch (s.column_type(i)) {
    case SQLITE_INTEGER: return s.i64(i);
    case SQLITE_FLOAT: return s.f64(i);
    case SQLITE_TEXT: return utf8_replace_invalid(s.text(i));  // JSON holds UTF-8 (a query can build any bytes)
    case SQLITE_BLOB: return "<blob " + std::to_string(sqlite3_column_bytes(const_cast<Stmt&>(s).raw(), i)) + " bytes>";
    default: return nullptr;
  }
}

size_t display_width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Cut to `max` code points (0 = no cut), showing newlines and tabs as escapes.
std::string one_line(const std::string& s, size_t max) {
  std::string out;
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (max && n >= max && (c & 0xC0) != 0x80) {
      // Back up one code point to make room for the ellipsis.
      while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
      if (!out.empty()) out.pop_back();
      return out + "\xE2\x80\xA6";
    }
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else out += static_cast<char>(c);
    if ((c & 0xC0) != 0x80) n += (c == '\n' || c == '\t' || c == '\r') ? 2 : 1;
  }
  return out;
}

std::string format_number(const json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
  const double x = v.get<double>();
  if (std::isnan(x)) return "nan";
  if (x != 0 && (std::fabs(x) >= 1e7 || std::fabs(x) < 1e-3)) return fmt::format("{:.4g}", x);
  std::string s = fmt::format("{:.4f}", x);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

std::string cell_text(const json& v, size_t max_cell) {
  if (v.is_null()) return "-";
  if (v.is_number()) return format_number(v);
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_string()) return one_line(v.get<std::string>(), max_cell);
  return one_line(v.dump(), max_cell);
}

std::vector<std::string> metric_keys(const RolloutStore& st) {
  std::vector<std::string> keys;
  Stmt s = st.db().prepare("SELECT DISTINCT key FROM step_metrics ORDER BY key");
  while (s.step()) keys.push_back(s.text(0));
  return keys;
}

bool step_exists(const RolloutStore& st, int64_t step) {
  Stmt s = st.db().prepare("SELECT 1 FROM steps WHERE step = ?");
  s.bind(1, step);
  return s.step();
}

void require_step(const RolloutStore& st, int64_t step) {
  if (!step_exists(st, step))
    throw Error("no step " + std::to_string(step) + " in '" + st.path() + "' (" + steps_range_text(st) + ")");
}

std::vector<std::string> reward_components(const RolloutStore& st) {
  std::vector<std::string> out;
  Stmt s = st.db().prepare("SELECT DISTINCT component FROM sample_rewards ORDER BY component");
  while (s.step()) out.push_back(s.text(0));
  return out;
}

std::string csv_field(const json& v) {
  std::string s;
  if (v.is_null()) return "";
  if (v.is_string()) s = v.get<std::string>();
  else if (v.is_number_float()) s = fmt::format("{}", v.get<double>());
  else if (v.is_boolean()) s = v.get<bool>() ? "1" : "0";
  else s = v.dump();
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

void write_row(std::ostream& os, ExportFormat fmt, const std::vector<std::string>& cols, const std::vector<json>& row) {
  if (fmt == ExportFormat::Jsonl) {
    json o = json::object();
    for (size_t i = 0; i < cols.size(); ++i) o[cols[i]] = row[i];
    os << o.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
  } else {
    for (size_t i = 0; i < row.size(); ++i) os << (i ? "," : "") << csv_field(row[i]);
    os << "\r\n";
  }
}

}  // namespace

json Table::to_json() const {
  json arr = json::array();
  for (const auto& r : rows) {
    json o = json::object();
    for (size_t i = 0; i < columns.size(); ++i) o[columns[i]] = r[i];
    arr.push_back(std::move(o));
  }
  return arr;
}

void print_table(std::ostream& os, const Table& t, size_t max_cell) {
  std::vector<std::vector<std::string>> text(t.rows.size());
  std::vector<size_t> w(t.columns.size());
  std::vector<bool> numeric(t.columns.size(), true);
  for (size_t c = 0; c < t.columns.size(); ++c) w[c] = display_width(t.columns[c]);
  for (size_t r = 0; r < t.rows.size(); ++r)
    for (size_t c = 0; c < t.columns.size(); ++c) {
      const json& v = t.rows[r][c];
      text[r].push_back(cell_text(v, max_cell));
      w[c] = std::max(w[c], display_width(text[r][c]));
      if (!v.is_number() && !v.is_null()) numeric[c] = false;
    }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t c = 0; c < cells.size(); ++c) {
      const std::string pad(w[c] - display_width(cells[c]), ' ');
      if (c) s += "  ";
      s += numeric[c] ? pad + cells[c] : cells[c] + (c + 1 < cells.size() ? pad : "");
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    os << s << '\n';
  };
  line(t.columns);
  std::vector<std::string> rule;
  for (size_t c = 0; c < w.size(); ++c) rule.push_back(std::string(w[c], '-'));
  line(rule);
  for (const auto& r : text) line(r);
}

std::string steps_range_text(const RolloutStore& st) {
  Stmt s = st.db().prepare("SELECT min(step), max(step), count(*) FROM steps");
  s.step();
  if (s.i64(2) == 0) return "it has no steps yet";
  return fmt::format("steps {}..{}, {} in all", s.i64(0), s.i64(1), s.i64(2));
}

Table summary_table(const RolloutStore& st, const std::vector<std::string>& keys) {
  const auto all = metric_keys(st);
  std::vector<std::string> cols;
  if (keys.empty()) {
    for (const char* k : {metric::kRewardMean, metric::kAccuracy, metric::kPassRate, metric::kLenMean, metric::kLenP90,
                          metric::kTruncatedFrac, metric::kKl, metric::kEntropy, metric::kClipFrac, metric::kStaleness,
                          metric::kTokensPerS})
      if (std::find(all.begin(), all.end(), k) != all.end()) cols.push_back(k);
  } else {
    for (const auto& k : keys) {
      size_t before = cols.size();
      if (k == "*") {
        cols.insert(cols.end(), all.begin(), all.end());
      } else if (!k.empty() && k.back() == '*') {
        const std::string prefix = k.substr(0, k.size() - 1);
        for (const auto& a : all)
          if (a.rfind(prefix, 0) == 0) cols.push_back(a);
      } else if (std::find(all.begin(), all.end(), k) != all.end()) {
        cols.push_back(k);
      }
      if (cols.size() == before) {
        std::string list;
        for (const auto& a : all) list += (list.empty() ? "" : ", ") + a;
        throw Error("no metric '" + k + "' in '" + st.path() + "'; metrics: " + (list.empty() ? "(none)" : list));
      }
    }
  }
  Table t;
  t.columns = {"step", "n_samples"};
  t.columns.insert(t.columns.end(), cols.begin(), cols.end());
  std::map<std::string, size_t> col_of;
  for (size_t i = 0; i < cols.size(); ++i) col_of[cols[i]] = i + 2;
  Stmt s = st.db().prepare("SELECT step, n_samples FROM steps ORDER BY step");
  std::map<int64_t, size_t> row_of;
  while (s.step()) {
    row_of[s.i64(0)] = t.rows.size();
    std::vector<json> row(t.columns.size(), nullptr);
    row[0] = s.i64(0);
    row[1] = s.i64(1);
    t.rows.push_back(std::move(row));
  }
  Stmt m = st.db().prepare("SELECT step, key, value FROM step_metrics");
  while (m.step()) {
    auto c = col_of.find(m.text(1));
    auto r = row_of.find(m.i64(0));
    if (c != col_of.end() && r != row_of.end()) t.rows[r->second][c->second] = cell(m, 2);
  }
  return t;
}

Table samples_table(const RolloutStore& st, const SampleFilter& f) {
  std::string where;
  std::vector<std::function<void(Stmt&, int)>> binds;
  auto add = [&](const std::string& cond, auto value) {
    where += (where.empty() ? " WHERE " : " AND ") + cond;
    binds.push_back([value](Stmt& s, int i) { s.bind(i, value); });
  };
  if (f.step_min) add("step >= ?", *f.step_min);
  if (f.step_max) add("step <= ?", *f.step_max);
  if (f.prompt_id) add("prompt_id = ?", *f.prompt_id);
  if (f.reward_min) add("reward >= ?", *f.reward_min);
  if (f.reward_max) add("reward <= ?", *f.reward_max);
  if (f.finish_reason) add("finish_reason = ?", *f.finish_reason);
  if (f.correct) add("correct = ?", static_cast<int64_t>(*f.correct ? 1 : 0));
  if (f.contains) add("instr(text, ?) > 0", *f.contains);
  static const std::map<std::string, std::string> kSort = {
      {"id", "id"}, {"step", "step"}, {"length", "n_tokens"}, {"reward", "reward"}, {"advantage", "advantage"}};
  const bool desc = !f.sort.empty() && f.sort[0] == '-';
  const std::string key = desc ? f.sort.substr(1) : f.sort;
  auto it = kSort.find(key);
  if (it == kSort.end()) throw Error("unknown sort key '" + f.sort + "'; valid: id, step, length, reward, advantage (prefix - for descending)");
  std::string sql =
      "SELECT id, step, prompt_id, group_id, group_index, n_tokens, finish_reason, reward, correct, advantage, "
      "policy_version_min, text FROM samples" + where + " ORDER BY " + it->second + (desc ? " DESC" : "") + ", id";
  if (f.limit > 0) sql += " LIMIT " + std::to_string(f.limit);
  Stmt s = st.db().prepare(sql);
  for (size_t i = 0; i < binds.size(); ++i) binds[i](s, static_cast<int>(i + 1));
  Table t;
  t.columns = {"id", "step", "prompt", "group", "index", "tokens", "finish", "reward", "correct", "advantage", "policy", "text"};
  while (s.step()) {
    std::vector<json> row;
    for (int i = 0; i < 12; ++i) row.push_back(i == 8 ? json(s.i64(i) != 0) : cell(s, i));
    t.rows.push_back(std::move(row));
  }
  return t;
}

json sample_json(const RolloutStore& st, int64_t id, bool exact_bytes) {
  Stmt s = st.db().prepare("SELECT * FROM samples_view WHERE id = ?");
  s.bind(1, id);
  if (!s.step()) {
    Stmt r = st.db().prepare("SELECT min(id), max(id) FROM samples");
    r.step();
    throw Error("no sample with id " + std::to_string(id) + " in '" + st.path() + "'" +
                (r.is_null(0) ? std::string(" (it has no samples)") : fmt::format(" (ids {}..{})", r.i64(0), r.i64(1))));
  }
  json o = json::object();
  for (int i = 0; i < s.columns(); ++i) {
    const std::string name = s.column_name(i);
    if (name == "text_bytes") {  // NULL: `text` is the completion exactly; else its exact bytes
      o["text_replaced"] = !s.is_null(i);
      if (exact_bytes) {
        const int t = [&] {
          for (int k = 0; k < s.columns(); ++k)
            if (s.column_name(k) == "text") return k;
          return -1;
        }();
        o["text_bytes"] = utf8_escape_invalid(s.is_null(i) ? s.text(t) : s.blob(i));
      }
    } else if (name == "segments_json") o["segments"] = json::parse(s.text(i), nullptr, false);
    else if (name == "correct") o[name] = s.i64(i) != 0;
    else o[name] = cell(s, i);
  }
  json comps = json::object(), errors = json::object();
  Stmt c = st.db().prepare("SELECT component, value, error FROM sample_rewards WHERE sample_id = ? ORDER BY component");
  c.bind(1, id);
  while (c.step()) {
    comps[c.text(0)] = cell(c, 1);
    if (!c.is_null(2)) errors[c.text(0)] = c.text(2);
  }
  o["reward_components"] = comps;
  o["reward_errors"] = errors;  // component -> why it failed; a null value without an error = not applicable
  return o;
}

void print_sample(std::ostream& os, const json& o) {
  static const std::set<std::string> kLong = {"text", "text_bytes", "prompt_text", "gold", "reward_components",
                                             "reward_errors", "segments"};
  size_t w = 0;
  for (auto it = o.begin(); it != o.end(); ++it)
    if (!kLong.count(it.key())) w = std::max(w, it.key().size());
  for (auto it = o.begin(); it != o.end(); ++it)
    if (!kLong.count(it.key())) os << fmt::format("{:<{}}  {}\n", it.key(), w, cell_text(it.value(), 0));
  os << "segments" << std::string(w > 8 ? w - 8 : 0, ' ') << "  " << o.value("segments", json::array()).dump() << "\n";
  os << "\nreward components:\n";
  size_t cw = 5;
  for (auto it = o["reward_components"].begin(); it != o["reward_components"].end(); ++it) cw = std::max(cw, it.key().size());
  for (auto it = o["reward_components"].begin(); it != o["reward_components"].end(); ++it)
  {
    const json errs = o.value("reward_errors", json::object());
    if (errs.contains(it.key())) os << fmt::format("  {:<{}}  failed: {}\n", it.key(), cw, errs[it.key()].get<std::string>());
    else os << fmt::format("  {:<{}}  {}\n", it.key(), cw, it.value().is_null() ? "n/a" : format_number(it.value()));
  }
  os << fmt::format("  {:<{}}  {}\n", "total", cw, format_number(o["reward"]));
  os << "\nprompt:\n" << o.value("prompt_text", "") << "\n\ngold: " << o.value("gold", "") << "\n\n";
  if (o.contains("text_bytes"))
    os << "completion, exact bytes (\\xNN: a byte that is not UTF-8, \\\\: a backslash):\n"
       << o["text_bytes"].get<std::string>() << "\n";
  else
    os << "completion:"
       << (o.value("text_replaced", false) ? " (bytes that are not UTF-8 shown as U+FFFD; --bytes shows them)" : "")
       << "\n" << o.value("text", "") << "\n";
}

json prompt_json(const RolloutStore& st, int64_t prompt_id) {
  Stmt s = st.db().prepare("SELECT id, dataset, source_id, difficulty, text, gold FROM prompts WHERE id = ?");
  s.bind(1, prompt_id);
  if (!s.step()) throw Error("no prompt with id " + std::to_string(prompt_id) + " in '" + st.path() + "'");
  json o = json::object();
  for (int i = 0; i < s.columns(); ++i) o[s.column_name(i)] = cell(s, i);
  return o;
}

Table prompt_history(const RolloutStore& st, int64_t prompt_id) {
  prompt_json(st, prompt_id);  // throws if unknown
  Stmt s = st.db().prepare(
      "SELECT step, count(*), sum(correct), avg(correct), avg(reward), avg(n_tokens), "
      "sum(finish_reason = 'length') FROM samples WHERE prompt_id = ? GROUP BY step ORDER BY step");
  s.bind(1, prompt_id);
  Table t;
  t.columns = {"step", "samples", "correct", "pass@1", "reward_mean", "len_mean", "truncated"};
  while (s.step()) {
    std::vector<json> row;
    for (int i = 0; i < 7; ++i) row.push_back(cell(s, i));
    t.rows.push_back(std::move(row));
  }
  return t;
}

namespace {

// metric -> value of one step: n_samples and its step metrics.
std::map<std::string, json> step_values(const RolloutStore& st, int64_t step) {
  std::map<std::string, json> m;
  Stmt s = st.db().prepare(
      "SELECT 'n_samples', n_samples FROM steps WHERE step = ?1 UNION ALL "
      "SELECT key, value FROM step_metrics WHERE step = ?1");
  s.bind(1, step);
  while (s.step()) m[s.text(0)] = cell(s, 1);
  return m;
}

// Rows "metric | a | b | b - a": n_samples first, then the others in name order.
Table side_by_side(const std::vector<std::string>& columns, const std::map<std::string, json>& a,
                   const std::map<std::string, json>& b, const std::vector<std::string>& first) {
  Table t;
  t.columns = columns;
  std::set<std::string> keys;
  for (const auto& [k, v] : a) keys.insert(k);
  for (const auto& [k, v] : b) keys.insert(k);
  auto add = [&](const std::string& k) {
    const json va = a.count(k) ? a.at(k) : json(nullptr), vb = b.count(k) ? b.at(k) : json(nullptr);
    json d = nullptr;
    if (va.is_number() && vb.is_number()) d = vb.get<double>() - va.get<double>();
    t.rows.push_back({k, va, vb, d});
  };
  for (const auto& k : first)
    if (keys.erase(k)) add(k);
  for (const auto& k : keys) add(k);
  return t;
}

}  // namespace

Table compare_steps(const RolloutStore& st, int64_t a, int64_t b) {
  require_step(st, a);
  require_step(st, b);
  return side_by_side({"metric", "step " + std::to_string(a), "step " + std::to_string(b), "delta"},
                      step_values(st, a), step_values(st, b), {"n_samples"});
}

Table compare_runs(const RolloutStore& a, const std::string& label_a, std::optional<int64_t> step_a,
                   const RolloutStore& b, const std::string& label_b, std::optional<int64_t> step_b) {
  auto values = [](const RolloutStore& st, std::optional<int64_t> step, int64_t* at) {
    if (!step) step = st.last_step();
    if (*step < 0) throw Error("'" + st.path() + "' has no steps to compare");
    require_step(st, *step);
    *at = *step;
    auto m = step_values(st, *step);
    const Db& db = st.db();
    m["steps"] = db.scalar_i64("SELECT count(*) FROM steps");
    m["samples (all steps)"] = db.scalar_i64("SELECT count(*) FROM samples");
    Stmt w = db.prepare("SELECT sum(value) / 1000 FROM step_metrics WHERE key = 'time/step_ms' AND step <= ?");
    w.bind(1, *step);
    if (w.step() && !w.is_null(0)) m["wall time to this step (s)"] = w.f64(0);
    // The latest evaluation of each split/stage at or before the step.
    Stmt e = db.prepare(
        "SELECT e.split, e.stage, e.key, e.value FROM evaluations e JOIN (SELECT split, stage, max(step) AS step "
        "FROM evaluations WHERE step <= ?1 GROUP BY split, stage) l USING (split, stage, step) ORDER BY 1, 2, 3");
    e.bind(1, *step);
    while (e.step())
      m["eval " + e.text(0) + (e.text(1).empty() ? "" : "/" + e.text(1)) + " " + e.text(2)] = cell(e, 3);
    return m;
  };
  int64_t at_a = 0, at_b = 0;
  const auto va = values(a, step_a, &at_a), vb = values(b, step_b, &at_b);
  return side_by_side({"metric", fmt::format("{} (step {})", label_a, at_a), fmt::format("{} (step {})", label_b, at_b),
                       "delta"},
                      va, vb, {"steps", "samples (all steps)", "wall time to this step (s)", "n_samples"});
}

int64_t export_table(const RolloutStore& st, std::ostream& os, ExportFormat fmt, const std::string& table) {
  int64_t n = 0;
  if (table == "samples") {
    const auto comps = reward_components(st);
    std::vector<std::string> cols = {"id", "step", "prompt_id", "group_id", "group_index", "dataset", "difficulty",
                                     "n_tokens", "finish_reason", "reward", "correct", "advantage",
                                     "policy_version_min", "policy_version_max", "n_segments", "segments"};
    if (fmt == ExportFormat::Csv)
      for (const auto& c : comps) cols.push_back("reward/" + c);
    else
      cols.push_back("reward_components");
    for (const char* c : {"text", "prompt_text", "gold"}) cols.push_back(c);
    if (fmt == ExportFormat::Csv) write_row(os, fmt, {}, std::vector<json>(cols.begin(), cols.end()));
    Stmt s = st.db().prepare(
        "SELECT id, step, prompt_id, group_id, group_index, dataset, difficulty, n_tokens, finish_reason, reward, "
        "correct, advantage, policy_version_min, policy_version_max, n_segments, segments_json, text, prompt_text, gold "
        "FROM samples_view ORDER BY id");
    Stmt r = st.db().prepare("SELECT component, value FROM sample_rewards WHERE sample_id = ?");
    while (s.step()) {
      std::vector<json> row;
      for (int i = 0; i < 15; ++i) row.push_back(i == 10 ? json(s.i64(i) != 0) : cell(s, i));
      json seg = json::parse(s.text(15), nullptr, false);
      row.push_back(fmt == ExportFormat::Csv ? json(seg.dump()) : seg);
      r.bind(1, s.i64(0));
      std::map<std::string, json> values;
      while (r.step()) values[r.text(0)] = cell(r, 1);
      r.reset();
      if (fmt == ExportFormat::Csv) {
        for (const auto& c : comps) row.push_back(values.count(c) ? values[c] : json(nullptr));
      } else {
        json o = json::object();
        for (const auto& [k, v] : values) o[k] = v;
        row.push_back(o);
      }
      for (int i = 16; i < 19; ++i) row.push_back(cell(s, i));
      write_row(os, fmt, cols, row);
      ++n;
    }
  } else if (table == "steps") {
    Table t = summary_table(st, metric_keys(st).empty() ? std::vector<std::string>{} : std::vector<std::string>{"*"});
    if (fmt == ExportFormat::Csv) write_row(os, fmt, {}, std::vector<json>(t.columns.begin(), t.columns.end()));
    for (const auto& row : t.rows) {
      write_row(os, fmt, t.columns, row);
      ++n;
    }
  } else if (table == "prompts" || table == "evaluations") {
    Table t = sql_query(st, table == "prompts" ? "SELECT id, dataset, source_id, difficulty, text, gold FROM prompts ORDER BY id"
                                               : "SELECT step, split, stage, key, value FROM evaluations ORDER BY step, split, stage, key");
    if (fmt == ExportFormat::Csv) write_row(os, fmt, {}, std::vector<json>(t.columns.begin(), t.columns.end()));
    for (const auto& row : t.rows) {
      write_row(os, fmt, t.columns, row);
      ++n;
    }
  } else {
    throw Error("unknown table '" + table + "' to export; valid: samples, steps, prompts, evaluations");
  }
  return n;
}

Table sql_query(const RolloutStore& st, const std::string& sql, double time_limit_s) {
  sqlite3_stmt* raw = nullptr;
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v2(st.db().raw(), sql.c_str(), static_cast<int>(sql.size()), &raw, &tail);
  if (rc != SQLITE_OK) {
    std::string msg = sqlite3_errmsg(st.db().raw());
    sqlite3_finalize(raw);
    throw Error("SQL error: " + msg);
  }
  if (!raw) throw Error("empty SQL statement");
  std::string rest = tail ? tail : "";
  rest.erase(std::remove_if(rest.begin(), rest.end(), [](char c) { return c == ';' || std::isspace(static_cast<unsigned char>(c)); }),
             rest.end());
  const bool writes = !sqlite3_stmt_readonly(raw);
  sqlite3_finalize(raw);
  if (!rest.empty()) throw Error("inspect sql runs one statement at a time; remove what follows the first ';'");
  if (writes)
    throw Error("inspect sql uses a read-only connection: this statement would change the database, and was not run");
  // The time limit: SQLite calls the progress handler every 10,000 virtual-machine steps; non-zero interrupts.
  struct Deadline {
    std::chrono::steady_clock::time_point end;
    bool hit = false;
  } deadline{std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                    std::chrono::duration<double>(time_limit_s))};
  sqlite3* db = st.db().raw();
  if (time_limit_s > 0)
    sqlite3_progress_handler(db, 10000, [](void* p) {
      auto* d = static_cast<Deadline*>(p);
      d->hit = std::chrono::steady_clock::now() > d->end;
      return d->hit ? 1 : 0;
    }, &deadline);
  struct Off {
    sqlite3* db;
    ~Off() { sqlite3_progress_handler(db, 0, nullptr, nullptr); }
  } off{db};
  Table t;
  try {
    Stmt s = st.db().prepare(sql);
    for (int i = 0; i < s.columns(); ++i) t.columns.push_back(s.column_name(i));
    while (s.step()) {
      std::vector<json> row;
      for (int i = 0; i < s.columns(); ++i) row.push_back(cell(s, i));
      t.rows.push_back(std::move(row));
    }
  } catch (const Error&) {
    if (!deadline.hit) throw;
    throw Error(fmt::format("inspect sql: the query was stopped after its {} s limit ({} rows so far); a recursive "
                            "query needs an end (LIMIT), or raise --timeout",
                            time_limit_s, t.rows.size()));
  }
  return t;
}

void check_not_damaged(const RolloutStore& st) {
  std::string found;
  try {
    Stmt s = st.db().prepare("PRAGMA quick_check(5)");
    while (s.step()) {
      const std::string r = s.text(0);
      if (r != "ok") found += (found.empty() ? "" : "; ") + r;
    }
  } catch (const Error& e) {
    found = e.what();
  }
  if (!found.empty())
    throw Error(st.db().path() + " is damaged (SQLite quick_check: " + found +
                "); restore it from a copy, or read what is left with `inspect sql`");
}

}  // namespace reasonrl::store

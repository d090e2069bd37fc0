// config.cpp: the non-template parts of the config system: where a key is in JSON text, error text, CLI value
// parsing, JSON parsing with duplicate-key and overflow checks, config differences.
#include "rl/util/config.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "rl/util/utf8.h"

namespace reasonrl {
namespace cfg_detail {

namespace {

// Walks JSON text (with // and /* */ comments) and calls on_key(full_path, line, duplicate_of_line) for every object
// key; full paths are dotted, array elements `[i]`. Malformed text ends the walk quietly (the parser reports it).
template <class F>
void walk_keys(const std::string& text, F&& on_key) {
  struct Frame {
    bool object = false;
    std::string path;
    int index = 0;
    bool expect_key = true;
    std::string key;  // last key read (object)
    std::map<std::string, int> seen;
  };
  std::vector<Frame> st;
  int line = 1;
  const size_t n = text.size();
  auto child_path = [&]() -> std::string {
    if (st.empty()) return "";
    const Frame& f = st.back();
    if (f.object) return f.path.empty() ? f.key : f.path + "." + f.key;
    return f.path + "[" + std::to_string(f.index) + "]";
  };
  for (size_t i = 0; i < n; ++i) {
    const char ch = text[i];
    if (ch == '\n') { ++line; continue; }
    if (ch == '/' && i + 1 < n && text[i + 1] == '/') {
      while (i < n && text[i] != '\n') ++i;
      --i;
      continue;
    }
    if (ch == '/' && i + 1 < n && text[i + 1] == '*') {
      i += 2;
      while (i + 1 < n && !(text[i] == '*' && text[i + 1] == '/')) line += text[i++] == '\n';
      ++i;
      continue;
    }
    if (ch == '"') {
      const int at = line;
      std::string s;
      for (++i; i < n && text[i] != '"'; ++i) {
        if (text[i] == '\\' && i + 1 < n) {
          ++i;
          s += text[i] == 'n' ? '\n' : text[i] == 't' ? '\t' : text[i];  // enough to compare plain key names
        } else {
          s += text[i];
        }
      }
      if (!st.empty() && st.back().object && st.back().expect_key) {
        Frame& f = st.back();
        f.key = s;
        f.expect_key = false;
        auto [it, fresh] = f.seen.emplace(s, at);
        on_key(child_path(), at, fresh ? 0 : it->second);
      }
      continue;
    }
    if (ch == '{' || ch == '[') {
      Frame fr;
      fr.object = ch == '{';
      fr.path = child_path();
      st.push_back(std::move(fr));
      continue;
    }
    if (ch == '}' || ch == ']') {
      if (!st.empty()) st.pop_back();
      continue;
    }
    if (ch == ',' && !st.empty()) {
      if (st.back().object) st.back().expect_key = true;
      else ++st.back().index;
    }
  }
}

}  // namespace

std::map<std::string, int> key_lines(const std::string& text) {
  std::map<std::string, int> lines;
  walk_keys(text, [&](const std::string& p, int line, int) { lines.emplace(p, line); });
  return lines;
}

int find_key_line(const std::string& text, const std::string& path) {
  if (text.empty() || path.empty()) return 0;
  const auto lines = key_lines(text);
  // the key itself, else its nearest enclosing key (`names[2]` -> `names`, `a.b` -> `a`)
  for (std::string p = path; !p.empty();) {
    if (auto it = lines.find(p); it != lines.end()) return it->second;
    const size_t cut = p.find_last_of(".[");
    if (cut == std::string::npos) break;
    p.resize(cut);
  }
  return 0;
}

std::string where(const std::string& source, const std::string& text, const std::string& path) {
  const int line = find_key_line(text, path);
  return "config error in " + source + (line > 0 ? ":" + std::to_string(line) : "") + ": ";
}

std::string type_name_of(const json& j) {
  if (j.is_number_integer()) return "int";
  if (j.is_number_float()) return "float";
  return j.type_name();
}

json float_to_j(float x) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, x);
  *r.ptr = '\0';
  return json(std::strtod(buf, nullptr));
}

void type_error(const Ctx& c, const std::string& path, const std::string& want, const json& got) {
  throw ConfigError(where(c.source, c.text, path) + "key '" + path + "' expects " + want + ", got " +
                    type_name_of(got) + " " + got.dump());
}

void check_int_range(const Ctx& c, const std::string& path, const json& j, long double lo, long double hi) {
  const long double v = j.is_number_unsigned() ? static_cast<long double>(j.get<uint64_t>())
                                               : static_cast<long double>(j.get<int64_t>());
  if (v < lo || v > hi) {
    char range[96];
    std::snprintf(range, sizeof range, "an int in [%.0Lf, %.0Lf]", lo, hi);
    type_error(c, path, range, j);
  }
}

void validation_error(const Ctx& c, const std::string& path, const std::string& msg) {
  // the line of the first word of the message that is a key (relative to this section, or a full path), else the
  // section's own line
  std::string key_path = path;
  const auto lines = c.text.empty() ? std::map<std::string, int>{} : key_lines(c.text);
  for (size_t i = 0; i < msg.size();) {
    if (!(std::isalpha(static_cast<unsigned char>(msg[i])) || msg[i] == '_')) { ++i; continue; }
    size_t j = i;
    while (j < msg.size() && (std::isalnum(static_cast<unsigned char>(msg[j])) || msg[j] == '_' || msg[j] == '.')) ++j;
    std::string word = msg.substr(i, j - i);
    while (!word.empty() && word.back() == '.') word.pop_back();
    i = j;
    if (word.empty()) continue;
    const std::string rel = path.empty() ? word : path + "." + word;
    if (lines.count(rel)) { key_path = rel; break; }
    if (lines.count(word) && word.find('.') != std::string::npos) { key_path = word; break; }
  }
  throw ConfigError(where(c.source, c.text, key_path) + (path.empty() ? "" : "in '" + path + "': ") + msg);
}

void unknown_key_error(const Ctx& c, const std::string& path, const std::string& key, const std::vector<std::string>& valid,
                       const char* moved_to) {
  const std::string full = path.empty() ? key : path + "." + key;
  if (moved_to) throw ConfigError(where(c.source, c.text, full) + "key '" + full + "' was moved: use " + moved_to);
  std::string list;
  for (const auto& k : valid) list += (list.empty() ? "" : ", ") + k;
  throw ConfigError(where(c.source, c.text, full) + "unknown key '" + full + "'; valid keys" +
                    (path.empty() ? "" : " in '" + path + "'") + ": " + list);
}

json parse_cli_value(const std::string& key, const std::string& type, const std::string& value) {
  // JSON text is UTF-8: an ill-formed byte would be accepted here and fail later, when config.json is written
  if (!utf8_valid(value))
    throw ConfigError("command line: --" + key + ": '" + utf8_escape_invalid(value) + "' is not valid UTF-8");
  if (type == "string" || type.rfind("enum{", 0) == 0) return value;
  if (type.rfind("list[", 0) == 0 && !value.empty() && value.front() != '[') {
    // comma-separated list
    json a = json::array();
    const std::string inner = type.substr(5, type.size() - 6);
    size_t start = 0;
    while (start <= value.size()) {
      size_t comma = value.find(',', start);
      if (comma == std::string::npos) comma = value.size();
      a.push_back(parse_cli_value(key, inner, value.substr(start, comma - start)));
      start = comma + 1;
    }
    return a;
  }
  if (type.rfind("map[", 0) == 0 && !value.empty() && value.front() != '{') {
    // k=v,k=v
    json o = json::object();
    const std::string inner = type.substr(type.find(',') + 1, type.size() - type.find(',') - 2);
    size_t start = 0;
    while (start < value.size()) {
      size_t comma = value.find(',', start);
      if (comma == std::string::npos) comma = value.size();
      const std::string kv = value.substr(start, comma - start);
      const auto eq = kv.find('=');
      if (eq == std::string::npos) throw ConfigError("command line: --" + key + ": expected key=value in '" + value + "'");
      o[kv.substr(0, eq)] = parse_cli_value(key, inner, kv.substr(eq + 1));
      start = comma + 1;
    }
    return o;
  }
  try {
    return json::parse(value);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number that overflows (1e999)
    const std::string why = dynamic_cast<const json::out_of_range*>(&e) ? " (out of range)" : "";
    throw ConfigError("command line: --" + key + ": cannot parse '" + value + "' as " + type + why);
  }
}

}  // namespace cfg_detail

namespace {
// 1-based line of byte offset `pos` of text.
int line_at(const std::string& text, size_t pos) {
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(std::min(pos, text.size())), '\n'));
}
}  // namespace

json parse_json_text(const std::string& text, const std::string& source) {
  json j;
  try {
    j = json::parse(text, nullptr, true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    // e.byte is 1-based
    throw FormatError(source + ":" + std::to_string(line_at(text, e.byte > 0 ? e.byte - 1 : 0)) + ": invalid JSON: " +
                      e.what());
  } catch (const json::exception& e) {
    // out_of_range 406 "number overflow parsing '1e999'": find the number to name the line
    const std::string what = e.what();
    int line = 0;
    if (const auto q = what.find('\''); q != std::string::npos) {
      const std::string num = what.substr(q + 1, what.find('\'', q + 1) - q - 1);
      if (const auto pos = text.find(num); !num.empty() && pos != std::string::npos) line = line_at(text, pos);
    }
    throw FormatError(source + (line > 0 ? ":" + std::to_string(line) : "") + ": invalid JSON: " + what);
  }
  cfg_detail::walk_keys(text, [&](const std::string& path, int line, int first) {
    if (first > 0)
      throw FormatError(source + ":" + std::to_string(line) + ": duplicate key '" + path + "' (first at line " +
                        std::to_string(first) + ")");
  });
  return j;
}

namespace {
void diff_into(const json& a, const json& b, const std::string& path, std::vector<ConfigChange>& out) {
  if (a.is_object() && b.is_object()) {
    for (auto it = b.begin(); it != b.end(); ++it) {
      const std::string p = path.empty() ? it.key() : path + "." + it.key();
      const auto ia = a.find(it.key());
      diff_into(ia == a.end() ? json() : *ia, it.value(), p, out);
    }
    for (auto it = a.begin(); it != a.end(); ++it)
      if (!b.contains(it.key())) out.push_back({path.empty() ? it.key() : path + "." + it.key(), it.value(), json()});
    return;
  }
  if (a != b) out.push_back({path, a, b});
}
}  // namespace

std::vector<ConfigChange> config_diff(const json& before, const json& after) {
  std::vector<ConfigChange> out;
  diff_into(before, after, "", out);
  return out;
}

std::string format_change(const ConfigChange& c) {
  return c.path + ": " + (c.before.is_null() ? "(absent)" : c.before.dump()) + " -> " +
         (c.after.is_null() ? "(absent)" : c.after.dump());
}

}  // namespace reasonrl

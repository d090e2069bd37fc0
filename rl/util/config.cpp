// config.cpp: the non-template parts of the config system (error text, CLI value parsing).
#include "rl/util/config.h"

namespace reasonrl {
namespace cfg_detail {

int find_key_line(const std::string& text, const std::string& key) {
  if (text.empty()) return 0;
  const auto pos = text.find("\"" + key + "\"");
  if (pos == std::string::npos) return 0;
  int line = 1;
  for (size_t i = 0; i < pos; ++i) line += text[i] == '\n';
  return line;
}

std::string where(const std::string& source, const std::string& text, const std::string& key) {
  const int line = find_key_line(text, key);
  return "config error in " + source + (line > 0 ? ":" + std::to_string(line) : "") + ": ";
}

std::string type_name_of(const json& j) {
  if (j.is_number_integer()) return "int";
  if (j.is_number_float()) return "float";
  return j.type_name();
}

void type_error(const Ctx& c, const std::string& path, const std::string& want, const json& got) {
  const std::string leaf = path.substr(path.rfind('.') == std::string::npos ? 0 : path.rfind('.') + 1);
  throw ConfigError(where(c.source, c.text, leaf.substr(0, leaf.find('['))) + "key '" + path + "' expects " + want +
                    ", got " + type_name_of(got) + " " + got.dump());
}

json parse_cli_value(const std::string& type, const std::string& value) {
  if (type == "string" || type.rfind("enum{", 0) == 0) return value;
  if (type.rfind("list[", 0) == 0 && !value.empty() && value.front() != '[') {
    // comma-separated list
    json a = json::array();
    const std::string inner = type.substr(5, type.size() - 6);
    size_t start = 0;
    while (start <= value.size()) {
      size_t comma = value.find(',', start);
      if (comma == std::string::npos) comma = value.size();
      a.push_back(parse_cli_value(inner, value.substr(start, comma - start)));
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
      if (eq == std::string::npos) throw ConfigError("command line: expected key=value in '" + value + "'");
      o[kv.substr(0, eq)] = parse_cli_value(inner, kv.substr(eq + 1));
      start = comma + 1;
    }
    return o;
  }
  try {
    return json::parse(value);
  } catch (const json::parse_error&) {
    throw ConfigError("command line: cannot parse '" + value + "' as " + type);
  }
}

}  // namespace cfg_detail

json parse_json_text(const std::string& text, const std::string& source) {
  try {
    return json::parse(text, nullptr, true, /*ignore_comments=*/true);
  } catch (const json::parse_error& e) {
    // e.byte is 1-based; turn it into a line number.
    int line = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) line += text[i] == '\n';
    throw FormatError(source + ":" + std::to_string(line) + ": invalid JSON: " + e.what());
  }
}

}  // namespace reasonrl

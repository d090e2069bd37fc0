// config.h: config structs whose fields are declared once (a visit() method) and drive JSON load/save,
// CLI overrides (ConfigCli, in rl/cli/config_cli.h) and --help text. Unknown keys, wrong types and unknown enum modes
// are ConfigErrors.
//
// A config struct:
//   struct ModelConfig {
//     int d_model = 64;
//     LossType loss_type = LossType::TokenMean;      // an enum with REASONRL_ENUM_NAMES
//     template <class V> void visit(V& v) {
//       v("d_model", d_model, "hidden size");
//       v("loss_type", loss_type, "how token losses are aggregated");
//     }
//     void validate() const;                           // optional: throws ConfigError on bad values
//   };
// Fields may be bool, integers, float, double, std::string, enums, std::vector<scalar>,
// std::map<std::string, scalar>, or nested config structs (a JSON object). A struct can also visit another struct's
// fields in place (`inner.visit(v)`) so that a fact declared once appears at the outer level.
// A key that moved lists itself in `static constexpr MovedKey kMovedKeys[]` of its old struct: using the old name is
// a ConfigError that names the new key.
// Errors name the file, the line of the key's full path (`data.seed`, not the first "seed" in the file) and the key;
// a value a struct's validate() rejects is reported with the section and the line of the key the message names.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "rl/util/error.h"

namespace reasonrl {

// True when `j` is an integer in [lo, hi]. Check before narrowing a number read from a file: get<int>() reads 2^32 + 5
// as 5 (any nlohmann::basic_json).
template <class Json>
bool json_int_in(const Json& j, int64_t lo, int64_t hi) {
  if (!j.is_number_integer()) return false;
  if (j.is_number_unsigned()) {
    const uint64_t u = j.template get<uint64_t>();
    return u <= uint64_t(std::numeric_limits<int64_t>::max()) && int64_t(u) >= lo && int64_t(u) <= hi;
  }
  const int64_t v = j.template get<int64_t>();
  return v >= lo && v <= hi;
}

using json = nlohmann::ordered_json;

// ---- enums with names -------------------------------------------------------------------------
template <class E>
struct EnumName {
  E value;
  const char* name;
};

// Declare the names of an enum once, next to it:
//   enum class LossType { TokenMean, SeqMeanTokenMean };
//   REASONRL_ENUM_NAMES(LossType, {LossType::TokenMean, "token_mean"}, {LossType::SeqMeanTokenMean, "seq_mean_token_mean"})
#define REASONRL_ENUM_NAMES(E, ...)                                                 \
  inline std::span<const ::reasonrl::EnumName<E>> enum_names(E) {                  \
    static const ::reasonrl::EnumName<E> kNames[] = {__VA_ARGS__};                  \
    return kNames;                                                                  \
  }

template <class E>
std::string enum_valid_list() {
  std::string s;
  for (const auto& n : enum_names(E{})) {
    if (!s.empty()) s += ", ";
    s += n.name;
  }
  return s;
}

template <class E>
const char* enum_to_string(E e) {
  for (const auto& n : enum_names(E{}))
    if (n.value == e) return n.name;
  return "?";
}

// Parse an enum by name; an unknown name is a ConfigError that lists the valid ones. `what` names the key.
template <class E>
E enum_from_string(std::string_view s, const std::string& what) {
  for (const auto& n : enum_names(E{}))
    if (s == n.name) return n.value;
  throw ConfigError("unknown value '" + std::string(s) + "' for '" + what + "'; valid: " + enum_valid_list<E>());
}

// A key that was renamed or moved: using `old_key` is an error that names `use_instead`.
struct MovedKey {
  const char* old_key;
  const char* use_instead;
};

// One leaf that differs between two configs (dotted path, JSON values; null when absent on one side).
struct ConfigChange {
  std::string path;
  json before, after;
};
// Leaf-wise differences between two config JSON objects, in the order of `after` (then keys only in `before`).
std::vector<ConfigChange> config_diff(const json& before, const json& after);
// "path: before -> after" (one line, compact JSON values).
std::string format_change(const ConfigChange& c);

namespace cfg_detail {

struct NullVisitor {
  template <class T>
  void operator()(const char*, T&, const char*) {}
};
template <class T>
concept ConfigStruct = requires(T t, NullVisitor v) { t.visit(v); };
template <class T>
concept HasValidate = requires(const T t) { t.validate(); };
template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};
template <class T>
struct is_str_map : std::false_type {};
template <class T>
struct is_str_map<std::map<std::string, T>> : std::true_type {};

template <class T>
concept HasMovedKeys = requires { T::kMovedKeys; };

// 1-based line of the key at dotted `path` (`data.seed`, `rewards[1].name`) in JSON text (comments allowed), or of
// its nearest enclosing key present; 0 when none is found or the text is empty.
int find_key_line(const std::string& text, const std::string& path);
// "config error in <source>:<line>: " for the key at `path`.
std::string where(const std::string& source, const std::string& text, const std::string& path);
std::string type_name_of(const json& j);

template <class T>
std::string type_label() {
  if constexpr (std::is_same_v<T, bool>) return "bool";
  else if constexpr (std::is_enum_v<T>) return "enum{" + enum_valid_list<T>() + "}";
  else if constexpr (std::is_integral_v<T>) return "int";
  else if constexpr (std::is_floating_point_v<T>) return "float";
  else if constexpr (std::is_same_v<T, std::string>) return "string";
  else if constexpr (is_vector<T>::value) return "list[" + type_label<typename T::value_type>() + "]";
  else if constexpr (is_str_map<T>::value) return "map[string," + type_label<typename T::mapped_type>() + "]";
  else return "object";
}

template <class T>
json to_j(const T& x);

// A float as the shortest decimal that reads back as the same float (0.7f is written 0.7, not 0.699999988).
json float_to_j(float x);

struct ToJson {
  json* out;
  template <class T>
  void operator()(const char* name, T& field, const char*) {
    (*out)[name] = to_j(field);
  }
};

template <class T>
json to_j(const T& x) {
  if constexpr (ConfigStruct<T>) {
    json j = json::object();
    ToJson v{&j};
    const_cast<T&>(x).visit(v);
    return j;
  } else if constexpr (std::is_enum_v<T>) {
    return enum_to_string(x);
  } else if constexpr (std::is_same_v<T, float>) {
    return float_to_j(x);
  } else if constexpr (is_vector<T>::value) {
    json a = json::array();
    for (const auto& e : x) a.push_back(to_j(e));
    return a;
  } else if constexpr (is_str_map<T>::value) {
    json o = json::object();
    for (const auto& [k, v] : x) o[k] = to_j(v);
    return o;
  } else {
    return json(x);
  }
}

struct Ctx {
  const std::string& source;  // file name or "command line"
  const std::string& text;    // source text, to find lines (may be empty)
};

template <class T>
void validate_all(const T& x) {
  if constexpr (HasValidate<T>) x.validate();
}

[[noreturn]] void type_error(const Ctx& c, const std::string& path, const std::string& want, const json& got);
// A validate() message of the struct at `path`, with file, line (of the key the message names, else of the section)
// and section: "config error in f.json:12: in 'rollout': max_completion_length must be >= 1".
[[noreturn]] void validation_error(const Ctx& c, const std::string& path, const std::string& msg);
[[noreturn]] void unknown_key_error(const Ctx& c, const std::string& path, const std::string& key,
                                   const std::vector<std::string>& valid, const char* moved_to);
// Throws unless integer `j` fits in [lo, hi].
void check_int_range(const Ctx& c, const std::string& path, const json& j, long double lo, long double hi);

template <class T>
void from_j(T& x, const json& j, const std::string& path, const Ctx& c);

template <class T>
struct FromJson {
  const json* in;
  const std::string* prefix;
  const Ctx* ctx;
  std::vector<std::string>* seen;
  template <class F>
  void operator()(const char* name, F& field, const char*) {
    seen->push_back(name);
    auto it = in->find(name);
    if (it == in->end()) return;  // keep the default
    from_j(field, *it, prefix->empty() ? std::string(name) : *prefix + "." + name, *ctx);
  }
};

template <class T>
void from_j(T& x, const json& j, const std::string& path, const Ctx& c) {
  if constexpr (ConfigStruct<T>) {
    if (!j.is_object()) type_error(c, path, "object", j);
    std::vector<std::string> keys;
    FromJson<T> v{&j, &path, &c, &keys};
    x.visit(v);
    for (auto it = j.begin(); it != j.end(); ++it) {
      bool known = false;
      for (const auto& k : keys) known |= (k == it.key());
      if (known) continue;
      const char* moved_to = nullptr;
      if constexpr (HasMovedKeys<T>)
        for (const auto& m : T::kMovedKeys)
          if (it.key() == m.old_key) moved_to = m.use_instead;
      unknown_key_error(c, path, it.key(), keys, moved_to);
    }
    try {
      validate_all(x);  // nested structs validate themselves
    } catch (const ConfigError& e) {
      validation_error(c, path, e.what());
    }
  } else if constexpr (std::is_enum_v<T>) {
    if (!j.is_string()) type_error(c, path, type_label<T>(), j);
    try {
      x = enum_from_string<T>(j.get<std::string>(), path);
    } catch (const ConfigError& e) {
      throw ConfigError(where(c.source, c.text, path) + e.what());
    }
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!j.is_boolean()) type_error(c, path, "bool", j);
    x = j.get<bool>();
  } else if constexpr (std::is_integral_v<T>) {
    if (!j.is_number_integer()) type_error(c, path, "int", j);
    if constexpr (std::is_unsigned_v<T>) {
      if (j.is_number_integer() && !j.is_number_unsigned() && j.get<int64_t>() < 0) type_error(c, path, "non-negative int", j);
    }
    check_int_range(c, path, j, static_cast<long double>(std::numeric_limits<T>::min()),
                    static_cast<long double>(std::numeric_limits<T>::max()));
    x = j.get<T>();
  } else if constexpr (std::is_floating_point_v<T>) {
    if (!j.is_number()) type_error(c, path, "float", j);
    if constexpr (std::is_same_v<T, float>) {
      const double d = j.get<double>();
      if (d > std::numeric_limits<float>::max() || d < -std::numeric_limits<float>::max())
        type_error(c, path, "float (at most 3.4e38 in magnitude)", j);
    }
    x = j.get<T>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!j.is_string()) type_error(c, path, "string", j);
    x = j.get<std::string>();
  } else if constexpr (is_vector<T>::value) {
    if (!j.is_array()) type_error(c, path, type_label<T>(), j);
    x.clear();
    for (size_t i = 0; i < j.size(); ++i) {
      typename T::value_type e{};
      from_j(e, j[i], path + "[" + std::to_string(i) + "]", c);
      x.push_back(std::move(e));
    }
  } else if constexpr (is_str_map<T>::value) {
    if (!j.is_object()) type_error(c, path, type_label<T>(), j);
    x.clear();
    for (auto it = j.begin(); it != j.end(); ++it) {
      typename T::mapped_type e{};
      from_j(e, it.value(), path + "." + it.key(), c);
      x[it.key()] = std::move(e);
    }
  } else {
    static_assert(sizeof(T) == 0, "unsupported config field type");
  }
}


// Collect leaves (for CLI options and help): dotted path, type label, default as JSON text, help.
struct Leaf {
  std::string path, type, def, help;
};
struct Leaves {
  std::vector<Leaf>* out;
  std::string prefix;
  std::vector<Leaf>* moved = nullptr;  // when set: moved keys, as {old path, "", "", where to instead}
  template <class T>
  void operator()(const char* name, T& field, const char* help) {
    const std::string p = prefix.empty() ? std::string(name) : prefix + "." + name;
    if constexpr (ConfigStruct<T>) {
      Leaves sub{out, p, moved};
      field.visit(sub);
      if constexpr (HasMovedKeys<T>)
        if (moved)
          for (const auto& m : T::kMovedKeys) moved->push_back({p + "." + m.old_key, "", "", m.use_instead});
    } else {
      out->push_back({p, type_label<T>(), to_j(field).dump(), help});
    }
  }
};

// Parse one "--key value" string from the command line into JSON for the leaf's type; errors name `--key`.
json parse_cli_value(const std::string& key, const std::string& type, const std::string& value);

}  // namespace cfg_detail

// ---- the public API ---------------------------------------------------------------------------

template <class C>
json config_to_json(const C& c) {
  return cfg_detail::to_j(c);
}

// Apply a JSON object on top of `c` (fields not present keep their value). `source` names the origin
// (a file path) and `text` its contents, so errors can name the line. Validates afterwards.
template <class C>
void config_apply_json(C& c, const json& j, const std::string& source, const std::string& text = "") {
  cfg_detail::Ctx ctx{source, text};
  cfg_detail::from_j(c, j, "", ctx);  // validates every struct it fills
}

// Parse JSON text (comments allowed); parse errors (a number that overflows included) and a key repeated in one
// object are FormatErrors naming the file and line.
json parse_json_text(const std::string& text, const std::string& source);

template <class C>
void config_load_file(C& c, const std::string& path) {
  const std::string text = read_file(path);
  config_apply_json(c, parse_json_text(text, path), path, text);
}

template <class C>
void config_save_file(const C& c, const std::string& path) {
  write_file_atomic(path, config_to_json(c).dump(2) + "\n");
}

template <class C>
std::vector<cfg_detail::Leaf> config_leaves(const C& c) {
  std::vector<cfg_detail::Leaf> out;
  cfg_detail::Leaves v{&out, ""};
  const_cast<C&>(c).visit(v);
  return out;
}

// The keys of nested structs that moved (MovedKey): path = old dotted path, help = where to instead.
template <class C>
std::vector<cfg_detail::Leaf> config_moved_keys(const C& c) {
  std::vector<cfg_detail::Leaf> leaves, moved;
  cfg_detail::Leaves v{&leaves, "", &moved};
  const_cast<C&>(c).visit(v);
  return moved;
}

// A table of every key: name, type, default, help.
template <class C>
std::string config_help(const C& c) {
  std::string s;
  for (const auto& l : config_leaves(c)) s += "  " + l.path + " (" + l.type + ", default " + l.def + ")\n      " + l.help + "\n";
  return s;
}

}  // namespace reasonrl

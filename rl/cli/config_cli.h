// config_cli.h: ConfigCli, the CLI11 side of the config system: one `--key.sub` option per field of a config struct
// (declared once by its visit(), rl/util/config.h), plus `--config FILE`. Only the binary's commands include CLI11.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <string>

#include "rl/util/config.h"

namespace reasonrl {

// CLI overrides: registers one `--path` option per leaf of `defaults` on `app` (with its help and
// default), plus `--config FILE`. After parsing, `resolve()` gives defaults <- file <- command line.
template <class C>
class ConfigCli {
 public:
  // Defaults from C's own initialisers. (No `C defaults = C{}` argument: GCC 12 reports a false
  // -Wmaybe-uninitialized on the strings of that temporary.)
  explicit ConfigCli(CLI::App* app, const std::string& group = "Config") { add_options(app, group); }
  ConfigCli(CLI::App* app, C defaults, const std::string& group = "Config") : defaults_(std::move(defaults)) {
    add_options(app, group);
  }
  C resolve() const {
    C c = defaults_;
    if (!file_.empty()) config_load_file(c, file_);
    json patch = json::object();
    for (const auto& [path, val] : values_) {
      if (val.empty()) continue;
      json* node = &patch;
      size_t start = 0;
      for (size_t dot; (dot = path.find('.', start)) != std::string::npos; start = dot + 1) node = &(*node)[path.substr(start, dot - start)];
      (*node)[path.substr(start)] = cfg_detail::parse_cli_value(types_.at(path), val);
    }
    if (!patch.empty()) config_apply_json(c, patch, "command line");
    return c;
  }
  const std::string& file() const { return file_; }

 private:
  void add_options(CLI::App* app, const std::string& group) {
    app->add_option("--config", file_, "JSON config file (see configs/)");
    for (const auto& l : config_leaves(defaults_)) {
      auto* opt = app->add_option("--" + l.path, values_[l.path], l.help + " [" + l.type + ", default " + l.def + "]");
      opt->group(group);
      types_[l.path] = l.type;
    }
  }

  C defaults_{};
  std::string file_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::string> types_;
};

}  // namespace reasonrl

// config_cli.h: ConfigCli, the CLI11 side of the config system: one `--key.sub` option per field of a config struct
// (declared once by its visit(), rl/util/config.h), plus `--config FILE` and `--print-config`. Only the binary's
// commands include CLI11.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <string>

#include "rl/util/config.h"
#include "rl/util/log.h"

namespace reasonrl {

// CLI overrides: registers one `--path` option per leaf of `defaults` on `app` (with its type, help and default),
// plus `--config FILE` and `--print-config`. After parsing, `resolve()` gives defaults <- file <- command line.
template <class C>
class ConfigCli {
 public:
  // Defaults from C's own initialisers. (No `C defaults = C{}` argument: GCC 12 reports a false
  // -Wmaybe-uninitialized on the strings of that temporary.)
  explicit ConfigCli(CLI::App* app, const std::string& group = "Config") { add_options(app, group); }
  ConfigCli(CLI::App* app, C defaults, const std::string& group = "Config") : defaults_(std::move(defaults)) {
    add_options(app, group);
  }
  // defaults <- --config file <- command line. With --print-config, prints the whole config and ends the command.
  C resolve() const {
    C c = apply_to(defaults_);
    print_if_asked(c);
    return c;
  }
  // `base` <- --config file <- command line (the keys the file and the command line give, on top of `base`).
  C apply_to(C base) const {
    if (!file_.empty()) config_load_file(base, file_);
    json patch = json::object();
    for (const auto& [path, val] : moved_)
      if (!val.empty()) throw ConfigError("command line: --" + path + " was moved: use " + moved_to_.at(path));
    for (const auto& [path, val] : values_) {
      if (val.empty()) continue;
      json* node = &patch;
      size_t start = 0;
      for (size_t dot; (dot = path.find('.', start)) != std::string::npos; start = dot + 1) node = &(*node)[path.substr(start, dot - start)];
      (*node)[path.substr(start)] = cfg_detail::parse_cli_value(path, types_.at(path), val);
    }
    if (!patch.empty()) config_apply_json(base, patch, "command line");
    return base;
  }
  // --print-config: prints `c` as JSON to stdout and ends the command with exit 0 (CLI::Success).
  void print_if_asked(const C& c) const {
    if (!print_) return;
    std::printf("%s\n", config_to_json(c).dump(2).c_str());
    std::fflush(stdout);
    throw CLI::Success();
  }
  // Logs the resolved config compactly: one line per field that differs from the defaults (the whole config goes to
  // <run_dir>/config.json; --print-config prints it).
  void log_changes(const std::string& what, const C& c) const {
    const auto changes = config_diff(config_to_json(defaults_), config_to_json(c));
    log_info("{} config: {} field{} differ from the defaults{}", what, changes.size(), changes.size() == 1 ? "" : "s",
             changes.empty() ? "" : ":");
    for (const auto& ch : changes) log_info("  {}", format_change(ch));
  }
  const std::string& file() const { return file_; }
  const C& defaults() const { return defaults_; }

 private:
  void add_options(CLI::App* app, const std::string& group) {
    app->add_option("--config", file_, "JSON config file (see configs/)")->type_name("FILE");
    if (!app->get_option_no_throw("--print-config"))
      app->add_flag("--print-config", print_, "print the whole resolved config as JSON and exit");
    for (const auto& l : config_leaves(defaults_)) {
      auto* opt = app->add_option("--" + l.path, values_[l.path], l.help + " (default " + l.def + ")");
      opt->group(group)->type_name(l.type);
      types_[l.path] = l.type;
    }
    for (const auto& m : config_moved_keys(defaults_)) {  // hidden: an old name is an error naming the new one
      app->add_option("--" + m.path, moved_[m.path])->group("");
      moved_to_[m.path] = m.help;
    }
  }

  C defaults_{};
  std::string file_;
  bool print_ = false;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::string> types_;
  std::map<std::string, std::string> moved_, moved_to_;  // old path -> value given / where to instead
};

}  // namespace reasonrl

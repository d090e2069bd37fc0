// resume_config.h: the config of a resumed run. `resolve_resumed_config` is what `train --resume` (and `sft`/`dpo`
// --resume) call instead of ConfigCli::resolve(): the run's saved <run_dir>/config.json is the base, so a resumed run
// runs with the config it was started with and `config.json` and the store keep telling the truth.
//
//   auto cli = std::make_shared<ConfigCli<TrainConfig>>(sub);
//   ...
//   ResumedConfig<TrainConfig> r = resolve_resumed_config(*cli, override_flag);
//   run(r.config, /*resume=*/true, changes_to_json(r.changes));
//
// Rules:
//   - run_dir comes from --config / the command line (as for a fresh run); <run_dir>/config.json is loaded onto the
//     defaults, then what --config and the command line give is applied on top of it.
//   - A key whose value then differs from the saved one is a ConfigError listing every difference (key, saved value,
//     given value), unless `allow_override` (--override-resumed-config): then each change is logged, the saved file is
//     kept as <run_dir>/config.v<N>.json (N = 1, 2, ... in order) and the new config is written to config.json; the
//     caller records `changes` with the resume (the trainer in the store's run_sessions).
//   - Session keys (kSessionKeys: run_dir, threads, stop_after) describe this invocation, not the run: they take the
//     value given now (or its default), never the saved one, and are not compared.
//   - Without <run_dir>/config.json (a run that never got to write it) the given config is returned unchanged.
// --print-config prints the resumed config.
#pragma once

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "rl/cli/config_cli.h"
#include "rl/util/log.h"

namespace reasonrl {

// Keys that belong to one invocation rather than to the run (see above). A key absent from C is ignored.
inline const std::vector<std::string> kSessionKeys = {"run_dir", "threads", "stop_after"};

template <class C>
struct ResumedConfig {
  C config;
  std::vector<ConfigChange> changes;  // saved -> new; empty unless allow_override let them through
};

namespace resume_detail {
// A dotted config path ("rl.beta") as a JSON pointer ("/rl/beta"); config keys hold no '/' or '~'.
inline json::json_pointer pointer_of(const std::string& path) {
  std::string p = "/" + path;
  std::replace(p.begin(), p.end(), '.', '/');
  return json::json_pointer(p);
}
// Sets the dotted `path` of `dst` to its value in `src` (both config JSON); nothing when `src` lacks it.
inline void copy_path(json& dst, const json& src, const std::string& path) {
  const json::json_pointer ptr = pointer_of(path);
  if (src.contains(ptr)) dst[ptr] = src[ptr];
}
// Removes the dotted `path` from `j` (when present).
inline void erase_path(json& j, const std::string& path) {
  const json::json_pointer ptr = pointer_of(path), parent = ptr.parent_pointer();
  if (j.contains(parent) && j[parent].is_object()) j[parent].erase(ptr.back());
}
// Keeps <run_dir>/config.json as config.v<N>.json (the first free N from 1) and writes `cfg` as config.json; returns
// N + 1, the version now in force.
inline int save_config_version(const std::string& run_dir, const json& cfg) {
  int n = 1;
  while (std::filesystem::exists(run_dir + "/config.v" + std::to_string(n) + ".json")) ++n;
  write_file_atomic(run_dir + "/config.v" + std::to_string(n) + ".json", read_file(run_dir + "/config.json"));
  write_file_atomic(run_dir + "/config.json", cfg.dump(2) + "\n");
  return n + 1;
}
}  // namespace resume_detail

// [{"key": "rl.beta", "before": 0.0, "after": 0.1}, ...] (what the store records); "" when there are none.
inline std::string changes_to_json(const std::vector<ConfigChange>& changes) {
  if (changes.empty()) return "";
  json a = json::array();
  for (const auto& c : changes) a.push_back({{"key", c.path}, {"before", c.before}, {"after", c.after}});
  return a.dump();
}

template <class C>
ResumedConfig<C> resolve_resumed_config(const ConfigCli<C>& cli, bool allow_override,
                                        const std::vector<std::string>& session_keys = kSessionKeys) {
  const C given = cli.apply_to(cli.defaults());
  const std::string path = given.run_dir + "/config.json";
  if (!std::filesystem::exists(path)) {
    log_warn("--resume: {} does not exist; using the config given on the command line", path);
    cli.print_if_asked(given);
    return {given, {}};
  }
  C saved = cli.defaults();
  config_load_file(saved, path);
  const C asked = cli.apply_to(saved);

  json saved_j = config_to_json(saved), asked_j = config_to_json(asked);
  const json given_j = config_to_json(given);
  for (const auto& k : session_keys) {
    resume_detail::copy_path(asked_j, given_j, k);  // this invocation's value
    resume_detail::erase_path(saved_j, k);
  }
  json compared = asked_j;
  for (const auto& k : session_keys) resume_detail::erase_path(compared, k);
  std::vector<ConfigChange> changes = config_diff(saved_j, compared);

  C out = cli.defaults();
  config_apply_json(out, asked_j, path);
  cli.print_if_asked(out);
  if (changes.empty()) return {out, {}};
  std::string list;
  for (const auto& ch : changes) list += "\n  " + format_change(ch);
  if (!allow_override)
    throw ConfigError("--resume: --config / the command line change the run's saved config " + path + " (saved -> given):" +
                      list + "\nHINT: drop them to resume the run as it was, or pass --override-resumed-config to change "
                      "it (the change is saved as a new config version and recorded in the store)");
  const int version = resume_detail::save_config_version(given.run_dir, config_to_json(out));
  log_warn("--resume with --override-resumed-config: the run's config changes (now version {}, saved -> given):{}",
           version, list);
  return {out, std::move(changes)};
}

// The flags every resumable trainer command takes (train, sft, dpo).
struct ResumeFlags {
  bool resume = false;
  bool override_config = false;
  bool no_verify = false;
};
inline std::shared_ptr<ResumeFlags> add_resume_flags(CLI::App* sub) {
  auto f = std::make_shared<ResumeFlags>();
  sub->add_flag("--resume", f->resume,
                "continue from <run_dir>/checkpoints/latest, exactly (from scratch if none yet), with the run's saved "
                "config.json (keys given now must agree with it)");
  sub->add_flag("--override-resumed-config", f->override_config,
                "with --resume: let --config / the command line change the saved config (printed, saved as a new "
                "config version, recorded in the store)");
  sub->add_flag("--no-verify", f->no_verify, "do not check the checkpoint files' SHA-256 when loading (faster)");
  return f;
}
// The config this invocation runs with: the resumed one (resolve_resumed_config) with --resume, else the given one.
template <class C>
ResumedConfig<C> resolve_run_config(const ConfigCli<C>& cli, const ResumeFlags& f) {
  if (f.override_config && !f.resume) throw ConfigError("--override-resumed-config needs --resume");
  if (f.resume) return resolve_resumed_config(cli, f.override_config);
  return {cli.resolve(), {}};
}

}  // namespace reasonrl

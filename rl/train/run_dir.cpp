// run_dir.cpp: run directory layout and checkpoint bookkeeping.
#include "rl/train/run_dir.h"

#include <algorithm>
#include <filesystem>

#include "rl/util/error.h"
#include "rl/util/log.h"

namespace fs = std::filesystem;

namespace reasonrl::train {

void make_dirs(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw IoError("cannot create directory '" + dir + "': " + ec.message());
}

void save_resolved_config(const std::string& run_dir, const json& cfg, const std::string& what) {
  make_dirs(run_dir);
  write_file_atomic(run_dir + "/config.json", cfg.dump(2) + "\n");
  log_info("{}: the resolved config is in {}/config.json", what, run_dir);
}

std::string checkpoint_dir(const std::string& run_dir, long step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step_%06ld", step);
  return run_dir + "/checkpoints/" + buf;
}

void set_latest_checkpoint(const std::string& run_dir, long step) {
  write_file_atomic(run_dir + "/checkpoints/latest", fs::path(checkpoint_dir(run_dir, step)).filename().string() + "\n");
}

std::string latest_checkpoint(const std::string& run_dir) {
  const std::string p = run_dir + "/checkpoints/latest";
  if (!fs::exists(p)) return "";
  std::string name = read_file(p);
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  const std::string dir = run_dir + "/checkpoints/" + name;
  if (!fs::is_directory(dir)) throw FormatError(p + ": names '" + name + "', which is not a checkpoint directory");
  return dir;
}

void prune_checkpoints(const std::string& run_dir, int keep) {
  const std::string root = run_dir + "/checkpoints";
  if (!fs::is_directory(root) || keep <= 0) return;
  const std::string latest = latest_checkpoint(run_dir);
  std::vector<std::string> dirs;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory() && e.path().filename().string().rfind("step_", 0) == 0) dirs.push_back(e.path().string());
  std::sort(dirs.begin(), dirs.end());
  for (size_t i = 0; i + size_t(keep) < dirs.size(); ++i) {
    if (fs::equivalent(dirs[i], latest)) continue;
    std::error_code ec;
    fs::remove_all(dirs[i], ec);
  }
}

}  // namespace reasonrl::train

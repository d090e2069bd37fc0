// run_dir.cpp: run directory layout and checkpoint bookkeeping.
#include "rl/train/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
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

RunDirLock::RunDirLock(const std::string& run_dir) {
  make_dirs(run_dir);
  const std::string path = run_dir + "/.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw IoError("cannot open the run directory's lock file '" + path + "': " + std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    std::string holder;
    try {
      holder = read_file(path);
    } catch (const Error&) {
    }
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw IoError("run directory '" + run_dir + "' is in use by another reasonrl process" +
                    (holder.empty() ? std::string() : " (pid " + holder + ")") +
                    ": wait for it to finish, stop it, or choose another run_dir");
    throw IoError("cannot lock '" + path + "': " + std::strerror(err));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) != ssize_t(pid.size()))
    log_warn("cannot write the pid into {}: {}", path, std::strerror(errno));
}

RunDirLock::~RunDirLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the lock
}

std::vector<std::string> run_files_present(const std::string& run_dir, const std::vector<std::string>& extra) {
  std::vector<std::string> names = {"config.json", "metrics.jsonl", "evals.jsonl", "checkpoints", "checkpoint"};
  names.insert(names.end(), extra.begin(), extra.end());
  std::vector<std::string> out;
  for (const auto& n : names)
    if (fs::exists(fs::path(run_dir) / n)) out.push_back(n);
  return out;
}

void require_fresh_run_dir(const std::string& run_dir, const std::string& command, const std::vector<std::string>& extra) {
  const auto present = run_files_present(run_dir, extra);
  if (present.empty()) return;
  std::string list;
  for (const auto& n : present) list += (list.empty() ? "" : ", ") + n;
  throw ConfigError("run directory '" + run_dir + "' already holds a run (" + list + "): " +
                    (command.empty() ? std::string()
                                     : "continue it with `reasonrl " + command + " --run_dir " + run_dir + " --resume`, or ") +
                    "choose another run_dir");
}

void warn_if_config_differs(const std::string& run_dir, const json& cfg) {
  const std::string path = run_dir + "/config.json";
  if (!fs::exists(path)) return;
  const json saved = parse_json_text(read_file(path), path);
  const json diff = json::diff(saved, cfg);
  for (const auto& d : diff)
    log_warn("--resume: {} {} differs from the run's saved config.json (the run continues with the value given now)",
             d.value("op", ""), d.value("path", ""));
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

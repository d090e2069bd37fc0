// metrics.cpp: metrics map, JSONL writer, stage timers and progress output.
#include "rl/train/metrics.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "rl/util/error.h"

namespace reasonrl::train {

void Metrics::set(const std::string& k, double v) {
  for (auto& [name, val] : items_)
    if (name == k) {
      val = v;
      return;
    }
  items_.emplace_back(k, v);
}
double Metrics::get(const std::string& k, double def) const {
  for (const auto& [name, val] : items_)
    if (name == k) return val;
  return def;
}
bool Metrics::has(const std::string& k) const {
  for (const auto& [name, val] : items_)
    if (name == k) return true;
  return false;
}
std::map<std::string, double> Metrics::as_map() const { return {items_.begin(), items_.end()}; }

std::string Metrics::to_json_line(long step) const {
  nlohmann::ordered_json j;
  j["step"] = step;
  for (const auto& [k, v] : items_) j[k] = std::isfinite(v) ? nlohmann::ordered_json(v) : nlohmann::ordered_json(nullptr);
  return j.dump();
}

void StageTimer::add(const std::string& name, double seconds) {
  for (auto& [n, ms] : ms_)
    if (n == name) {
      ms += seconds * 1e3;
      return;
    }
  ms_.emplace_back(name, seconds * 1e3);
}
void StageTimer::put_into(Metrics& m) const {
  for (const auto& [n, ms] : ms_) m.set("time/" + n + "_ms", ms);
}

MetricsWriter::MetricsWriter(const std::string& path, bool append) : path_(path) {
  f_ = std::fopen(path.c_str(), append ? "a" : "w");
  if (!f_) throw IoError("cannot open '" + path + "': " + std::strerror(errno));
}
MetricsWriter::~MetricsWriter() {
  if (f_) std::fclose(f_);
}
void MetricsWriter::write(long step, const Metrics& m) {
  const std::string line = m.to_json_line(step) + "\n";
  errno = 0;
  if (std::fwrite(line.data(), 1, line.size(), f_) != line.size() || std::fflush(f_) != 0)
    throw IoError("cannot write step " + std::to_string(step) + " to '" + path_ + "': " +
                  (errno != 0 ? std::strerror(errno) : "short write") + " (is the disk full?)");
}

void truncate_metrics_file(const std::string& path, long max_step) {
  if (!std::filesystem::exists(path)) return;
  std::ifstream in(path);
  if (!in) throw IoError("cannot read '" + path + "'");
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      const auto j = nlohmann::json::parse(line);
      if (j.value("step", long(0)) <= max_step) kept += line + "\n";
    } catch (const std::exception&) {
      // a torn last line from a kill: drop it
    }
  }
  write_file_atomic(path, kept);
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  const long t = long(s + 0.5);
  if (t >= 3600) return std::to_string(t / 3600) + "h" + std::to_string((t % 3600) / 60) + "m";
  if (t >= 60) return std::to_string(t / 60) + "m" + std::to_string(t % 60) + "s";
  return std::to_string(t) + "s";
}

Progress::Progress(std::string what, long total, long start_step)
    : what_(std::move(what)), total_(total), start_step_(start_step), t0_(now_seconds()), tty_(stderr_is_tty()) {}

void Progress::update(long step, const std::vector<std::pair<std::string, std::string>>& fields) {
  const double el = now_seconds() - t0_;
  const long done = step - start_step_;
  const double eta = done > 0 ? el / done * double(total_ - step) : NAN;
  std::string kv;
  for (const auto& [k, v] : fields) kv += " " + k + " " + v;
  if (tty_) {
    const int width = 24;
    const int fill = total_ > 0 ? int(width * double(step) / double(total_)) : 0;
    std::string bar(size_t(fill), '#');
    bar += std::string(size_t(width - fill), '.');
    std::fprintf(stderr, "\r\033[K%s %ld/%ld [%s] %3d%% eta %s |%s", what_.c_str(), step, total_, bar.c_str(),
                 total_ > 0 ? int(100.0 * double(step) / double(total_)) : 0, format_duration(eta).c_str(), kv.c_str());
    std::fflush(stderr);
  } else {
    log_info("{} {}/{} eta {} |{}", what_, step, total_, format_duration(eta), kv);
  }
}

void Progress::finish() {
  if (tty_) std::fprintf(stderr, "\n");
}

}  // namespace reasonrl::train

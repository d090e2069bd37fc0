// metrics.h: per-step metrics (an ordered name -> value map), the metrics.jsonl writer, stage timers and the
// terminal progress line (a bar with ETA on a terminal, one log line per step otherwise).
#pragma once
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "rl/util/log.h"

namespace reasonrl::train {

// Insertion-ordered metrics of one step. Names use '/' groups: "reward/accuracy", "time/generate_ms".
class Metrics {
 public:
  void set(const std::string& k, double v);
  double get(const std::string& k, double def = 0.0) const;
  bool has(const std::string& k) const;
  const std::vector<std::pair<std::string, double>>& items() const { return items_; }
  std::map<std::string, double> as_map() const;
  std::string to_json_line(long step) const;  // {"step":N, "k":v, ...}

 private:
  std::vector<std::pair<std::string, double>> items_;
};

// Accumulates wall time per named stage; `Scope` times one block.
class StageTimer {
 public:
  struct Scope {
    StageTimer* t;
    std::string name;
    double start;
    ~Scope() { t->add(name, now_seconds() - start); }
  };
  Scope time(const std::string& name) { return Scope{this, name, now_seconds()}; }
  void add(const std::string& name, double seconds);
  void put_into(Metrics& m) const;  // time/<name>_ms
  void clear() { ms_.clear(); }

 private:
  std::vector<std::pair<std::string, double>> ms_;
};

// Appends one JSON line per step to a file (flushed every line, so a killed run keeps what it logged). Every write is
// checked: a short write or a failed flush (a full disk) is an IoError naming the file, never a torn line left behind.
class MetricsWriter {
 public:
  explicit MetricsWriter(const std::string& path, bool append);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;
  void write(long step, const Metrics& m);

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
};

// Resume: keeps the lines of a metrics / evals JSONL file whose "step" <= max_step (later lines were written after the
// checkpoint and will be written again) and drops a torn last line; rewritten atomically. A missing file is left alone.
void truncate_metrics_file(const std::string& path, long max_step);

// Progress: on a terminal a redrawn bar "step 12/200 [####.....] 6% eta 3m12s | reward 0.41 pass 38%";
// otherwise one log line per step with the same key metrics.
class Progress {
 public:
  Progress(std::string what, long total, long start_step = 0);
  void update(long step, const std::vector<std::pair<std::string, std::string>>& fields);
  void finish();

 private:
  std::string what_;
  long total_, start_step_;
  double t0_;
  bool tty_;
};

std::string format_duration(double seconds);

}  // namespace reasonrl::train

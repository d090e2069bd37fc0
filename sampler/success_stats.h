// success_stats.h: per-prompt success-rate estimates (EMA or sliding window) fed from each step's rollouts.
#pragma once
#include <deque>
#include <utility>
#include <vector>

#include "rl/util/config.h"

namespace reasonrl::sampler {

enum class SuccessEstimator { Ema, Window };
REASONRL_ENUM_NAMES(SuccessEstimator, {SuccessEstimator::Ema, "ema"}, {SuccessEstimator::Window, "window"})

class SuccessStats {
 public:
  SuccessStats() = default;
  SuccessStats(int n_prompts, SuccessEstimator est, double ema_alpha, int window);
  // Record n_correct of n_total rollouts of prompt `id` (n_total > 0). EMA: the first update sets s = rate,
  // later ones s <- (1 - alpha) s + alpha rate. Window: s = correct / total over the last `window` updates.
  void update(int id, int n_correct, int n_total, int step);
  bool has_history(int id) const { return prompts_[id].n_updates > 0; }
  // The estimate, or `fallback` for a prompt without history.
  double rate(int id, double fallback) const;
  int n_prompts() const { return int(prompts_.size()); }
  int n_updates(int id) const { return prompts_[id].n_updates; }
  long long total_correct(int id) const { return prompts_[id].correct; }
  long long total_seen(int id) const { return prompts_[id].total; }

  json to_json() const;                 // only prompts with history
  void from_json(const json& j);        // throws FormatError on a mismatch

 private:
  struct Entry {
    int n_updates = 0, last_step = -1;
    double ema = 0;
    long long correct = 0, total = 0;
    std::deque<std::pair<int, int>> win;  // (correct, total) of the last `window` updates
  };
  std::vector<Entry> prompts_;
  SuccessEstimator est_ = SuccessEstimator::Ema;
  double alpha_ = 0.3;
  int window_ = 4;
};

}  // namespace reasonrl::sampler

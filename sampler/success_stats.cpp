// success_stats.cpp: EMA / window success rates and their JSON state.
#include "sampler/success_stats.h"

#include "rl/util/error.h"

namespace reasonrl::sampler {

SuccessStats::SuccessStats(int n, SuccessEstimator est, double alpha, int window)
    : prompts_(size_t(n)), est_(est), alpha_(alpha), window_(window) {}

void SuccessStats::update(int id, int n_correct, int n_total, int step) {
  if (id < 0 || id >= int(prompts_.size())) throw ConfigError("sampler update: prompt id " + std::to_string(id) + " out of range [0, " + std::to_string(prompts_.size()) + ")");
  if (n_total <= 0 || n_correct < 0 || n_correct > n_total)
    throw ConfigError("sampler update: need 0 <= n_correct <= n_total and n_total > 0 (got " + std::to_string(n_correct) + "/" + std::to_string(n_total) + ")");
  Entry& e = prompts_[id];
  const double r = double(n_correct) / n_total;
  e.ema = e.n_updates == 0 ? r : (1 - alpha_) * e.ema + alpha_ * r;
  e.win.emplace_back(n_correct, n_total);
  while (int(e.win.size()) > window_) e.win.pop_front();
  e.correct += n_correct;
  e.total += n_total;
  e.n_updates += 1;
  e.last_step = step;
}

double SuccessStats::rate(int id, double fallback) const {
  const Entry& e = prompts_[id];
  if (e.n_updates == 0) return fallback;
  if (est_ == SuccessEstimator::Ema) return e.ema;
  long long c = 0, t = 0;
  for (auto [a, b] : e.win) {
    c += a;
    t += b;
  }
  return double(c) / double(t);
}

json SuccessStats::to_json() const {
  json a = json::array();
  for (size_t i = 0; i < prompts_.size(); ++i) {
    const Entry& e = prompts_[i];
    if (e.n_updates == 0) continue;
    json w = json::array();
    for (auto [c, t] : e.win) w.push_back({c, t});
    a.push_back({{"id", i}, {"n", e.n_updates}, {"last_step", e.last_step}, {"ema", e.ema}, {"correct", e.correct}, {"total", e.total}, {"win", w}});
  }
  return a;
}

void SuccessStats::from_json(const json& j) {
  if (!j.is_array()) throw FormatError("sampler state: 'stats' must be an array");
  for (auto& e : prompts_) e = Entry{};
  try {
    for (const auto& o : j) {
      const int id = o.at("id").get<int>();
      if (id < 0 || id >= int(prompts_.size())) throw FormatError("sampler state: prompt id " + std::to_string(id) + " out of range");
      Entry& e = prompts_[id];
      e.n_updates = o.at("n").get<int>();
      e.last_step = o.at("last_step").get<int>();
      e.ema = o.at("ema").get<double>();
      e.correct = o.at("correct").get<long long>();
      e.total = o.at("total").get<long long>();
      for (const auto& w : o.at("win")) e.win.emplace_back(w.at(0).get<int>(), w.at(1).get<int>());
    }
  } catch (const json::exception& ex) {
    throw FormatError(std::string("sampler state: malformed stats: ") + ex.what());
  }
}

}  // namespace reasonrl::sampler

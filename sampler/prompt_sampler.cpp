// prompt_sampler.cpp: uniform (epochs), curriculum (kimi / linear) and prioritized samplers and their state.
#include "sampler/prompt_sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "rl/util/error.h"
#include "rl/util/log.h"

namespace reasonrl::sampler {

void SamplerConfig::validate() const {
  if (warmup_steps < 0) throw ConfigError("sampler.warmup_steps must be >= 0");
  if (curriculum_steps < 1) throw ConfigError("sampler.curriculum_steps must be >= 1");
  if (!(start_fraction > 0 && start_fraction <= 1)) throw ConfigError("sampler.start_fraction must be in (0, 1]");
  if (!(ema_alpha > 0 && ema_alpha <= 1)) throw ConfigError("sampler.ema_alpha must be in (0, 1]");
  if (window < 1) throw ConfigError("sampler.window must be >= 1");
  if (!(floor >= 0 && floor <= 1)) throw ConfigError("sampler.floor must be in [0, 1]");
  if (!(prior >= 0 && prior <= 1)) throw ConfigError("sampler.prior must be in [0, 1]");
  if (!(hard_max_pass_rate >= 0 && hard_max_pass_rate <= 1)) throw ConfigError("sampler.hard_max_pass_rate must be in [0, 1]");
}

PromptSampler::PromptSampler(const SamplerConfig& cfg, std::vector<PromptMeta> meta)
    : cfg_(cfg), meta_(std::move(meta)), stats_(int(meta_.size()), cfg.estimator, cfg.ema_alpha, cfg.window) {
  cfg_.validate();
  if (meta_.empty()) throw ConfigError("prompt sampler: the prompt set is empty");
}

void PromptSampler::update(int id, int n_correct, int n_total, int step) { stats_.update(id, n_correct, n_total, step); }

double PromptSampler::success_rate(int id) const {
  if (stats_.has_history(id)) return stats_.rate(id, cfg_.prior);
  return meta_[id].pass_rate >= 0 ? meta_[id].pass_rate : cfg_.prior;
}

json PromptSampler::state() const {
  json offline = json::array();
  for (size_t i = 0; i < meta_.size(); ++i)
    if (meta_[i].pass_rate >= 0) offline.push_back(json::array({i, meta_[i].pass_rate}));
  return json{{"format", "reasonrl.prompt_sampler"}, {"version", 2}, {"type", enum_to_string(cfg_.type)},
              {"n_prompts", meta_.size()}, {"step", step_}, {"stats", stats_.to_json()}, {"pass_rates", offline}};
}

void PromptSampler::load_state(const json& j) {
  try {
    if (j.at("format") != "reasonrl.prompt_sampler") throw FormatError("sampler state: wrong 'format'");
    const int version = j.at("version").get<int>();
    if (version != 1 && version != 2)
      throw FormatError("sampler state: unsupported version " + j.at("version").dump() + " (expected 1 or 2)");
    if (j.at("type") != enum_to_string(cfg_.type))
      throw FormatError("sampler state is for a '" + j.at("type").get<std::string>() + "' sampler, not '" + enum_to_string(cfg_.type) + "'");
    if (j.at("n_prompts").get<size_t>() != meta_.size())
      throw FormatError("sampler state has " + j.at("n_prompts").dump() + " prompts, the dataset has " + std::to_string(meta_.size()));
    step_ = j.at("step").get<int>();
    stats_.from_json(j.at("stats"));
    if (version >= 2) {  // version 1 had no offline rates: keep those of the config
      for (auto& m : meta_) m.pass_rate = -1;
      for (const auto& e : j.at("pass_rates")) {
        const size_t id = e.at(0).get<size_t>();
        if (id >= meta_.size()) throw FormatError("sampler state: pass rate of prompt " + std::to_string(id) + " out of range");
        meta_[id].pass_rate = e.at(1).get<double>();
      }
    }
  } catch (const json::exception& e) {
    throw FormatError(std::string("sampler state: ") + e.what());
  }
}

std::vector<int> PromptSampler::draw(const std::vector<int>& pool, const std::vector<double>& w, int n, Rng& rng) const {
  if (pool.empty()) throw ConfigError("prompt sampler: no prompt to draw from");
  if (n < 0) throw ConfigError("prompt sampler: negative batch size");
  std::vector<int> out;
  out.reserve(size_t(n));
  if (cfg_.replacement) {
    if (w.empty()) {
      for (int k = 0; k < n; ++k) out.push_back(pool[rng.below(pool.size())]);
      return out;
    }
    std::vector<double> cum(w.size());
    std::partial_sum(w.begin(), w.end(), cum.begin());
    for (int k = 0; k < n; ++k) {
      const double u = rng.uniform() * cum.back();
      size_t i = size_t(std::upper_bound(cum.begin(), cum.end(), u) - cum.begin());
      if (i >= pool.size()) i = pool.size() - 1;
      while (i > 0 && w[i] <= 0) --i;  // never land on a zero-weight entry through rounding
      out.push_back(pool[i]);
    }
    return out;
  }
  // Without replacement: whole passes over the pool if n exceeds it.
  while (int(out.size()) < n) {
    const int k = std::min<int>(n - int(out.size()), int(pool.size()));
    if (w.empty()) {  // partial Fisher-Yates
      std::vector<int> p = pool;
      for (int i = 0; i < k; ++i) {
        std::swap(p[size_t(i)], p[size_t(i) + rng.below(p.size() - size_t(i))]);
        out.push_back(p[size_t(i)]);
      }
    } else {  // Efraimidis-Spirakis: the k largest log(u)/w_i
      std::vector<std::pair<double, int>> keys(pool.size());
      for (size_t i = 0; i < pool.size(); ++i) {
        const double u = 1.0 - rng.uniform();  // (0, 1]
        keys[i] = {w[i] > 0 ? std::log(u) / w[i] : -std::numeric_limits<double>::infinity(), int(i)};
      }
      std::partial_sort(keys.begin(), keys.begin() + k, keys.end(),
                        [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
      for (int i = 0; i < k; ++i) out.push_back(pool[size_t(keys[size_t(i)].second)]);
    }
  }
  return out;
}

namespace {

std::vector<int> iota_ids(int n) {
  std::vector<int> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

class UniformSampler final : public PromptSampler {
 public:
  UniformSampler(const SamplerConfig& c, std::vector<PromptMeta> m) : PromptSampler(c, std::move(m)) {}
  std::vector<int> sample(int n, Rng& rng) override {
    std::vector<int> out;
    if (cfg_.replacement) {
      out = draw(iota_ids(n_prompts()), {}, n, rng);
    } else {
      for (int k = 0; k < n; ++k) {
        if (pos_ >= perm_.size()) {
          perm_ = iota_ids(n_prompts());
          for (size_t i = perm_.size() - 1; i > 0; --i) std::swap(perm_[i], perm_[rng.below(i + 1)]);
          pos_ = 0;
          ++epoch_;
        }
        out.push_back(perm_[pos_++]);
      }
    }
    ++step_;
    return out;
  }
  std::vector<double> probabilities() const override { return std::vector<double>(meta_.size(), 1.0 / double(meta_.size())); }
  json state() const override {
    json j = PromptSampler::state();
    j["epoch"] = epoch_;
    j["perm"] = perm_;
    j["pos"] = pos_;
    return j;
  }
  void load_state(const json& j) override {
    PromptSampler::load_state(j);
    try {
      epoch_ = j.at("epoch").get<int>();
      perm_ = j.at("perm").get<std::vector<int>>();
      pos_ = j.at("pos").get<size_t>();
    } catch (const json::exception& e) {
      throw FormatError(std::string("sampler state: ") + e.what());
    }
    if (!perm_.empty() && perm_.size() != meta_.size()) throw FormatError("sampler state: permutation size does not match the prompt set");
    if (pos_ > perm_.size()) throw FormatError("sampler state: epoch position beyond the permutation");
  }

 private:
  std::vector<int> perm_;
  size_t pos_ = 0;
  int epoch_ = 0;
};

class CurriculumSampler final : public PromptSampler {
 public:
  CurriculumSampler(const SamplerConfig& c, std::vector<PromptMeta> m) : PromptSampler(c, std::move(m)) {}
  // The prompts eligible at the current step.
  std::vector<int> pool() const {
    const int n = n_prompts();
    const bool by_rate = cfg_.curriculum_by == CurriculumBy::PassRate;
    if (cfg_.schedule == CurriculumSchedule::Kimi) {
      if (step_ < cfg_.warmup_steps) return iota_ids(n);
      std::vector<int> hard;
      for (int i = 0; i < n; ++i)
        if (by_rate ? success_rate(i) <= cfg_.hard_max_pass_rate : meta_[i].difficulty >= cfg_.hard_min_difficulty) hard.push_back(i);
      if (hard.empty()) return iota_ids(n);  // nothing counts as hard: keep training on the mixed set
      return hard;
    }
    std::vector<int> ids = iota_ids(n);
    std::vector<double> ease(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) ease[i] = by_rate ? success_rate(i) : -double(meta_[i].difficulty);
    std::stable_sort(ids.begin(), ids.end(), [&](int a, int b) { return ease[a] > ease[b]; });
    const double frac = std::min(1.0, double(step_) / cfg_.curriculum_steps);
    const double share = cfg_.start_fraction + (1 - cfg_.start_fraction) * frac;
    const int k = std::clamp(int(std::ceil(share * n - 1e-9)), 1, n);
    ids.resize(size_t(k));
    std::sort(ids.begin(), ids.end());
    return ids;
  }
  std::vector<int> sample(int n, Rng& rng) override {
    auto out = draw(pool(), {}, n, rng);
    ++step_;
    return out;
  }
  std::vector<double> probabilities() const override {
    std::vector<double> p(meta_.size(), 0.0);
    const auto ids = pool();
    for (int i : ids) p[size_t(i)] = 1.0 / double(ids.size());
    return p;
  }
};

class PrioritizedSampler final : public PromptSampler {
 public:
  PrioritizedSampler(const SamplerConfig& c, std::vector<PromptMeta> m) : PromptSampler(c, std::move(m)) {}
  std::vector<double> weights() const {
    std::vector<double> w(meta_.size());
    double sum = 0;
    for (int i = 0; i < n_prompts(); ++i) sum += (w[size_t(i)] = std::max(1.0 - success_rate(i), cfg_.floor));
    if (sum <= 0) std::fill(w.begin(), w.end(), 1.0);  // floor 0 and everything solved: uniform
    return w;
  }
  std::vector<int> sample(int n, Rng& rng) override {
    auto out = draw(iota_ids(n_prompts()), weights(), n, rng);
    ++step_;
    return out;
  }
  std::vector<double> probabilities() const override {
    auto w = weights();
    const double s = std::accumulate(w.begin(), w.end(), 0.0);
    for (auto& x : w) x /= s;
    return w;
  }
};

}  // namespace

std::unique_ptr<PromptSampler> make_prompt_sampler(const SamplerConfig& cfg, const std::vector<PromptMeta>& prompts) {
  switch (cfg.type) {
    case SamplerType::Uniform: return std::make_unique<UniformSampler>(cfg, prompts);
    case SamplerType::Curriculum: return std::make_unique<CurriculumSampler>(cfg, prompts);
    case SamplerType::Prioritized: return std::make_unique<PrioritizedSampler>(cfg, prompts);
  }
  throw ConfigError("unknown sampler type");
}

}  // namespace reasonrl::sampler

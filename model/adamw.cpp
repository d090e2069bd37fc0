// adamw.cpp: AdamW (decoupled weight decay), global-norm clipping, warmup + cosine schedule, state save / load.
#include "model/adamw.h"

#include <cmath>

#include "model/safetensors.h"
#include "rl/util/error.h"

namespace reasonrl::model {

void AdamWConfig::validate() const {
  auto need = [](bool ok, const char* msg) {
    if (!ok) throw ConfigError(std::string("optimizer config: ") + msg);
  };
  need(learning_rate >= 0, "learning_rate must be >= 0");
  need(adam_beta1 >= 0 && adam_beta1 < 1, "adam_beta1 must be in [0, 1)");
  need(adam_beta2 >= 0 && adam_beta2 < 1, "adam_beta2 must be in [0, 1)");
  need(adam_epsilon > 0, "adam_epsilon must be > 0");
  need(weight_decay >= 0, "weight_decay must be >= 0");
  need(max_grad_norm >= 0, "max_grad_norm must be >= 0");
  need(warmup_steps >= 0 && max_steps >= 0, "warmup_steps and max_steps must be >= 0");
  need(min_lr_ratio >= 0 && min_lr_ratio <= 1, "min_lr_ratio must be in [0, 1]");
}

double AdamWConfig::lr_at(int64_t step) const {
  if (warmup_steps > 0 && step < warmup_steps) return learning_rate * double(step + 1) / warmup_steps;
  if (max_steps <= warmup_steps) return learning_rate;
  const double prog = std::min(1.0, double(step - warmup_steps) / double(max_steps - warmup_steps));
  const double cosv = 0.5 * (1.0 + std::cos(M_PI * prog));
  return learning_rate * (min_lr_ratio + (1.0 - min_lr_ratio) * cosv);
}

double grad_global_norm(std::span<const float> g) {
  double s = 0;
#pragma omp parallel for reduction(+ : s) schedule(static)
  for (size_t i = 0; i < g.size(); ++i) s += double(g[i]) * g[i];
  return std::sqrt(s);
}

AdamW::AdamW(const AdamWConfig& cfg) : cfg_(cfg) { cfg_.validate(); }

void AdamW::reset_moments() {
  std::fill(m_.begin(), m_.end(), 0.0f);
  std::fill(v_.begin(), v_.end(), 0.0f);
  t_ = 0;
}

double AdamW::step(Model& model, float lr) {
  auto p = model.params();
  auto g = model.grads();
  if (m_.size() != p.size()) {
    m_.assign(p.size(), 0.0f);
    v_.assign(p.size(), 0.0f);
  }
  const double norm = grad_global_norm(g);
  if (!std::isfinite(norm)) throw NumericError("AdamW: gradient norm is " + std::to_string(norm) + " (NaN/Inf)");
  float clip = 1.0f;
  if (cfg_.max_grad_norm > 0 && norm > cfg_.max_grad_norm) clip = float(cfg_.max_grad_norm / (norm + 1e-6));
  ++t_;
  ++schedule_step_;
  const float b1 = float(cfg_.adam_beta1), b2 = float(cfg_.adam_beta2), eps = float(cfg_.adam_epsilon);
  const float bc1 = float(1.0 - std::pow(cfg_.adam_beta1, double(t_)));
  const float bc2 = float(1.0 - std::pow(cfg_.adam_beta2, double(t_)));
  const float wd = float(cfg_.weight_decay);
  for (const auto& t : model.tensors()) {
    if (!t.trainable) continue;
    const float decay = t.decay ? lr * wd : 0.0f;
    float* pp = p.data() + t.offset;
    float* gg = g.data() + t.offset;
    float* mm = m_.data() + t.offset;
    float* vv = v_.data() + t.offset;
    const size_t n = t.size;
#pragma omp parallel for schedule(static) if (n > 65536)
    for (size_t i = 0; i < n; ++i) {
      const float gi = gg[i] * clip;
      if (clip != 1.0f) gg[i] = gi;
      mm[i] = b1 * mm[i] + (1 - b1) * gi;
      vv[i] = b2 * vv[i] + (1 - b2) * gi * gi;
      const float mhat = mm[i] / bc1, vhat = vv[i] / bc2;
      pp[i] -= lr * (mhat / (std::sqrt(vhat) + eps)) + decay * pp[i];
    }
  }
  return norm;
}

void AdamW::save(const std::string& path) const {
  const int64_t n = int64_t(m_.size());
  write_safetensors(path, {{"exp_avg", {n}, m_.data()}, {"exp_avg_sq", {n}, v_.data()}},
                    {{"step", std::to_string(t_)},
                     {"schedule_step", std::to_string(schedule_step_)},
                     {"optimizer", "adamw"},
                     {"reasonrl_optimizer_version", "2"}});
}

void AdamW::load(const std::string& path, const Model& model) {
  const SafetensorsFile f = SafetensorsFile::read(path);
  const std::vector<int64_t> shape = {int64_t(model.num_params())};
  auto count = [&](const char* key) -> int64_t {
    auto it = f.metadata().find(key);
    if (it == f.metadata().end()) throw FormatError(path + ": optimizer state lacks the '" + key + "' metadata");
    try {
      size_t used = 0;
      const int64_t v = std::stoll(it->second, &used);
      if (used != it->second.size() || v < 0) throw 0;
      return v;
    } catch (...) {
      throw FormatError(path + ": bad " + key + " '" + it->second + "'");
    }
  };
  t_ = count("step");
  // version 1 (no schedule_step): the one counter drove both, so the schedule step is the moment step
  schedule_step_ = f.metadata().count("schedule_step") ? count("schedule_step") : t_;
  if (schedule_step_ < t_) throw FormatError(path + ": schedule_step " + std::to_string(schedule_step_) + " < step " + std::to_string(t_));
  if (t_ == 0) {  // a state that never stepped has no moments yet (they are allocated by the first step)
    m_.clear();
    v_.clear();
    return;
  }
  m_ = f.get_f32("exp_avg", &shape);
  v_ = f.get_f32("exp_avg_sq", &shape);
}

}  // namespace reasonrl::model

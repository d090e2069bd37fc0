// merge.cpp: linear, task-arithmetic and TIES merging of checkpoints.
#include "rl/long2short/merge.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include "rl/util/log.h"

namespace fs = std::filesystem;

namespace reasonrl::long2short {

void MergeConfig::validate() const {
  for (double d : density)
    if (!(d > 0.0 && d <= 1.0)) throw ConfigError("merge.density values must be in (0, 1], got " + std::to_string(d));
  if (!std::isfinite(lambda)) throw ConfigError("merge.lambda must be finite");
  for (double w : weights)
    if (!std::isfinite(w)) throw ConfigError("merge.weights must be finite");
}

std::vector<double> resolve_merge_weights(const MergeConfig& cfg, size_t n) {
  if (n == 0) throw ConfigError("merge: no models to merge (merge.models is empty)");
  if (cfg.merge_method == MergeMethod::Linear && n < 2) throw ConfigError("merge: linear merging needs at least 2 models");
  std::vector<double> w = cfg.weights;
  if (w.empty()) {
    const double wi = cfg.merge_method == MergeMethod::Linear ? 1.0 / double(n) : 1.0;
    w.assign(n, wi);
  }
  if (w.size() != n)
    throw ConfigError("merge.weights has " + std::to_string(w.size()) + " values for " + std::to_string(n) +
                      " models; give one weight per model");
  if (cfg.merge_method == MergeMethod::Linear) {
    const double sum = std::accumulate(w.begin(), w.end(), 0.0);
    if (cfg.normalize) {
      if (std::fabs(sum) < 1e-12) throw ConfigError("merge.weights sum to 0; cannot normalize");
      for (double& x : w) x /= sum;
    } else if (std::fabs(sum - 1.0) > 1e-6 && !cfg.allow_unnormalized_weights) {
      throw ConfigError("merge.weights sum to " + std::to_string(sum) +
                        ", not 1, for a linear merge; set merge.normalize true to rescale them, or "
                        "merge.allow_unnormalized_weights true to use them as given");
    }
  }
  if (!cfg.density.empty() && cfg.density.size() != 1 && cfg.density.size() != n)
    throw ConfigError("merge.density has " + std::to_string(cfg.density.size()) + " values for " + std::to_string(n) +
                      " models; give one value or one per model");
  return w;
}

namespace {

double density_of(const MergeConfig& cfg, size_t i) {
  if (cfg.density.empty()) return 1.0;
  return cfg.density.size() == 1 ? cfg.density[0] : cfg.density[i];
}

// Keeps the k = int(density * n) largest |d| (ties broken by lower index), zeroes the rest (mergekit's magnitude).
void sparsify_magnitude(std::vector<float>& d, double density) {
  const size_t n = d.size();
  if (density >= 1.0 || n == 0) return;
  const size_t k = size_t(density * double(n));
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), size_t(0));
  auto cmp = [&](size_t a, size_t b) {
    const float fa = std::fabs(d[a]), fb = std::fabs(d[b]);
    return fa != fb ? fa > fb : a < b;
  };
  if (k < n) std::nth_element(idx.begin(), idx.begin() + long(k), idx.end(), cmp);
  for (size_t j = k; j < n; ++j) d[idx[j]] = 0.0f;
}

int sign_of(double x) { return (x > 0) - (x < 0); }

}  // namespace

void merge_tensor(const MergeConfig& cfg, const std::vector<double>& w, const std::vector<const float*>& xs,
                  const float* base, size_t n, float* out) {
  const size_t m = xs.size();
  if (cfg.merge_method == MergeMethod::Linear) {
    for (size_t j = 0; j < n; ++j) {
      double acc = 0;
      for (size_t i = 0; i < m; ++i) acc += w[i] * double(xs[i][j]);
      out[j] = float(acc);
    }
    return;
  }
  if (!base) throw ConfigError(std::string("merge: ") + enum_to_string(cfg.merge_method) + " needs merge.base_model");
  if (cfg.merge_method == MergeMethod::TaskArithmetic) {
    for (size_t j = 0; j < n; ++j) {
      double acc = 0;
      for (size_t i = 0; i < m; ++i) acc += w[i] * (double(xs[i][j]) - double(base[j]));
      out[j] = float(double(base[j]) + cfg.lambda * acc);
    }
    return;
  }
  // TIES: trim, elect sign, disjoint mean.
  std::vector<std::vector<float>> tau(m, std::vector<float>(n));
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < n; ++j) tau[i][j] = xs[i][j] - base[j];
    sparsify_magnitude(tau[i], density_of(cfg, i));
  }
  for (size_t j = 0; j < n; ++j) {
    double sum = 0;
    for (size_t i = 0; i < m; ++i) sum += w[i] * tau[i][j];
    const int elected = sum >= 0 ? 1 : -1;  // mergekit: (sum >= 0) * 2 - 1
    double num = 0, den = 0;
    for (size_t i = 0; i < m; ++i) {
      const double wt = w[i] * tau[i][j];
      if (sign_of(wt) != elected) continue;
      num += wt;
      den += w[i];
    }
    if (den == 0) den = 1;
    out[j] = float(double(base[j]) + cfg.lambda * num / den);
  }
}

void check_same_config(const model::ModelConfig& a, const std::string& an, const model::ModelConfig& b,
                       const std::string& bn) {
  const json ja = config_to_json(a), jb = config_to_json(b);
  std::string diff;
  for (auto it = ja.begin(); it != ja.end(); ++it) {
    const std::string& k = it.key();
    if (k == "bias_update_speed" || k == "seq_aux_alpha" || k == "mtp_loss_weight") continue;
    if (it.value() != jb.at(k)) diff += (diff.empty() ? "" : ", ") + k + " " + it.value().dump() + " vs " + jb.at(k).dump();
  }
  if (!diff.empty())
    throw ConfigError("merge: checkpoints '" + an + "' and '" + bn + "' have different model configs (" + diff +
                      "); only checkpoints of the same architecture can be merged");
}

void merge_models(const MergeConfig& cfg, const std::vector<const model::Model*>& models, const model::Model* base,
                  model::Model& out) {
  const auto w = resolve_merge_weights(cfg, models.size());
  for (size_t i = 0; i < models.size(); ++i)
    check_same_config(models[0]->config(), "model 0", models[i]->config(), "model " + std::to_string(i));
  if (base) check_same_config(models[0]->config(), "model 0", base->config(), "base_model");
  check_same_config(models[0]->config(), "model 0", out.config(), "output");
  const auto& ts = out.tensors();
  for (size_t i = 0; i < models.size(); ++i) {
    const auto& ti = models[i]->tensors();
    if (ti.size() != ts.size()) throw ConfigError("merge: model " + std::to_string(i) + " has a different tensor count");
    for (size_t k = 0; k < ts.size(); ++k)
      if (ti[k].name != ts[k].name || ti[k].shape != ts[k].shape)
        throw ConfigError("merge: tensor '" + ti[k].name + "' of model " + std::to_string(i) +
                          " does not match the shape of '" + ts[k].name + "'");
  }
  for (const auto& t : ts) {
    std::vector<const float*> xs;
    for (const auto* m : models) xs.push_back(m->params().data() + t.offset);
    const float* b = base ? base->params().data() + t.offset : nullptr;
    merge_tensor(cfg, w, xs, b, t.size, out.params().data() + t.offset);
  }
}

std::string merge_checkpoints(const MergeConfig& cfg) {
  if (cfg.output.empty()) throw ConfigError("merge.output (the output checkpoint directory) is empty");
  if (cfg.models.empty()) throw ConfigError("merge.models is empty: list the checkpoint directories to merge");
  if (cfg.merge_method != MergeMethod::Linear && cfg.base_model.empty())
    throw ConfigError(std::string("merge: ") + enum_to_string(cfg.merge_method) + " needs merge.base_model");
  resolve_merge_weights(cfg, cfg.models.size());  // fail before loading anything
  std::vector<std::unique_ptr<model::Model>> ms;
  for (const auto& dir : cfg.models) ms.push_back(model::load_model(dir));
  std::unique_ptr<model::Model> base;
  if (cfg.merge_method != MergeMethod::Linear) base = model::load_model(cfg.base_model);
  for (size_t i = 1; i < ms.size(); ++i) check_same_config(ms[0]->config(), cfg.models[0], ms[i]->config(), cfg.models[i]);
  if (base) check_same_config(ms[0]->config(), cfg.models[0], base->config(), cfg.base_model);
  // Tokenizers must be identical (token ids index the same embedding rows).
  std::string tok0;
  const std::string tok_path0 = cfg.models[0] + "/tokenizer.json";
  if (fs::exists(tok_path0)) tok0 = read_file(tok_path0);
  std::vector<std::string> others(cfg.models.begin() + 1, cfg.models.end());
  if (!cfg.base_model.empty()) others.push_back(cfg.base_model);
  for (const auto& dir : others) {
    const std::string p = dir + "/tokenizer.json";
    // compared as parsed JSON (key order ignored): the same tokenizer saved by another run may differ in layout only
    if (fs::exists(p) != !tok0.empty() ||
        (!tok0.empty() && nlohmann::json::parse(read_file(p)) != nlohmann::json::parse(tok0)))
      throw ConfigError("merge: '" + p + "' differs from '" + tok_path0 +
                        "'; checkpoints with different tokenizers cannot be merged");
  }
  auto out = std::make_unique<model::Model>(*ms[0]);
  std::vector<const model::Model*> ptrs;
  for (const auto& m : ms) ptrs.push_back(m.get());
  merge_models(cfg, ptrs, base.get(), *out);
  model::save_checkpoint(*out, cfg.output);
  if (!tok0.empty()) write_file_atomic(cfg.output + "/tokenizer.json", tok0);
  json rec = config_to_json(cfg);
  rec["format"] = "reasonrl.merge";
  rec["version"] = 1;
  rec["resolved_weights"] = resolve_merge_weights(cfg, cfg.models.size());
  write_file_atomic(cfg.output + "/merge_config.json", rec.dump(2) + "\n");
  log_info("merged {} checkpoints ({}) into {}", ms.size(), enum_to_string(cfg.merge_method), cfg.output);
  return cfg.output;
}

}  // namespace reasonrl::long2short

// merge.h: model merging (mergekit's linear, task_arithmetic and ties) of checkpoints with the same architecture.
//   linear:          theta = sum_i w_i theta_i                  (weights must sum to 1 unless normalize / allowed)
//   task_arithmetic: theta = base + lambda * sum_i w_i (theta_i - base)
//   ties:            tau_i = top-density fraction of (theta_i - base) by magnitude (per tensor), elected sign
//                    s = sign(sum_i w_i tau_i), theta = base + lambda * sum_i w_i m_i tau_i / sum_i w_i m_i with
//                    m_i = [sign(tau_i) == s] (the disjoint mean; mergekit's ties with normalize true)
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "model/model.h"
#include "rl/util/config.h"

namespace reasonrl::long2short {

enum class MergeMethod { Linear, TaskArithmetic, Ties };
REASONRL_ENUM_NAMES(MergeMethod, {MergeMethod::Linear, "linear"}, {MergeMethod::TaskArithmetic, "task_arithmetic"},
                    {MergeMethod::Ties, "ties"})

struct MergeConfig {
  MergeMethod merge_method = MergeMethod::Linear;
  std::vector<std::string> models;  // checkpoint directories ("@input" = the stage's input inside long2short)
  std::vector<double> weights;      // one per model; empty = equal weights 1/n
  std::string base_model;           // task_arithmetic / ties: the checkpoint the task vectors are taken from
  std::vector<double> density;      // ties: fraction of each task vector kept (one value = all models); empty = 1
  bool normalize = false;           // linear: rescale the weights to sum to 1 (mergekit's default is true)
  bool allow_unnormalized_weights = false;  // linear: use weights that do not sum to 1 as given
  double lambda = 1.0;              // task_arithmetic / ties: scale of the merged task vector
  std::string output;               // output checkpoint directory
  template <class V>
  void visit(V& v) {
    v("merge_method", merge_method, "linear, task_arithmetic or ties (mergekit names)");
    v("models", models, "checkpoint directories to merge (inside long2short, \"@input\" is the stage's input model)");
    v("weights", weights, "one weight per model (empty = equal weights)");
    v("base_model", base_model, "task_arithmetic / ties: base checkpoint the task vectors are relative to");
    v("density", density, "ties: fraction of each task vector kept by magnitude (one value for all, or one per model)");
    v("normalize", normalize, "linear: rescale weights to sum to 1");
    v("allow_unnormalized_weights", allow_unnormalized_weights, "linear: accept weights that do not sum to 1 as given");
    v("lambda", lambda, "task_arithmetic / ties: scale of the merged task vector");
    v("output", output, "output checkpoint directory");
  }
  void validate() const;
};

// The weights actually used for n models (equal when empty; linear normalize applied). Throws ConfigError when the
// count is wrong or linear weights do not sum to 1 (within 1e-6) and neither normalize nor allow_unnormalized_weights.
std::vector<double> resolve_merge_weights(const MergeConfig& cfg, size_t n_models);

// Merges one tensor of n elements: xs[i] is model i's tensor, base is the base model's (ties / task_arithmetic; may be
// null for linear), weights from resolve_merge_weights. Writes out (n).
void merge_tensor(const MergeConfig& cfg, const std::vector<double>& weights, const std::vector<const float*>& xs,
                  const float* base, size_t n, float* out);

// Merges whole models tensor by tensor into `out` (same architecture as all of them; checked).
void merge_models(const MergeConfig& cfg, const std::vector<const model::Model*>& models, const model::Model* base,
                  model::Model& out);

// Throws ConfigError naming both checkpoints and the differing keys when the configs differ in anything but the
// training knobs (bias_update_speed, seq_aux_alpha, mtp_loss_weight).
void check_same_config(const model::ModelConfig& a, const std::string& a_name, const model::ModelConfig& b,
                       const std::string& b_name);

// Loads cfg.models (and base_model), checks configs and tokenizers agree, merges and writes cfg.output (model,
// config.json, tokenizer.json of the first model, merge_config.json). Returns the output directory.
std::string merge_checkpoints(const MergeConfig& cfg);

}  // namespace reasonrl::long2short

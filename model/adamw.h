// adamw.h: AdamW with decoupled weight decay, global-norm gradient clipping and a warmup + cosine LR schedule.
// The state (m, v) has the layout of the parameter arena. Two step counts are part of the state: the moment step
// (bias correction; restarts at 0 when the moments are reset) and the schedule step (drives the LR; never reset).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "model/model.h"
#include "rl/util/config.h"

namespace reasonrl::model {

struct AdamWConfig {
  double learning_rate = 1e-3;  // peak LR
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.95;
  double adam_epsilon = 1e-8;
  double weight_decay = 0.1;    // decoupled, on 2-D weights only
  double max_grad_norm = 1.0;   // global-norm clipping (0 = off)
  int warmup_steps = 0;         // linear warmup from 0 to learning_rate
  int max_steps = 0;            // cosine decay to min_lr_ratio * learning_rate at max_steps (0 = constant after warmup)
  double min_lr_ratio = 0.1;
  template <class V>
  void visit(V& v) {
    v("learning_rate", learning_rate, "peak learning rate");
    v("adam_beta1", adam_beta1, "AdamW beta1");
    v("adam_beta2", adam_beta2, "AdamW beta2");
    v("adam_epsilon", adam_epsilon, "AdamW epsilon");
    v("weight_decay", weight_decay, "decoupled weight decay (2-D weights only)");
    v("max_grad_norm", max_grad_norm, "global gradient-norm clip (0 = off)");
    v("warmup_steps", warmup_steps, "linear warmup steps");
    v("max_steps", max_steps, "cosine decay horizon in steps (0 = constant LR after warmup)");
    v("min_lr_ratio", min_lr_ratio, "final LR of the cosine as a fraction of learning_rate");
  }
  void validate() const;
  // LR at 0-based step `step`: warmup (step+1)/warmup_steps, then cosine from 1 to min_lr_ratio.
  double lr_at(int64_t step) const;
};

class AdamW {
 public:
  explicit AdamW(const AdamWConfig& cfg = {});
  const AdamWConfig& config() const { return cfg_; }
  // One update with the given LR (use config().lr_at(schedule_step()) for the schedule). Clips the gradient to
  // max_grad_norm first (scaling grads() in place). Returns the global gradient norm before clipping.
  // A NaN/Inf gradient throws NumericError and leaves the parameters unchanged.
  double step(Model& model, float lr);
  int64_t step_count() const { return t_; }                  // updates since the moments were last reset (bias correction)
  int64_t schedule_step() const { return schedule_step_; }  // updates since construction (LR schedule; reset keeps it)
  // Zero the moments and their bias-correction step (Kimi k1.5 resets the optimizer every iteration). The schedule
  // step is kept: a reset restarts Adam's statistics, not the warmup and cosine.
  void reset_moments();
  // Optimizer state file (safetensors: exp_avg, exp_avg_sq; "step" and "schedule_step" in the metadata, version 2).
  // load() checks the size; a version-1 file has no "schedule_step" and gets its "step" (no reset happened in it
  // unless it was a Kimi run, whose schedule step that file did not record).
  void save(const std::string& path) const;
  void load(const std::string& path, const Model& model);
  const std::vector<float>& exp_avg() const { return m_; }
  const std::vector<float>& exp_avg_sq() const { return v_; }

 private:
  AdamWConfig cfg_;
  std::vector<float> m_, v_;
  int64_t t_ = 0;
  int64_t schedule_step_ = 0;
};

// Global L2 norm of a gradient arena (double accumulation).
double grad_global_norm(std::span<const float> g);

}  // namespace reasonrl::model

// routing_metrics.h: owns the MoE routing metrics of the RL trainer: comparing two sets of routes (model.h's route:
// per token row, K expert ids for each MoE layer), moe/route_mismatch between the rollout and the trainer's forward,
// and the fixed probe batch behind moe/expert_change_rate (how many top-k choices one optimizer step changes).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "model/model.h"

namespace reasonrl::train {

// Counts over (token, layer) pairs of two route arrays of the same shape.
struct RouteCounts {
  int64_t pairs = 0;         // (token, layer) pairs compared (rows of -1 on either side are skipped)
  int64_t pairs_differ = 0;  // pairs whose top-k SETS differ (the order within a route does not count)
  int64_t choices = 0;       // pairs * K
  int64_t choices_changed = 0;  // experts of `a` missing from `b`, summed over pairs
  RouteCounts& operator+=(const RouteCounts& o);
  double mismatch() const { return pairs > 0 ? double(pairs_differ) / double(pairs) : 0.0; }
  double change_rate() const { return choices > 0 ? double(choices_changed) / double(choices) : 0.0; }
};

// a and b: (rows, width) with width a multiple of k.
RouteCounts compare_routes(std::span<const int16_t> a, std::span<const int16_t> b, int width, int k);

// The fixed probe batch of moe/expert_change_rate: a few token sequences (the first training prompts), teacher
// forced through the policy after every optimizer step; the rate is the fraction of their top-k choices (all
// positions, every MoE layer) that changed since the previous probe. Its forwards leave the router's load counts as
// they were (the bias update sees only training forwards), so turning it on does not change training.
class RouteProbe {
 public:
  RouteProbe(std::vector<std::vector<int32_t>> seqs);
  // Routes of the probe batch under m now; returns the counts against the previous call's (none on the first call).
  RouteCounts measure(model::Model& m);
  bool has_baseline() const { return !last_.empty(); }
  int64_t tokens() const;  // token rows per probe forward

 private:
  std::vector<std::vector<int32_t>> seqs_;
  std::vector<int32_t> tokens_;
  std::vector<float> real_, logits_;
  int B_ = 0, T_ = 0;
  std::vector<int16_t> last_, now_;
};

}  // namespace reasonrl::train

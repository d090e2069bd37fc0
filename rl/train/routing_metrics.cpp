// routing_metrics.cpp: route comparison (sets per (token, layer)) and the expert-change probe.
#include "rl/train/routing_metrics.h"

#include <algorithm>
#include <string>

#include "rl/util/error.h"

namespace reasonrl::train {

RouteCounts& RouteCounts::operator+=(const RouteCounts& o) {
  pairs += o.pairs;
  pairs_differ += o.pairs_differ;
  choices += o.choices;
  choices_changed += o.choices_changed;
  return *this;
}

RouteCounts compare_routes(std::span<const int16_t> a, std::span<const int16_t> b, int width, int k) {
  if (a.size() != b.size() || width <= 0 || k <= 0 || width % k != 0 || a.size() % size_t(width) != 0)
    throw Error("compare_routes: " + std::to_string(a.size()) + " vs " + std::to_string(b.size()) +
                " entries of width " + std::to_string(width) + " (k " + std::to_string(k) + ")");
  RouteCounts c;
  for (size_t j = 0; j < a.size(); j += size_t(k)) {
    if (a[j] < 0 || b[j] < 0) continue;  // not recorded
    int missing = 0;
    for (int x = 0; x < k; ++x) missing += std::find(&b[j], &b[j] + k, a[j + size_t(x)]) == &b[j] + k;
    ++c.pairs;
    c.pairs_differ += missing > 0;
    c.choices += k;
    c.choices_changed += missing;
  }
  return c;
}

RouteProbe::RouteProbe(std::vector<std::vector<int32_t>> seqs) : seqs_(std::move(seqs)) {
  B_ = int(seqs_.size());
  for (const auto& s : seqs_) T_ = std::max(T_, int(s.size()));
  if (B_ == 0 || T_ == 0) throw ConfigError("expert-change probe: no probe sequences");
  tokens_.assign(size_t(B_) * T_, 0);
  real_.assign(size_t(B_) * T_, 0.0f);
  for (int b = 0; b < B_; ++b) {
    std::copy(seqs_[size_t(b)].begin(), seqs_[size_t(b)].end(), tokens_.begin() + long(b) * T_);
    std::fill_n(real_.begin() + long(b) * T_, seqs_[size_t(b)].size(), 1.0f);
  }
}

int64_t RouteProbe::tokens() const {
  int64_t n = 0;
  for (const auto& s : seqs_) n += int64_t(s.size());
  return n;
}

RouteCounts RouteProbe::measure(model::Model& m) {
  const int W = m.route_width(), K = m.config().num_experts_per_tok;
  if (W == 0) return {};
  const auto loads = m.router_loads();
  const std::vector<double> saved(loads.begin(), loads.end());
  logits_.resize(size_t(B_) * T_ * size_t(m.config().vocab_size));
  m.forward(tokens_.data(), B_, T_, logits_.data(), real_.data());
  std::copy(saved.begin(), saved.end(), loads.begin());
  now_.resize(size_t(B_) * T_ * size_t(W));
  m.last_routes(now_);
  for (int b = 0; b < B_; ++b)  // padding rows are not compared
    for (int t = int(seqs_[size_t(b)].size()); t < T_; ++t)
      std::fill_n(now_.begin() + (long(b) * T_ + t) * W, W, int16_t(-1));
  RouteCounts c;
  if (!last_.empty()) c = compare_routes(last_, now_, W, K);
  std::swap(last_, now_);
  return c;
}

}  // namespace reasonrl::train

// sampling.cpp: the samplers of the chain and the chain itself.
#include "policy/sampling.h"

#include <algorithm>
#include <cmath>

#include "rl/util/error.h"

namespace reasonrl::policy {

void SamplingParams::validate() const {
  if (!(temperature >= 0.0f) || !std::isfinite(temperature))
    throw ConfigError("temperature must be >= 0 (0 = greedy), got " + std::to_string(temperature));
  if (top_k < 0) throw ConfigError("top_k must be >= 0 (0 = off), got " + std::to_string(top_k));
  if (!(top_p > 0.0f && top_p <= 1.0f)) throw ConfigError("top_p must be in (0, 1], got " + std::to_string(top_p));
  if (!(min_p >= 0.0f && min_p <= 1.0f)) throw ConfigError("min_p must be in [0, 1], got " + std::to_string(min_p));
}

namespace {

// (logit desc, id asc): a strict total order, so every partial sort gives the same prefix.
inline bool before(const TokenData& a, const TokenData& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// The largest logit among the current candidates.
double max_logit(const Candidates& cur) {
  if (cur.sorted_prefix > 0) return cur.data[0].logit;
  double m = -INFINITY;
  for (const auto& t : cur.data) m = std::max(m, double(t.logit));
  return m;
}

// max logit and sum_j exp(l_j - max) over the current candidates, in double.
void softmax_stats(const Candidates& cur, double* max_out, double* z_out) {
  const double m = max_logit(cur);
  double z = 0.0;
  for (const auto& t : cur.data) z += std::exp(double(t.logit) - m);
  *max_out = m;
  *z_out = z;
}

class TemperatureSampler : public Sampler {
 public:
  explicit TemperatureSampler(float t) : t_(t) {
    if (!(t > 0.0f)) throw ConfigError("temperature sampler needs t > 0, got " + std::to_string(t));
  }
  const char* name() const override { return "temperature"; }
  void apply(Candidates& cur, Rng&) override {
    for (auto& d : cur.data) d.logit = d.logit / t_;  // positive scale: order (and sorted_prefix) unchanged
  }
  std::unique_ptr<Sampler> clone() const override { return std::make_unique<TemperatureSampler>(*this); }

 private:
  float t_;
};

class TopKSampler : public Sampler {
 public:
  explicit TopKSampler(int k) : k_(k) {
    if (k <= 0) throw ConfigError("top-k sampler needs k > 0, got " + std::to_string(k));
  }
  const char* name() const override { return "top_k"; }
  void apply(Candidates& cur, Rng&) override {
    if (size_t(k_) >= cur.data.size()) return;
    cur.sort_prefix(size_t(k_));
    cur.data.resize(size_t(k_));
    cur.sorted_prefix = cur.data.size();
  }
  std::unique_ptr<Sampler> clone() const override { return std::make_unique<TopKSampler>(*this); }

 private:
  int k_;
};

class TopPSampler : public Sampler {
 public:
  explicit TopPSampler(float p) : p_(p) {
    if (!(p > 0.0f && p <= 1.0f)) throw ConfigError("top-p sampler needs p in (0, 1], got " + std::to_string(p));
  }
  const char* name() const override { return "top_p"; }
  void apply(Candidates& cur, Rng&) override {
    if (p_ >= 1.0f || cur.data.empty()) return;
    double m, z;
    softmax_stats(cur, &m, &z);
    const double target = double(p_) * z;  // compare unnormalised cumulative mass against p * Z
    double cum = 0.0;
    size_t keep = cur.data.size();
    size_t chunk = 64;
    for (size_t i = 0; i < cur.data.size(); ++i) {
      if (i >= cur.sorted_prefix) {
        chunk *= 4;
        cur.sort_prefix(i + chunk);
      }
      cum += std::exp(double(cur.data[i].logit) - m);
      if (cum >= target) {
        keep = i + 1;
        break;
      }
    }
    if (keep < cur.data.size()) {
      cur.sort_prefix(keep);
      cur.data.resize(keep);
      cur.sorted_prefix = keep;
    }
  }
  std::unique_ptr<Sampler> clone() const override { return std::make_unique<TopPSampler>(*this); }

 private:
  float p_;
};

class MinPSampler : public Sampler {
 public:
  explicit MinPSampler(float p) : p_(p) {
    if (!(p >= 0.0f && p <= 1.0f)) throw ConfigError("min-p sampler needs p in [0, 1], got " + std::to_string(p));
  }
  const char* name() const override { return "min_p"; }
  void apply(Candidates& cur, Rng&) override {
    if (p_ <= 0.0f || cur.data.empty()) return;
    double m, z;
    softmax_stats(cur, &m, &z);
    const double thr = double(p_);
    // p_j / p_max = exp(l_j - max) >= min_p. Stable filtering keeps the sorted prefix's order.
    size_t w = 0, new_prefix = 0;
    for (size_t i = 0; i < cur.data.size(); ++i) {
      if (std::exp(double(cur.data[i].logit) - m) >= thr) {
        if (i < cur.sorted_prefix) ++new_prefix;
        cur.data[w++] = cur.data[i];
      }
    }
    cur.data.resize(w);
    cur.sorted_prefix = std::min(new_prefix, w);
  }
  std::unique_ptr<Sampler> clone() const override { return std::make_unique<MinPSampler>(*this); }

 private:
  float p_;
};

class GreedySampler : public Sampler {
 public:
  const char* name() const override { return "greedy"; }
  void apply(Candidates& cur, Rng&) override {
    if (cur.data.empty()) throw Error("greedy sampler: no candidates");
    cur.sort_prefix(1);
    cur.selected = 0;
    cur.logp = 0.0;  // a point mass
    for (auto& d : cur.data) d.p = 0.0;
    cur.data[0].p = 1.0;
  }
  std::unique_ptr<Sampler> clone() const override { return std::make_unique<GreedySampler>(*this); }
};

class DistSampler : public Sampler {
 public:
  const char* name() const override { return "dist"; }
  void apply(Candidates& cur, Rng& rng) override {
    if (cur.data.empty()) throw Error("dist sampler: no candidates");
    // The same sum softmax_stats forms (same terms, same order), each exp computed once.
    const double m = max_logit(cur);
    double z = 0.0;
    for (auto& d : cur.data) z += (d.p = std::exp(double(d.logit) - m));
    const double u = rng.uniform() * z;
    double cum = 0.0;
    int sel = int(cur.data.size()) - 1;
    for (size_t i = 0; i < cur.data.size(); ++i) {
      cum += cur.data[i].p;
      if (u < cum) {
        sel = int(i);
        break;
      }
    }
    // Never land on a zero-probability candidate through rounding at the end.
    while (sel > 0 && cur.data[sel].p == 0.0) --sel;
    cur.selected = sel;
    cur.logp = (double(cur.data[sel].logit) - m) - std::log(z);
    for (auto& d : cur.data) d.p /= z;
  }
  std::unique_ptr<Sampler> clone() const override { return std::make_unique<DistSampler>(*this); }
};

}  // namespace

void Candidates::init(const float* logits, int vocab) {
  data.resize(size_t(vocab));
  for (int i = 0; i < vocab; ++i) data[size_t(i)] = TokenData{i, logits[i], 0.0};
  sorted_prefix = 0;
  selected = -1;
  logp = 0.0;
}

void Candidates::sort_prefix(size_t k) {
  k = std::min(k, data.size());
  if (k <= sorted_prefix) return;
  // Elements after sorted_prefix are all "after" the prefix, so sorting the rest's top extends it.
  if (k == data.size()) {
    std::sort(data.begin() + long(sorted_prefix), data.end(), before);
  } else {
    std::partial_sort(data.begin() + long(sorted_prefix), data.begin() + long(k), data.end(), before);
  }
  sorted_prefix = (k + 1 == data.size()) ? data.size() : k;  // the last one left is in place too
}

std::unique_ptr<Sampler> make_temperature(float t) { return std::make_unique<TemperatureSampler>(t); }
std::unique_ptr<Sampler> make_top_k(int k) { return std::make_unique<TopKSampler>(k); }
std::unique_ptr<Sampler> make_top_p(float p) { return std::make_unique<TopPSampler>(p); }
std::unique_ptr<Sampler> make_min_p(float p) { return std::make_unique<MinPSampler>(p); }
std::unique_ptr<Sampler> make_greedy() { return std::make_unique<GreedySampler>(); }
std::unique_ptr<Sampler> make_dist() { return std::make_unique<DistSampler>(); }

SamplerChain::SamplerChain(const SamplerChain& o) {
  for (const auto& s : o.chain_) chain_.push_back(s->clone());
}
SamplerChain& SamplerChain::operator=(const SamplerChain& o) {
  if (this != &o) {
    chain_.clear();
    for (const auto& s : o.chain_) chain_.push_back(s->clone());
  }
  return *this;
}
void SamplerChain::add(std::unique_ptr<Sampler> s) { chain_.push_back(std::move(s)); }
std::unique_ptr<Sampler> SamplerChain::remove(size_t i) {
  auto s = std::move(chain_.at(i));
  chain_.erase(chain_.begin() + long(i));
  return s;
}
std::string SamplerChain::describe() const {
  std::string s;
  for (const auto& x : chain_) s += (s.empty() ? "" : " -> ") + std::string(x->name());
  return s;
}
void SamplerChain::apply(Candidates& cur, Rng& rng) {
  for (auto& s : chain_) s->apply(cur, rng);
}
void SamplerChain::accept(int32_t token) {
  for (auto& s : chain_) s->accept(token);
}
void SamplerChain::reset() {
  for (auto& s : chain_) s->reset();
}
std::unique_ptr<Sampler> SamplerChain::clone() const { return std::make_unique<SamplerChain>(*this); }

SamplerChain make_sampler_chain(const SamplingParams& p) {
  p.validate();
  SamplerChain c;
  if (p.greedy()) {
    c.add(make_greedy());
    return c;
  }
  if (p.temperature != 1.0f) c.add(make_temperature(p.temperature));
  if (p.top_k > 0) c.add(make_top_k(p.top_k));
  if (p.top_p < 1.0f) c.add(make_top_p(p.top_p));
  if (p.min_p > 0.0f) c.add(make_min_p(p.min_p));
  c.add(make_dist());
  return c;
}

int32_t sample_token(SamplerChain& chain, Candidates& scratch, const float* logits, int vocab, Rng& rng,
                     double* logp) {
  scratch.init(logits, vocab);
  chain.apply(scratch, rng);
  if (scratch.selected < 0) throw Error("sampler chain '" + chain.describe() + "' selected no token (end it with dist or greedy)");
  if (logp) *logp = scratch.logp;
  const int32_t tok = scratch.selected_token();
  chain.accept(tok);
  return tok;
}

}  // namespace reasonrl::policy

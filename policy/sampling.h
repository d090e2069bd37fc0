// sampling.h: token sampling as a chain of small composable samplers (llama.cpp style): temperature, top-k, top-p,
// min-p, greedy and dist; every chain records the log-prob of the token it picks under the distribution it drew from.
//
// Usage (what make_sampler_chain builds from SamplingParams; the order is the one the trainer's log-prob head assumes):
//   SamplerChain chain;
//   chain.add(make_temperature(0.7f));   // logits /= T
//   chain.add(make_top_k(50));           // keep the 50 largest
//   chain.add(make_top_p(0.9f));         // keep the smallest prefix whose renormalised mass reaches 0.9
//   chain.add(make_min_p(0.05f));        // keep p >= 0.05 * p_max
//   chain.add(make_dist());              // draw from the kept set, renormalised; a chain should end with dist or greedy
//   Candidates cur;  cur.init(logits, V);  chain.apply(cur, rng);
//   int32_t tok = cur.data[cur.selected].id;  double logp = cur.logp;
//
// Order and ties: candidates are ordered by (logit descending, token id ascending); every truncation keeps a prefix of
// that order, so the kept set is a deterministic function of the logits. Probabilities are computed in double.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rl/util/config.h"
#include "rl/util/rng.h"

namespace reasonrl::policy {

// The sampling distribution: temperature, then truncation by top-k, top-p and min-p, the kept set renormalised.
struct SamplingParams {
  float temperature = 1.0f;  // 0 = greedy (argmax; the recorded log-prob is 0)
  int top_k = 0;             // keep the k largest logits; 0 = off
  float top_p = 1.0f;        // nucleus mass in (0, 1]; 1 = off
  float min_p = 0.0f;        // keep tokens with p >= min_p * p_max, in [0, 1]; 0 = off

  template <class V>
  void visit(V& v) {
    v("temperature", temperature, "sampling temperature; 0 = greedy");
    v("top_k", top_k, "keep only the k most likely tokens; 0 = off");
    v("top_p", top_p, "nucleus sampling: keep the smallest set with this much mass; 1 = off");
    v("min_p", min_p, "keep tokens with p >= min_p * p_max; 0 = off");
  }
  void validate() const;
  bool greedy() const { return temperature <= 0.0f; }
  // Draws from the whole temperature-scaled softmax over `vocab` tokens (not greedy, nothing truncated).
  bool untruncated(int vocab) const {
    return !greedy() && (top_k <= 0 || top_k >= vocab) && top_p >= 1.0f && min_p <= 0.0f;
  }
};

struct TokenData {
  int32_t id;
  float logit;  // after temperature, once the temperature sampler ran
  double p;     // probability, filled by samplers that need it (not kept normalised between samplers)
};

// The candidate set a chain works on (llama_token_data_array).
struct Candidates {
  std::vector<TokenData> data;
  size_t sorted_prefix = 0;  // data[0, sorted_prefix) are the largest, in (logit desc, id asc) order
  int selected = -1;         // index into data, set by the final sampler (dist or greedy)
  double logp = 0.0;         // log-prob of data[selected] under the distribution the final sampler drew from

  void init(const float* logits, int vocab);
  bool sorted() const { return sorted_prefix == data.size(); }
  // Makes sure the first min(k, size) elements are the largest, in order (partial sort, extended lazily).
  void sort_prefix(size_t k);
  int32_t selected_token() const { return data[selected].id; }
};

// One step of a chain. apply() transforms the candidates (and may select a token); accept() tells stateful samplers
// which token was chosen; clone() copies the sampler with its state.
class Sampler {
 public:
  virtual ~Sampler() = default;
  virtual const char* name() const = 0;
  virtual void apply(Candidates& cur, Rng& rng) = 0;
  virtual void accept(int32_t /*token*/) {}
  virtual void reset() {}
  virtual std::unique_ptr<Sampler> clone() const = 0;
};

std::unique_ptr<Sampler> make_temperature(float t);  // t > 0
std::unique_ptr<Sampler> make_top_k(int k);          // k > 0
std::unique_ptr<Sampler> make_top_p(float p);        // p in (0, 1]
std::unique_ptr<Sampler> make_min_p(float p);        // p in [0, 1]
std::unique_ptr<Sampler> make_greedy();              // selects the argmax; logp = 0
std::unique_ptr<Sampler> make_dist();                // draws from softmax over the current candidates

// A chain is itself a sampler; it owns the samplers added to it.
class SamplerChain : public Sampler {
 public:
  SamplerChain() = default;
  SamplerChain(const SamplerChain& o);
  SamplerChain& operator=(const SamplerChain& o);
  SamplerChain(SamplerChain&&) = default;
  SamplerChain& operator=(SamplerChain&&) = default;

  void add(std::unique_ptr<Sampler> s);  // takes ownership
  size_t size() const { return chain_.size(); }
  Sampler& get(size_t i) { return *chain_.at(i); }
  std::unique_ptr<Sampler> remove(size_t i);  // gives ownership back
  std::string describe() const;               // "temperature -> top_p -> dist"

  const char* name() const override { return "chain"; }
  void apply(Candidates& cur, Rng& rng) override;
  void accept(int32_t token) override;
  void reset() override;
  std::unique_ptr<Sampler> clone() const override;

 private:
  std::vector<std::unique_ptr<Sampler>> chain_;
};

// temperature -> top_k -> top_p -> min_p -> dist (samplers that are off are left out), or greedy when temperature == 0.
SamplerChain make_sampler_chain(const SamplingParams& p);

// Convenience: run `chain` on one logits row; returns the token and writes its log-prob. `scratch` is reused storage.
int32_t sample_token(SamplerChain& chain, Candidates& scratch, const float* logits, int vocab, Rng& rng,
                     double* logp = nullptr);

}  // namespace reasonrl::policy

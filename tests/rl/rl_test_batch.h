// rl_test_batch.h: a random ragged token batch for the loss tests, sliceable into micro-batches by sequence.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "rl/core/loss_aggregation.h"
#include "rl/util/rng.h"

namespace reasonrl::rl::testing {

struct Batch {
  std::vector<float> logp, old_logp, ref_logp, rollout_logp, mask;
  std::vector<float> seq_adv;
  std::vector<int64_t> offsets{0};

  int64_t n_seq() const { return static_cast<int64_t>(offsets.size()) - 1; }
  int64_t n_tok() const { return offsets.back(); }

  TokenInputs inputs(bool with_ref = true, bool with_rollout = true) const {
    TokenInputs in;
    in.logp = logp;
    in.old_logp = old_logp;
    if (with_ref) in.ref_logp = ref_logp;
    if (with_rollout) in.rollout_logp = rollout_logp;
    in.seq_advantages = seq_adv;
    in.mask = mask;
    in.seq_offsets = offsets;
    return in;
  }
  // Sequences [s0, s1) as their own batch.
  Batch slice(int64_t s0, int64_t s1) const {
    Batch b;
    const int64_t t0 = offsets[s0], t1 = offsets[s1];
    auto cut = [&](const std::vector<float>& v) { return std::vector<float>(v.begin() + t0, v.begin() + t1); };
    b.logp = cut(logp);
    b.old_logp = cut(old_logp);
    b.ref_logp = cut(ref_logp);
    b.rollout_logp = cut(rollout_logp);
    b.mask = cut(mask);
    b.seq_adv.assign(seq_adv.begin() + s0, seq_adv.begin() + s1);
    for (int64_t s = s0; s < s1; ++s) b.offsets.push_back(offsets[s + 1] - t0);
    return b;
  }
  void add_sequence(const std::vector<float>& lp, const std::vector<float>& old, const std::vector<float>& ref,
                    const std::vector<float>& roll, const std::vector<float>& m, float adv) {
    logp.insert(logp.end(), lp.begin(), lp.end());
    old_logp.insert(old_logp.end(), old.begin(), old.end());
    ref_logp.insert(ref_logp.end(), ref.begin(), ref.end());
    rollout_logp.insert(rollout_logp.end(), roll.begin(), roll.end());
    mask.insert(mask.end(), m.begin(), m.end());
    seq_adv.push_back(adv);
    offsets.push_back(offsets.back() + static_cast<int64_t>(lp.size()));
  }
};

// S sequences of random length in [1, max_len], a masked prefix ("prompt") on some, log-ratios to old, ref and
// rollout of size ~spread, advantages ~N(0,1). With spread large enough, ratios land in every clip region.
inline Batch random_batch(Rng& rng, int S, int max_len, double spread) {
  Batch b;
  for (int s = 0; s < S; ++s) {
    const int n = 1 + static_cast<int>(rng.below(max_len));
    const int masked_prefix = (s % 3 == 1 && n > 1) ? 1 + static_cast<int>(rng.below(n - 1)) : 0;
    std::vector<float> lp(n), old(n), ref(n), roll(n), m(n);
    for (int t = 0; t < n; ++t) {
      const double base = -0.1 - 3.0 * rng.uniform();
      lp[t] = static_cast<float>(base);
      old[t] = static_cast<float>(base + spread * rng.normal());
      ref[t] = static_cast<float>(base + spread * rng.normal());
      roll[t] = static_cast<float>(old[t] + 0.5 * spread * rng.normal());
      m[t] = t < masked_prefix ? 0.0f : 1.0f;
    }
    b.add_sequence(lp, old, ref, roll, m, static_cast<float>(rng.normal()));
  }
  return b;
}

}  // namespace reasonrl::rl::testing

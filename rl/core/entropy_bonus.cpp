// entropy_bonus.cpp: the entropy bonus term and its gradient w.r.t. the token entropies.
#include "rl/core/entropy_bonus.h"

#include <cmath>
#include <string>

#include "rl/util/error.h"

namespace reasonrl::rl {

double entropy_bonus(const RlConfig& cfg, std::span<const float> entropy, std::span<const float> mask,
                     std::span<const int64_t> off, const LossNormalizer& norm, std::span<float> dentropy) {
  const size_t T = mask.size();
  if (entropy.size() != T || dentropy.size() != T)
    throw FormatError("entropy_bonus: entropy has " + std::to_string(entropy.size()) + " entries, dentropy " +
                      std::to_string(dentropy.size()) + ", mask " + std::to_string(T));
  if (off.empty() || off.front() != 0 || static_cast<size_t>(off.back()) != T)
    throw FormatError("entropy_bonus: seq_offsets must run from 0 to the " + std::to_string(T) + " tokens");
  double loss = 0;
  for (size_t s = 0; s + 1 < off.size(); ++s) {
    if (off[s] > off[s + 1]) throw FormatError("entropy_bonus: seq_offsets decrease at sequence " + std::to_string(s));
    double n_s = 0;
    for (int64_t t = off[s]; t < off[s + 1]; ++t) n_s += mask[t] != 0 ? 1.0 : 0.0;
    const double g = -cfg.entropy_coeff * norm.token_weight(n_s);
    for (int64_t t = off[s]; t < off[s + 1]; ++t) {
      if (mask[t] == 0 || cfg.entropy_coeff == 0) {
        dentropy[t] = 0.0f;
        continue;
      }
      if (!std::isfinite(entropy[t])) throw NumericError("entropy_bonus: the entropy is not finite at token " + std::to_string(t));
      loss += g * entropy[t];
      dentropy[t] = static_cast<float>(g);
    }
  }
  return loss;
}

}  // namespace reasonrl::rl

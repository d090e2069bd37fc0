// loss_aggregation.cpp: token/sequence counts of a step, the normaliser of each loss_type, shape checks.
#include "rl/core/loss_aggregation.h"

#include <algorithm>
#include <string>

#include "rl/util/error.h"

namespace reasonrl::rl {

BatchCounts count_tokens(std::span<const float> mask, std::span<const int64_t> off) {
  if (off.empty() || off.front() != 0 || static_cast<size_t>(off.back()) != mask.size())
    throw FormatError("count_tokens: seq_offsets must run from 0 to the " + std::to_string(mask.size()) + " mask entries");
  BatchCounts c;
  for (size_t s = 0; s + 1 < off.size(); ++s) {
    if (off[s] > off[s + 1]) throw FormatError("count_tokens: seq_offsets decrease at sequence " + std::to_string(s));
    double n = 0;
    for (int64_t t = off[s]; t < off[s + 1]; ++t) n += mask[t] != 0 ? 1.0 : 0.0;
    c.tokens += n;
    c.sequences += n > 0 ? 1.0 : 0.0;
  }
  return c;
}

double LossNormalizer::token_weight(double n_s) const {
  if (n_s <= 0) return 0.0;
  switch (type) {
    case LossType::TokenMean: return tokens > 0 ? 1.0 / tokens : 0.0;
    case LossType::SeqMeanTokenMean: return sequences > 0 ? 1.0 / (sequences * n_s) : 0.0;
    case LossType::SeqMeanTokenSum: return sequences > 0 ? 1.0 / sequences : 0.0;
    case LossType::DrGrpo: return sequences > 0 ? 1.0 / (sequences * max_len) : 0.0;
  }
  return 0.0;
}

LossNormalizer make_loss_normalizer(const RlConfig& cfg, const BatchCounts& c) {
  if (c.tokens < 0 || c.sequences < 0) throw FormatError("make_loss_normalizer: negative token or sequence count");
  if (c.sequences > c.tokens) throw FormatError("make_loss_normalizer: more sequences (" + std::to_string(c.sequences) +
                                                ") than unmasked tokens (" + std::to_string(c.tokens) + ")");
  LossNormalizer n;
  n.type = cfg.loss_type;
  n.tokens = c.tokens;
  n.sequences = c.sequences;
  n.max_len = static_cast<double>(cfg.max_completion_length);
  return n;
}

double balance_loss_scale(double micro_sequences, double step_sequences) {
  if (!(step_sequences > 0) || !(micro_sequences >= 0) || micro_sequences > step_sequences)
    throw FormatError("balance_loss_scale: micro-batch sequences " + std::to_string(micro_sequences) +
                      " must be in [0, step sequences " + std::to_string(step_sequences) + "] with the latter > 0");
  return micro_sequences / step_sequences;
}

LossStats& LossStats::operator+=(const LossStats& o) {
  tokens += o.tokens;
  sequences += o.sequences;
  clip_low += o.clip_low;
  clip_high += o.clip_high;
  dual_clip += o.dual_clip;
  ratio_sum += o.ratio_sum;
  ratio_max = std::max(ratio_max, o.ratio_max);
  approx_kl_old_sum += o.approx_kl_old_sum;
  kl_ref_sum += o.kl_ref_sum;
  tis_weight_sum += o.tis_weight_sum;
  tis_truncated += o.tis_truncated;
  pg_loss_sum += o.pg_loss_sum;
  kl_loss_sum += o.kl_loss_sum;
  return *this;
}

int64_t check_token_inputs(const RlConfig& cfg, const TokenInputs& in, const char* who) {
  const std::string w(who);
  const size_t T = in.logp.size();
  auto need = [&](std::span<const float> a, const char* name) {
    if (a.size() != T)
      throw FormatError(w + ": " + name + " has " + std::to_string(a.size()) + " entries but logp has " + std::to_string(T));
  };
  need(in.old_logp, "old_logp");
  need(in.mask, "mask");
  if (in.seq_offsets.empty() || in.seq_offsets.front() != 0 || static_cast<size_t>(in.seq_offsets.back()) != T)
    throw FormatError(w + ": seq_offsets must run from 0 to T = " + std::to_string(T));
  const int64_t S = static_cast<int64_t>(in.seq_offsets.size()) - 1;
  for (int64_t s = 0; s < S; ++s)
    if (in.seq_offsets[s] > in.seq_offsets[s + 1]) throw FormatError(w + ": seq_offsets decrease at sequence " + std::to_string(s));
  if (in.advantages.empty() == in.seq_advantages.empty())
    throw FormatError(w + ": give exactly one of advantages (per token) and seq_advantages (per sequence)");
  if (!in.advantages.empty()) need(in.advantages, "advantages");
  if (!in.seq_advantages.empty() && static_cast<int64_t>(in.seq_advantages.size()) != S)
    throw FormatError(w + ": seq_advantages has " + std::to_string(in.seq_advantages.size()) + " entries but there are " +
                      std::to_string(S) + " sequences");
  if (cfg.beta > 0 && cfg.kl_mode == KlMode::Loss) {
    if (in.ref_logp.empty()) throw FormatError(w + ": beta > 0 with kl_mode loss needs ref_logp");
    need(in.ref_logp, "ref_logp");
  }
  if (cfg.tis_cap > 0) {
    if (in.rollout_logp.empty()) throw FormatError(w + ": tis_cap > 0 needs rollout_logp");
    need(in.rollout_logp, "rollout_logp");
  }
  for (size_t t = 0; t < T; ++t)
    if (in.mask[t] != 0 && in.mask[t] != 1)
      throw FormatError(w + ": mask[" + std::to_string(t) + "] = " + std::to_string(in.mask[t]) + " (must be 0 or 1)");
  return S;
}

}  // namespace reasonrl::rl

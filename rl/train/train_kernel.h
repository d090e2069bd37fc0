// train_kernel.h: owns the choice of how the trainers (RL log-prob passes and update, SFT, DPO) run the model over a
// batch of sequences: padded with (B, T, V) logits (today's path), padded with the fused head on the counted positions
// only, or packed without padding (cu_seqlens) with the fused head (issue 20 §2-3); and the `auto` rule.
#pragma once
#include <string>

#include "policy/sampling.h"
#include "rl/util/config.h"

namespace reasonrl::train {

// full:   padded (B, T) batch, logits (B, T, V) for every position, log-softmax over all of them (the original path).
// fused:  padded (B, T) batch, no logits: only the positions whose loss counts reach the output head, through the
//         fused chunked head + log-softmax (model/fused_head.h), never materialising (N, V).
// packed: the sequences concatenated without padding (FlashAttention varlen / verl use_remove_padding: attention
//         never crosses a boundary, RoPE positions restart per sequence), then the fused head as in `fused`.
// auto:   packed when the vocabulary has >= kPackedMinVocab entries or the longest sequence of the batch has
//         >= model::kTiledAttentionMinT (512) tokens, full otherwise. So every run whose rows are < 512 tokens with a
//         small vocabulary (the demo: 320 entries, rows < 200 tokens; the tests) keeps the full path bit for bit.
//         Sampling that truncates the distribution (top_k, top_p, min_p) or is greedy always takes full under auto:
//         the fused head computes the untruncated (temperature-scaled) softmax only.
enum class TrainKernel { Auto, Full, Fused, Packed };
REASONRL_ENUM_NAMES(TrainKernel, {TrainKernel::Auto, "auto"}, {TrainKernel::Full, "full"}, {TrainKernel::Fused, "fused"},
                    {TrainKernel::Packed, "packed"})
inline constexpr int kPackedMinVocab = 32768;

// The kernel `k` stands for on a batch whose longest sequence has `longest` tokens (never Auto). `sp` are the log-prob
// distribution's sampling params; a forced fused/packed with truncated or greedy sampling is a ConfigError naming `key`.
TrainKernel resolve_train_kernel(TrainKernel k, int vocab, int longest, const policy::SamplingParams& sp,
                                 const std::string& key = "train_kernel");
// Whether the fused head gives sampling_logprob's numbers for `sp` (untruncated, temperature > 0).
bool fused_head_exact(const policy::SamplingParams& sp, int vocab);

}  // namespace reasonrl::train

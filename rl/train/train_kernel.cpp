// train_kernel.cpp: the `auto` rule and the checks of a forced kernel.
#include "rl/train/train_kernel.h"

#include "model/model.h"
#include "rl/util/error.h"

namespace reasonrl::train {

bool fused_head_exact(const policy::SamplingParams& sp, int vocab) { return sp.untruncated(vocab); }

TrainKernel resolve_train_kernel(TrainKernel k, int vocab, int longest, const policy::SamplingParams& sp,
                                 const std::string& key) {
  const bool exact = fused_head_exact(sp, vocab);
  if (k == TrainKernel::Auto) {
    if (!exact) return TrainKernel::Full;
    return vocab >= kPackedMinVocab || longest >= model::kTiledAttentionMinT ? TrainKernel::Packed : TrainKernel::Full;
  }
  if (k != TrainKernel::Full && !exact)
    throw ConfigError(key + " " + enum_to_string(k) +
                      " computes the untruncated softmax (temperature only), but the log-probs are taken under " +
                      (sp.greedy() ? std::string("greedy sampling") : std::string("truncated sampling (top_k, top_p or min_p)")) +
                      ". HINT: use " + key + " full or auto");
  return k;
}

}  // namespace reasonrl::train

// decoder.cpp: the Decoder interface's defaults for what a decoder may lack: load_slot (restoring a saved cache slot)
// and the fused sampling head.
#include "policy/decoder.h"

#include "rl/util/error.h"

namespace reasonrl::policy {

void Decoder::load_slot(int, const std::vector<float>&) {
  throw Error("this decoder cannot restore a saved cache slot (partial_rollout_kv = reuse needs one that can)");
}

void Decoder::decode_step_sample(const int*, const int32_t*, int, float, const double*, int32_t*, double*) {
  throw Error("this decoder has no fused sampling head (sample_kernel fused needs one; use reference or auto)");
}

int32_t Decoder::sample_logits(const float*, float, double, double*) const {
  throw Error("this decoder has no fused sampling head (sample_kernel fused needs one; use reference or auto)");
}

}  // namespace reasonrl::policy

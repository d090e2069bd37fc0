// decoder.cpp: the Decoder interface's default load_slot (a decoder that cannot restore a saved cache slot).
#include "policy/decoder.h"

#include "rl/util/error.h"

namespace reasonrl::policy {

void Decoder::load_slot(int, const std::vector<float>&) {
  throw Error("this decoder cannot restore a saved cache slot (partial_rollout_kv = reuse needs one that can)");
}

}  // namespace reasonrl::policy

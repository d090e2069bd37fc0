// trajectory.h: one sampled response (tokens, per-token log-prob and policy version, segments, finish reason), the
// unit the rollout engine produces, the replay buffer stores and the trainer consumes.
#pragma once

#include <cstdint>
#include <vector>

#include "rl/util/config.h"
#include "rl/util/rng.h"

namespace reasonrl::policy {

enum class FinishReason { Stop, Length, Repeat, Partial };
REASONRL_ENUM_NAMES(FinishReason, {FinishReason::Stop, "stop"}, {FinishReason::Length, "length"},
                    {FinishReason::Repeat, "repeat"}, {FinishReason::Partial, "partial"})

// Response tokens [begin, end) generated in one rollout call by policy `version`.
struct Segment {
  int begin = 0, end = 0;
  int version = 0;
};

struct Trajectory {
  int64_t prompt_id = 0;
  int group_index = 0;               // 0 .. G-1 within the prompt's group
  std::vector<int32_t> prompt;       // prompt token ids
  std::vector<int32_t> tokens;       // response token ids (a stop token, if any, is the last one)
  std::vector<float> logp;           // log-prob of each token under the sampling distribution that drew it
  std::vector<int32_t> versions;     // policy version that generated each token
  std::vector<uint8_t> loss_mask;    // 1 = token enters the loss (set when the trajectory is handed out; see LossSegments)
  std::vector<Segment> segments;     // one per rollout call that extended it
  FinishReason finish = FinishReason::Partial;
  bool finished = false;             // stop / length / repeat; false = still to be continued
  int restarts = 0;                  // times it was restarted for being older than max_staleness
  int start_version = -1;            // version of its first token; -1 = not started
  int repeat_period = 0;             // n-gram period if finish == Repeat
  Rng rng;                           // this row's sampling stream (continues across calls)
  std::vector<float> kv;             // partial_rollout_kv = reuse: the decoder state of prompt + tokens[0, n-1)
                                     // saved when it was cut (empty otherwise; see Decoder::save_slot)
  int route_width = 0;               // router replay: expert ids per token (0 = the decoder recorded none)
  std::vector<int16_t> routes;       // (tokens, route_width): the routed experts of the row that sampled each token
                                     // (model.h's route); a row of -1 = not recorded (an older segment without them)

  int length() const { return int(tokens.size()); }
  // current_version - start_version (0 if not started).
  int staleness(int current_version) const { return start_version < 0 ? 0 : current_version - start_version; }
  // Drops the response (keeps prompt, ids and rng).
  void clear_response();
};

json trajectory_to_json(const Trajectory& t);
Trajectory trajectory_from_json(const json& j);  // FormatError on a malformed object

}  // namespace reasonrl::policy

// replay_buffer.h: the partial-rollout replay buffer: groups of G trajectories for one prompt that are not complete
// yet (some members cut by the budget, to be continued next iteration). Saved as JSON with the checkpoint.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "policy/trajectory.h"

namespace reasonrl::policy {

struct RolloutGroup {
  int64_t prompt_id = 0;
  std::vector<int32_t> prompt;
  int created_version = 0;            // policy version of the call that created the group
  std::vector<Trajectory> members;    // G trajectories, group_index == position
  bool complete() const;              // every member finished
  int num_unfinished() const;
};

class ReplayBuffer {
 public:
  // 2: trajectories may carry a saved cache ("kv"); 3: and their routes ("route_width", "routes"). 1 and 2 are read.
  static constexpr int kFormatVersion = 3;

  std::vector<RolloutGroup>& groups() { return groups_; }
  const std::vector<RolloutGroup>& groups() const { return groups_; }
  size_t num_groups() const { return groups_.size(); }
  size_t num_unfinished() const;   // trajectories still to be continued
  int64_t num_buffered_tokens() const;
  bool empty() const { return groups_.empty(); }
  void clear() { groups_.clear(); }

  // {"format": "reasonrl.replay_buffer", "version": 3, "groups": [...]}
  json to_json() const;
  void from_json(const json& j);  // FormatError naming the problem
  void save(const std::string& path) const;
  void load(const std::string& path);

 private:
  std::vector<RolloutGroup> groups_;
};

}  // namespace reasonrl::policy

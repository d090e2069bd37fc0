// replay_buffer.cpp: the partial-rollout replay buffer and its versioned JSON form.
#include "policy/replay_buffer.h"

#include "rl/util/error.h"

namespace reasonrl::policy {

bool RolloutGroup::complete() const { return num_unfinished() == 0; }

int RolloutGroup::num_unfinished() const {
  int n = 0;
  for (const auto& m : members) n += m.finished ? 0 : 1;
  return n;
}

size_t ReplayBuffer::num_unfinished() const {
  size_t n = 0;
  for (const auto& g : groups_) n += size_t(g.num_unfinished());
  return n;
}

int64_t ReplayBuffer::num_buffered_tokens() const {
  int64_t n = 0;
  for (const auto& g : groups_)
    for (const auto& m : g.members) n += m.length();
  return n;
}

json ReplayBuffer::to_json() const {
  json j;
  j["format"] = "reasonrl.replay_buffer";
  j["version"] = kFormatVersion;
  json gs = json::array();
  for (const auto& g : groups_) {
    json o;
    o["prompt_id"] = g.prompt_id;
    o["prompt"] = g.prompt;
    o["created_version"] = g.created_version;
    json ms = json::array();
    for (const auto& m : g.members) ms.push_back(trajectory_to_json(m));
    o["members"] = ms;
    gs.push_back(o);
  }
  j["groups"] = gs;
  return j;
}

void ReplayBuffer::from_json(const json& j) {
  if (!j.is_object() || j.value("format", "") != "reasonrl.replay_buffer")
    throw FormatError("not a replay buffer (format != \"reasonrl.replay_buffer\")");
  const int v = j.value("version", -1);
  if (v < 1 || v > kFormatVersion)
    throw FormatError("replay buffer version " + std::to_string(v) + " is not supported (expected 1 to " +
                      std::to_string(kFormatVersion) + ")");
  std::vector<RolloutGroup> gs;
  try {
    for (const auto& o : j.at("groups")) {
      RolloutGroup g;
      g.prompt_id = o.at("prompt_id").get<int64_t>();
      g.prompt = o.at("prompt").get<std::vector<int32_t>>();
      g.created_version = o.at("created_version").get<int>();
      for (const auto& m : o.at("members")) {
        g.members.push_back(trajectory_from_json(m));
        g.members.back().prompt = g.prompt;
        if (g.members.back().group_index != int(g.members.size()) - 1)
          throw FormatError("replay buffer: group of prompt " + std::to_string(g.prompt_id) + " has members out of order");
      }
      gs.push_back(std::move(g));
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw FormatError(std::string("malformed replay buffer: ") + e.what());
  }
  groups_ = std::move(gs);
}

void ReplayBuffer::save(const std::string& path) const { write_file_atomic(path, to_json().dump() + "\n"); }

void ReplayBuffer::load(const std::string& path) {
  const std::string text = read_file(path);
  json j;
  try {
    j = json::parse(text);
  } catch (const std::exception& e) {
    throw FormatError(path + ": not JSON: " + e.what());
  }
  try {
    from_json(j);
  } catch (const FormatError& e) {
    throw FormatError(path + ": " + e.what());
  }
}

}  // namespace reasonrl::policy

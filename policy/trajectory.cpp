// trajectory.cpp: Trajectory helpers and its JSON form (used by the replay buffer).
#include "policy/trajectory.h"

#include <string>

#include "rl/util/error.h"

namespace reasonrl::policy {

void Trajectory::clear_response() {
  tokens.clear();
  logp.clear();
  versions.clear();
  loss_mask.clear();
  segments.clear();
  finish = FinishReason::Partial;
  finished = false;
  start_version = -1;
  repeat_period = 0;
  kv.clear();
  routes.clear();
}

json trajectory_to_json(const Trajectory& t) {
  json j;
  j["prompt_id"] = t.prompt_id;
  j["group_index"] = t.group_index;
  j["tokens"] = t.tokens;
  j["logp"] = t.logp;
  j["versions"] = t.versions;
  json segs = json::array();
  for (const auto& s : t.segments) segs.push_back({s.begin, s.end, s.version});
  j["segments"] = segs;
  j["finish"] = enum_to_string(t.finish);
  j["finished"] = t.finished;
  j["restarts"] = t.restarts;
  j["start_version"] = t.start_version;
  j["repeat_period"] = t.repeat_period;
  j["rng"] = t.rng.to_json();
  if (!t.kv.empty()) j["kv"] = t.kv;
  if (t.route_width > 0) {
    j["route_width"] = t.route_width;
    j["routes"] = t.routes;
  }
  return j;
}

Trajectory trajectory_from_json(const json& j) {
  Trajectory t;
  try {
    t.prompt_id = j.at("prompt_id").get<int64_t>();
    t.group_index = j.at("group_index").get<int>();
    t.tokens = j.at("tokens").get<std::vector<int32_t>>();
    t.logp = j.at("logp").get<std::vector<float>>();
    t.versions = j.at("versions").get<std::vector<int32_t>>();
    for (const auto& s : j.at("segments")) t.segments.push_back({s.at(0).get<int>(), s.at(1).get<int>(), s.at(2).get<int>()});
    t.finish = enum_from_string<FinishReason>(j.at("finish").get<std::string>(), "finish");
    t.finished = j.at("finished").get<bool>();
    t.restarts = j.at("restarts").get<int>();
    t.start_version = j.at("start_version").get<int>();
    t.repeat_period = j.at("repeat_period").get<int>();
    t.rng.from_json(j.at("rng"));
    if (j.contains("kv")) t.kv = j.at("kv").get<std::vector<float>>();
    if (j.contains("route_width")) {
      t.route_width = j.at("route_width").get<int>();
      t.routes = j.at("routes").get<std::vector<int16_t>>();
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw FormatError(std::string("malformed trajectory: ") + e.what());
  }
  if (t.logp.size() != t.tokens.size() || t.versions.size() != t.tokens.size())
    throw FormatError("malformed trajectory (prompt " + std::to_string(t.prompt_id) + "): tokens, logp and versions differ in length");
  if (t.route_width < 0 || t.routes.size() != t.tokens.size() * size_t(t.route_width))
    throw FormatError("malformed trajectory (prompt " + std::to_string(t.prompt_id) + "): " +
                      std::to_string(t.routes.size()) + " route entries for " + std::to_string(t.tokens.size()) +
                      " tokens of route_width " + std::to_string(t.route_width));
  return t;
}

}  // namespace reasonrl::policy

// peer_data.h: reading third-party test cases in place from ../shared/peer-data (shared by the conformance tests).
#pragma once
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace reasonrl::rewards::peer {

inline const std::string kPeer = REASONRL_PEER_DATA;

// REASONRL_CONFORMANCE_VERBOSE=1 lists every disagreement.
inline bool verbose() { return std::getenv("REASONRL_CONFORMANCE_VERBOSE") != nullptr; }

// The non-blank lines of kPeer/name, parsed.
inline std::vector<nlohmann::ordered_json> read_jsonl(const std::string& name) {
  std::vector<nlohmann::ordered_json> rows;
  std::ifstream f(kPeer + "/" + name);
  std::string line;
  while (std::getline(f, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos) rows.push_back(nlohmann::ordered_json::parse(line));
  return rows;
}

}  // namespace reasonrl::rewards::peer

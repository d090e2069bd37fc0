// llama_peer.h: locating llama.cpp's prebuilt CPU build (node-llama-cpp, installed by scripts/install-llama-peer.sh)
// and running node on it, shared by the llama.cpp conformance test and bench_llama.
#pragma once
#include <cstdio>
#include <string>

namespace reasonrl::llama_peer {

// stdout of `cmd` (trailing newlines removed); *rc = its exit status.
inline std::string run_capture(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    *rc = -1;
    return out;
  }
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  *rc = pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// Installs the peer if needed (idempotent, offline from the npm registry) and returns its directory; on failure
// returns the script's output with *ok = false.
inline std::string install(const std::string& source_dir, bool* ok) {
  int rc = 0;
  const std::string out = run_capture("bash " + source_dir + "/scripts/install-llama-peer.sh 2>&1", &rc);
  *ok = rc == 0;
  if (!*ok) return out;
  const auto nl = out.rfind('\n');  // npm's own output precedes the directory on a first install
  return nl == std::string::npos ? out : out.substr(nl + 1);
}

}  // namespace reasonrl::llama_peer

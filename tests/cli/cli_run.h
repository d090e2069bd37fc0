// cli_run.h: run the reasonrl binary (REASONRL_BIN) as a user would, capturing exit code, stdout and stderr.
#pragma once
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace reasonrl::testing {

struct CliOut {
  int rc;
  std::string out, err;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Runs `REASONRL_BIN args`; stdout and stderr go through files in `scratch`.
inline CliOut run_reasonrl(const std::string& args, const std::filesystem::path& scratch) {
  const std::string out = (scratch / "out.txt").string(), err = (scratch / "err.txt").string();
  const int st = std::system((std::string(REASONRL_BIN) + " " + args + " >" + out + " 2>" + err).c_str());
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, slurp(out), slurp(err)};
}

}  // namespace reasonrl::testing

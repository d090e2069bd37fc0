// require.h: a test prerequisite (torch, MPI, peer data, chromium) that is missing skips the test locally, and fails
// it in CI (.ci/run runs with CI=true), where every prerequisite is installed and a skip would hide a regression.
#pragma once
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

namespace reasonrl::testing {
inline bool in_ci() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) != "" && std::string(ci) != "false" && std::string(ci) != "0";
}
}  // namespace reasonrl::testing

// Use in a TEST body, SetUp() or a void helper: returns from it after the skip or the failure.
#define REASONRL_REQUIRE_OR_SKIP(cond, msg)                                                        \
  if (!(cond)) {                                                                                   \
    if (::reasonrl::testing::in_ci()) {                                                            \
      FAIL() << "required in CI (CI is set), so this is a failure, not a skip: " << msg;           \
    } else {                                                                                       \
      std::printf("SKIPPED: %s\n", std::string(msg).c_str());                                      \
      GTEST_SKIP() << msg;                                                                         \
    }                                                                                              \
  }

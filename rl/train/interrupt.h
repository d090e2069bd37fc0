// interrupt.h: SIGINT / SIGTERM during a training run. While an InterruptScope lives, the first signal only sets a flag:
// the run loop finishes the step in flight, writes a checkpoint, closes the store and throws Interrupted (main exits
// with 128 + signal and says how to resume). A second signal exits at once (exit status 128 + signal).
#pragma once
#include <string>

namespace reasonrl::train {

class InterruptScope {
 public:
  InterruptScope();   // installs the handlers (and clears an earlier request)
  ~InterruptScope();  // restores the previous handlers
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
};

// The signal received since the scope began (SIGINT or SIGTERM), or 0. With all_ranks and several MPI ranks, the
// largest over all ranks (a collective call: every rank stops after the same step); sft and dpo run on one process.
int interrupt_signal(bool all_ranks = true);

// Throws Interrupted: "<what> stopped by SIGINT after step N; checkpoint <dir>; resume with: <resume_cmd>".
[[noreturn]] void throw_interrupted(const std::string& what, long step, const std::string& checkpoint,
                                    const std::string& resume_cmd);

}  // namespace reasonrl::train

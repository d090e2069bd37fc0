// interrupt.cpp: the SIGINT / SIGTERM flag of a training run.
#include "rl/train/interrupt.h"

#include <signal.h>
#include <unistd.h>

#include <cstring>

#include "rl/dist/dist.h"
#include "rl/util/error.h"

namespace reasonrl::train {

namespace {
volatile sig_atomic_t g_signal = 0;
struct sigaction g_old_int, g_old_term;

void say(const char* s) { [[maybe_unused]] ssize_t n = ::write(2, s, std::strlen(s)); }

extern "C" void on_signal(int sig) {
  if (g_signal != 0) {
    say("\nsecond signal: exiting now (no checkpoint written)\n");
    ::_exit(128 + sig);
  }
  g_signal = sig;
  say("\nsignal received: finishing the step in flight, then writing a checkpoint (signal again to exit now)\n");
}
}  // namespace

InterruptScope::InterruptScope() {
  g_signal = 0;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, &g_old_int);
  ::sigaction(SIGTERM, &sa, &g_old_term);
}

InterruptScope::~InterruptScope() {
  ::sigaction(SIGINT, &g_old_int, nullptr);
  ::sigaction(SIGTERM, &g_old_term, nullptr);
}

int interrupt_signal(bool all_ranks) {
  double s = double(g_signal);
  if (all_ranks && dist::dist().size > 1) dist::dist().allreduce_max(&s, 1);
  return int(s);
}

void throw_interrupted(const std::string& what, long step, const std::string& checkpoint, const std::string& resume_cmd) {
  const int sig = int(g_signal);
  throw Interrupted(what + " stopped by " + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + " after step " +
                        std::to_string(step) + "; checkpoint " + checkpoint + "; resume with: " + resume_cmd,
                    sig);
}

}  // namespace reasonrl::train

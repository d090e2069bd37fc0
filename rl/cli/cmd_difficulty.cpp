// cmd_difficulty.cpp: `reasonrl difficulty --checkpoint DIR`: Kimi k1.5 curation: k answers per training prompt, the
// pass-rate table, and the prompts left once the too-easy ones are dropped (rl/long2short/difficulty.h).
#include <cstdio>
#include <memory>

#include "rl/cli/commands.h"
#include "rl/cli/config_cli.h"
#include "rl/long2short/difficulty.h"

namespace reasonrl::cli {

void add_difficulty_command(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "difficulty", "measure per-prompt pass rates (k samples from a checkpoint) and drop the too-easy prompts");
  auto cfg = std::make_shared<ConfigCli<long2short::DifficultyConfig>>(sub);
  sub->callback([cfg] {
    const long2short::DifficultyConfig c = cfg->resolve();
    cfg->log_changes("difficulty", c);
    const auto r = long2short::run_difficulty(c);
    std::fputs(long2short::difficulty_summary(r, c.curation).c_str(), stdout);
    std::fprintf(stdout, "done in %.1f s\n", r.seconds);
  });
}

}  // namespace reasonrl::cli

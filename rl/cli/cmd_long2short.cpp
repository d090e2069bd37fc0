// cmd_long2short.cpp: `reasonrl long2short`: Kimi k1.5 long2short stages from a config (see configs/long2short_*.json).
#include <memory>

#include "rl/cli/commands.h"
#include "rl/cli/config_cli.h"
#include "rl/long2short/pipeline.h"

namespace reasonrl::cli {

void add_long2short_command(CLI::App& app) {
  auto* sub = app.add_subcommand(
      "long2short", "make a long-CoT model efficient: merge, shortest rejection sampling, DPO, length-penalty RL");
  auto cfg = std::make_shared<ConfigCli<long2short::Long2shortConfig>>(sub);
  sub->callback([cfg] {
    const long2short::Long2shortConfig c = cfg->resolve();
    cfg->log_changes("long2short", c);
    long2short::run_long2short(c);
  });
}

}  // namespace reasonrl::cli

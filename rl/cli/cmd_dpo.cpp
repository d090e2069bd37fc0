// cmd_dpo.cpp: `reasonrl dpo`: DPO on a TRL-layout preference JSONL (prompt / chosen / rejected strings).
#include <memory>

#include "rl/cli/commands.h"
#include "rl/cli/config_cli.h"
#include "rl/long2short/dpo.h"

namespace reasonrl::cli {

void add_dpo_command(CLI::App& app) {
  auto* sub = app.add_subcommand("dpo", "direct preference optimisation on a preference JSONL (TRL layout)");
  auto cfg = std::make_shared<ConfigCli<long2short::DpoConfig>>(sub);
  sub->callback([cfg] {
    const long2short::DpoConfig c = cfg->resolve();
    cfg->log_changes("dpo", c);
    long2short::run_dpo(c);
  });
}

}  // namespace reasonrl::cli

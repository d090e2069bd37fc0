// cmd_sft.cpp: `reasonrl sft`: supervised warm start from a JSON config with CLI overrides.
#include <memory>

#include "rl/cli/commands.h"
#include "rl/cli/config_cli.h"
#include "rl/train/sft.h"

namespace reasonrl::cli {

void add_sft_command(CLI::App& app) {
  auto* sub = app.add_subcommand("sft", "supervised fine-tuning (warm start): next-token loss on chains of thought");
  auto cfg = std::make_shared<ConfigCli<train::SftConfig>>(sub);
  sub->callback([cfg] {
    const train::SftConfig c = cfg->resolve();
    cfg->log_changes("sft", c);
    train::run_sft(c);
  });
}

}  // namespace reasonrl::cli

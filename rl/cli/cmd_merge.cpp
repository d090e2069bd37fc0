// cmd_merge.cpp: `reasonrl merge`: linear / task_arithmetic / ties merging of checkpoints (mergekit names).
#include <memory>

#include "rl/cli/commands.h"
#include "rl/cli/config_cli.h"
#include "rl/long2short/merge.h"

namespace reasonrl::cli {

void add_merge_command(CLI::App& app) {
  auto* sub = app.add_subcommand("merge", "merge checkpoints of the same architecture (linear, task_arithmetic, ties)");
  auto cfg = std::make_shared<ConfigCli<long2short::MergeConfig>>(sub);
  sub->callback([cfg] { long2short::merge_checkpoints(cfg->resolve()); });
}

}  // namespace reasonrl::cli

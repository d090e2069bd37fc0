// cmd_dpo.cpp: `reasonrl dpo`: DPO on a TRL-layout preference JSONL (prompt / chosen / rejected strings).
#include <memory>

#include "rl/cli/commands.h"
#include "rl/cli/config_cli.h"
#include "model/checkpoint.h"
#include "rl/long2short/dpo.h"

namespace reasonrl::cli {

void add_dpo_command(CLI::App& app) {
  auto* sub = app.add_subcommand("dpo", "direct preference optimisation on a preference JSONL (TRL layout)");
  auto cfg = std::make_shared<ConfigCli<long2short::DpoConfig>>(sub);
  auto resume = std::make_shared<bool>(false);
  auto no_verify = std::make_shared<bool>(false);
  sub->add_flag("--resume", *resume, "continue from <run_dir>/checkpoints/latest, exactly (from scratch if none yet)");
  sub->add_flag("--no-verify", *no_verify, "do not check the checkpoint files' SHA-256 when loading (faster)");
  sub->callback([cfg, resume, no_verify] {
    const long2short::DpoConfig c = cfg->resolve();
    model::set_verify_checkpoints(!*no_verify);
    long2short::run_dpo(c, *resume);
  });
}

}  // namespace reasonrl::cli

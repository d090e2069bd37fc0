// cmd_train.cpp: `reasonrl train`: the RL loop (GRPO family or Kimi k1.5) from a JSON config with CLI overrides.
#include <memory>

#include "rl/cli/commands.h"
#include "model/checkpoint.h"
#include "rl/cli/config_cli.h"
#include "rl/cli/resume_config.h"
#include "rl/train/trainer.h"

namespace reasonrl::cli {

void add_train_command(CLI::App& app) {
  auto* sub = app.add_subcommand("train", "RL training: generate, score, advantages, update (GRPO / DAPO / Dr.GRPO / Kimi k1.5)");
  auto cfg = std::make_shared<ConfigCli<train::TrainConfig>>(sub);
  auto flags = add_resume_flags(sub);
  sub->callback([cfg, flags] {
    const ResumedConfig<train::TrainConfig> r = resolve_run_config(*cfg, *flags);
    cfg->log_changes("train", r.config);
    model::set_verify_checkpoints(!flags->no_verify);
    train::run_train(r.config, flags->resume, changes_to_json(r.changes));
  });
}

}  // namespace reasonrl::cli

// cmd_train.cpp: `reasonrl train`: the RL loop (GRPO family or Kimi k1.5) from a JSON config with CLI overrides.
#include <memory>

#include "rl/cli/commands.h"
#include "rl/cli/config_cli.h"
#include "rl/cli/resume_config.h"
#include "rl/train/trainer.h"

namespace reasonrl::cli {

void add_train_command(CLI::App& app) {
  auto* sub = app.add_subcommand("train", "RL training: generate, score, advantages, update (GRPO / DAPO / Dr.GRPO / Kimi k1.5)");
  auto cfg = std::make_shared<ConfigCli<train::TrainConfig>>(sub);
  auto resume = std::make_shared<bool>(false);
  auto override_cfg = std::make_shared<bool>(false);
  sub->add_flag("--resume", *resume,
                "continue from <run_dir>/checkpoints/latest, exactly, with the run's saved config.json (keys given "
                "now must agree with it)");
  sub->add_flag("--override-resumed-config", *override_cfg,
                "with --resume: let --config / the command line change the saved config (printed, saved as a new "
                "config version, recorded in the store)");
  sub->callback([cfg, resume, override_cfg] {
    if (*override_cfg && !*resume) throw ConfigError("--override-resumed-config needs --resume");
    if (*resume) {
      // the run's saved config is the base; the file and the command line may not change it silently
      const ResumedConfig<train::TrainConfig> r = resolve_resumed_config(*cfg, *override_cfg);
      cfg->log_changes("train", r.config);
      train::run_train(r.config, true, changes_to_json(r.changes));
      return;
    }
    const train::TrainConfig c = cfg->resolve();
    cfg->log_changes("train", c);
    train::run_train(c, false);
  });
}

}  // namespace reasonrl::cli

// cmd_train.cpp: `reasonrl train`: the RL loop (GRPO family or Kimi k1.5) from a JSON config with CLI overrides.
#include <memory>

#include "rl/cli/commands.h"
#include "model/checkpoint.h"
#include "rl/cli/config_cli.h"
#include "rl/train/trainer.h"

namespace reasonrl::cli {

void add_train_command(CLI::App& app) {
  auto* sub = app.add_subcommand("train", "RL training: generate, score, advantages, update (GRPO / DAPO / Dr.GRPO / Kimi k1.5)");
  auto cfg = std::make_shared<ConfigCli<train::TrainConfig>>(sub);
  auto resume = std::make_shared<bool>(false);
  auto no_verify = std::make_shared<bool>(false);
  sub->add_flag("--resume", *resume, "continue from <run_dir>/checkpoints/latest, exactly (from scratch if none yet)");
  sub->add_flag("--no-verify", *no_verify, "do not check the checkpoint files' SHA-256 when loading (faster)");
  sub->callback([cfg, resume, no_verify] {
    train::TrainConfig c = cfg->resolve();
    model::set_verify_checkpoints(!*no_verify);
    if (*resume && !cfg->file().empty()) {
      // the stored config of the run is authoritative; the file and overrides must not change it silently
    }
    train::run_train(c, *resume);
  });
}

}  // namespace reasonrl::cli

// cmd_sft.cpp: `reasonrl sft`: supervised warm start from a JSON config with CLI overrides.
#include <memory>

#include "rl/cli/commands.h"
#include "rl/cli/config_cli.h"
#include "model/checkpoint.h"
#include "rl/train/sft.h"

namespace reasonrl::cli {

void add_sft_command(CLI::App& app) {
  auto* sub = app.add_subcommand("sft", "supervised fine-tuning (warm start): next-token loss on chains of thought");
  auto cfg = std::make_shared<ConfigCli<train::SftConfig>>(sub);
  auto resume = std::make_shared<bool>(false);
  auto no_verify = std::make_shared<bool>(false);
  sub->add_flag("--resume", *resume, "continue from <run_dir>/checkpoints/latest, exactly (from scratch if none yet)");
  sub->add_flag("--no-verify", *no_verify, "do not check the checkpoint files' SHA-256 when loading (faster)");
  sub->callback([cfg, resume, no_verify] {
    const train::SftConfig c = cfg->resolve();
    model::set_verify_checkpoints(!*no_verify);
    train::run_sft(c, *resume);
  });
}

}  // namespace reasonrl::cli

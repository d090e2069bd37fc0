// cmd_sft.cpp: `reasonrl sft`: supervised warm start from a JSON config with CLI overrides.
#include <memory>

#include "rl/cli/commands.h"
#include "rl/cli/config_cli.h"
#include "rl/cli/resume_config.h"
#include "model/checkpoint.h"
#include "rl/train/sft.h"

namespace reasonrl::cli {

void add_sft_command(CLI::App& app) {
  auto* sub = app.add_subcommand("sft", "supervised fine-tuning (warm start): next-token loss on chains of thought");
  auto cfg = std::make_shared<ConfigCli<train::SftConfig>>(sub);
  auto flags = add_resume_flags(sub);
  sub->callback([cfg, flags] {
    const ResumedConfig<train::SftConfig> r = resolve_run_config(*cfg, *flags);
    cfg->log_changes("sft", r.config);
    model::set_verify_checkpoints(!flags->no_verify);
    train::run_sft(r.config, flags->resume);
  });
}

}  // namespace reasonrl::cli

// cmd_dpo.cpp: `reasonrl dpo`: DPO on a TRL-layout preference JSONL (prompt / chosen / rejected strings).
#include <memory>

#include "rl/cli/commands.h"
#include "rl/cli/config_cli.h"
#include "rl/cli/resume_config.h"
#include "model/checkpoint.h"
#include "rl/long2short/dpo.h"

namespace reasonrl::cli {

void add_dpo_command(CLI::App& app) {
  auto* sub = app.add_subcommand("dpo", "direct preference optimisation on a preference JSONL (TRL layout)");
  auto cfg = std::make_shared<ConfigCli<long2short::DpoConfig>>(sub);
  auto flags = add_resume_flags(sub);
  sub->callback([cfg, flags] {
    const ResumedConfig<long2short::DpoConfig> r = resolve_run_config(*cfg, *flags);
    cfg->log_changes("dpo", r.config);
    model::set_verify_checkpoints(!flags->no_verify);
    long2short::run_dpo(r.config, flags->resume);
  });
}

}  // namespace reasonrl::cli

// commands.h: one registration function per subcommand of the reasonrl binary (defined in cmd_<name>.cpp).
// Each adds its subcommand to `app` and sets a callback that runs it; errors are thrown as reasonrl::Error.
#pragma once
#include <CLI/CLI.hpp>

namespace reasonrl::cli {
// ---- registered commands (one line each; keep in the order of main.cpp) ----
void add_model_info_command(CLI::App& app);
void add_inspect_command(CLI::App& app);
void add_report_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_sft_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_tokenizer_command(CLI::App& app);
void add_score_command(CLI::App& app);
void add_long2short_command(CLI::App& app);
void add_dpo_command(CLI::App& app);
void add_merge_command(CLI::App& app);
void add_difficulty_command(CLI::App& app);
void add_export_command(CLI::App& app);
}  // namespace reasonrl::cli

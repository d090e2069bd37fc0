// main.cpp: the reasonrl binary. Parses the subcommand, runs it, and turns library errors into a message and exit 1.
#include <cstdio>
#include <exception>
#include <new>

#include "rl/cli/commands.h"
#include "rl/dist/dist.h"
#include "rl/util/error.h"

int main(int argc, char** argv) {
  reasonrl::dist::Session dist_session(&argc, &argv);  // MPI when launched by mpirun; a no-op otherwise (rl/dist)
  CLI::App app{"reasonrl: RL post-training of reasoning models (GRPO, Kimi k1.5) on a DeepSeek-V3-style MoE"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "reasonrl 0.1.0");
  // ---- subcommands (one line each) ----
  reasonrl::cli::add_model_info_command(app);
  reasonrl::cli::add_inspect_command(app);
  reasonrl::cli::add_report_command(app);
  reasonrl::cli::add_generate_command(app);
  reasonrl::cli::add_tokenizer_command(app);
  reasonrl::cli::add_sft_command(app);
  reasonrl::cli::add_train_command(app);
  reasonrl::cli::add_long2short_command(app);
  reasonrl::cli::add_dpo_command(app);
  reasonrl::cli::add_merge_command(app);
  reasonrl::cli::add_difficulty_command(app);
  reasonrl::cli::add_score_command(app);
  reasonrl::cli::add_export_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const reasonrl::Interrupted& e) {
    std::fprintf(stderr, "interrupted: %s\n", e.what());
    return dist_session.fail(128 + e.signal);
  } catch (const reasonrl::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return dist_session.fail(1);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: out of memory (an allocation failed). HINT: a smaller model, batch or max_batch\n");
    return dist_session.fail(1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "internal error: %s\n", e.what());
    return dist_session.fail(2);
  }
  return 0;
}

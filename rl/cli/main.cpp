// main.cpp: the reasonrl binary. Parses the subcommand, runs it, and turns library errors into a message and exit 1.
#include <cstdio>
#include <exception>

#include "rl/cli/commands.h"
#include "rl/util/error.h"

int main(int argc, char** argv) {
  CLI::App app{"reasonrl: RL post-training of reasoning models (GRPO, Kimi k1.5) on a DeepSeek-V3-style MoE"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "reasonrl 0.1.0");
  // ---- subcommands (one line each) ----
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const reasonrl::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}

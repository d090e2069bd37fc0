// commands.h: one registration function per subcommand of the reasonrl binary (defined in cmd_<name>.cpp).
// Each adds its subcommand to `app` and sets a callback that runs it; errors are thrown as reasonrl::Error.
#pragma once
#include <CLI/CLI.hpp>

namespace reasonrl::cli {
// ---- registered commands (one line each; keep in the order of main.cpp) ----
}  // namespace reasonrl::cli

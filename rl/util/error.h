// error.h: the typed exceptions library code throws; main() catches reasonrl::Error and exits non-zero.
#pragma once
#include <stdexcept>
#include <string>

namespace reasonrl {

// Base of every error we raise on purpose. what() is a complete, user-facing sentence.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// Bad configuration: unknown key, wrong type, unknown enum mode, invalid value.
struct ConfigError : Error { using Error::Error; };
// A file that is not what it claims to be: bad magic, version, shape, truncated, malformed line.
struct FormatError : Error { using Error::Error; };
// The file system said no: missing file, permission, short write.
struct IoError : Error { using Error::Error; };
// A numeric failure during training: NaN/Inf in loss or gradients.
struct NumericError : Error { using Error::Error; };
// A resource limit: KV cache full, buffer capacity exceeded.
struct CapacityError : Error { using Error::Error; };
// A plugin (shared library or subprocess) misbehaved.
struct PluginError : Error { using Error::Error; };
// Reward functions failed on more of a step's samples than rewards.max_error_fraction allows (rewards.on_error fail).
struct RewardError : Error { using Error::Error; };
// A run stopped by SIGINT / SIGTERM after writing a checkpoint; main exits with 128 + signal.
struct Interrupted : Error {
  Interrupted(const std::string& what, int sig) : Error(what), signal(sig) {}
  int signal;
};

// Read a whole file; throws IoError naming the path.
std::string read_file(const std::string& path);
// Write a whole file atomically (tmp + rename); throws IoError.
void write_file_atomic(const std::string& path, const std::string& data);

}  // namespace reasonrl

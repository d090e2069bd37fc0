// error.cpp: file helpers that report failures as typed errors.
#include "rl/util/error.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace reasonrl {

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw IoError("cannot read '" + path + "': it is a directory, not a file");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw IoError("cannot open '" + path + "': " + std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) throw IoError("error reading '" + path + "'");
  return ss.str();
}

void write_file_atomic(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp";
  {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw IoError("cannot write '" + tmp + "': " + std::strerror(errno));
    const size_t n = std::fwrite(data.data(), 1, data.size(), f);
    const bool ok = n == data.size() && std::fflush(f) == 0;
    std::fclose(f);
    if (!ok) throw IoError("short write to '" + tmp + "'");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw IoError("cannot rename '" + tmp + "' to '" + path + "': " + ec.message());
}

}  // namespace reasonrl

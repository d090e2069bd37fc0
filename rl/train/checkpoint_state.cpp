// checkpoint_state.cpp: the checkpoint state file, atomic commit and verification.
#include "rl/train/checkpoint_state.h"

#include <algorithm>
#include <filesystem>

#include "model/checkpoint.h"
#include "rl/util/error.h"

namespace fs = std::filesystem;

namespace reasonrl::train {

std::string tokenizer_hash(const std::string& dir) { return model::sha256_file(dir + "/tokenizer.json"); }

void commit_checkpoint(const std::string& dir, const std::string& format, long step, json state,
                       const std::vector<const model::Model*>& models,
                       const std::function<void(const std::string& tmp)>& write_files) {
  for (const model::Model* m : models) {
    const std::string bad = model::first_nonfinite_tensor(*m);
    if (!bad.empty())
      throw NumericError("the weights hold a NaN or Inf (tensor '" + bad + "') at step " + std::to_string(step) +
                         ": checkpoint " + dir + " was not written");
  }
  const std::string tmp = dir + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) throw IoError("cannot create checkpoint directory '" + tmp + "': " + ec.message());
  write_files(tmp);
  state["format"] = format;
  state["version"] = kStateVersion;
  state["step"] = step;
  json files = json::object();
  for (const auto& [rel, sum] : model::checksum_files(tmp, kStateFile)) files[rel] = sum;
  state["files"] = files;
  if (fs::exists(tmp + "/tokenizer.json")) state["tokenizer_sha256"] = tokenizer_hash(tmp);
  write_file_atomic(tmp + "/" + kStateFile, state.dump() + "\n");
  fs::remove_all(dir, ec);
  fs::rename(tmp, dir, ec);
  if (ec) throw IoError("cannot rename '" + tmp + "' to '" + dir + "': " + ec.message());
}

long checkpoint_dir_step(const std::string& dir) {
  const std::string name = fs::path(dir).filename().string();
  if (name.rfind("step_", 0) != 0 || name.size() == 5) return -1;
  long v = 0;
  for (size_t i = 5; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

json read_checkpoint_state(const std::string& dir, const std::string& format) {
  const std::string path = dir + "/" + kStateFile;
  if (!fs::exists(path)) throw IoError("checkpoint state " + path + " does not exist");
  const json st = parse_json_text(read_file(path), path);
  if (!st.is_object() || st.value("format", "") != format)
    throw FormatError(path + ": not a " + format + " file (key 'format')");
  const auto version = st.find("version");
  if (version == st.end() || !version->is_number_integer() || version->get<int>() < 1 ||
      version->get<int>() > kStateVersion)
    throw FormatError(path + ": version " + (version == st.end() ? std::string("(missing)") : version->dump()) +
                      ", this build reads 1.." + std::to_string(kStateVersion));
  const auto step = st.find("step");
  if (step == st.end() || !step->is_number_integer())
    throw FormatError(path + ": key 'step' is missing or not an integer");
  const long s = step->get<long>();
  if (s < 0) throw FormatError(path + ": step " + std::to_string(s) + " is negative");
  const long dir_step = checkpoint_dir_step(dir);
  if (dir_step >= 0 && s != dir_step)
    throw FormatError(path + ": step " + std::to_string(s) + " differs from the checkpoint directory's step " +
                      std::to_string(dir_step));
  if (version->get<int>() >= 2 && model::verify_checkpoints()) {
    const auto files = st.find("files");
    if (files == st.end() || !files->is_object() || files->empty())
      throw FormatError(path + ": key 'files' (the checksums of the checkpoint's files) is missing");
    std::map<std::string, std::string> expected;
    for (auto it = files->begin(); it != files->end(); ++it) {
      if (!it.value().is_string()) throw FormatError(path + ": files." + it.key() + " must be a SHA-256 string");
      expected[it.key()] = it.value().get<std::string>();
    }
    model::verify_files(dir, expected, path);
  }
  return st;
}

void check_tokenizer(const json& state, const std::string& dir) {
  const auto it = state.find("tokenizer_sha256");
  if (it == state.end()) return;  // version 1
  const std::string got = tokenizer_hash(dir);
  if (!it->is_string() || it->get<std::string>() != got)
    throw FormatError(dir + "/tokenizer.json is not the tokenizer this checkpoint was trained with (its hash is " + got +
                      ", " + kStateFile + " records " + it->dump() + ")");
}

void verify_checkpoint_dir(const std::string& dir) {
  const std::string path = dir + "/" + kStateFile;
  if (!fs::exists(path)) return;
  const json raw = parse_json_text(read_file(path), path);
  const json st = read_checkpoint_state(dir, raw.is_object() ? raw.value("format", "") : "");
  check_tokenizer(st, dir);
}

std::string last_good_checkpoint(const std::string& run_dir, const std::string& format) {
  const std::string root = run_dir + "/checkpoints";
  std::vector<std::string> dirs;
  if (fs::is_directory(root))
    for (const auto& e : fs::directory_iterator(root))
      if (e.is_directory() && checkpoint_dir_step(e.path().string()) >= 0) dirs.push_back(e.path().string());
  std::sort(dirs.rbegin(), dirs.rend());
  for (const auto& d : dirs) {
    try {
      read_checkpoint_state(d, format);
      model::load_model(d);  // parses every tensor and checks that each weight is finite
      return d;
    } catch (const Error&) {
    }
  }
  return "(none)";
}

}  // namespace reasonrl::train

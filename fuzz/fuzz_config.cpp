// fuzz_config.cpp: libFuzzer target for the config system (rl/util/config.h): JSON config files and command-line values
// parsed into visit()-declared structs, unknown keys, moved keys, enums, maps, lists and integer ranges included.
// The root holds the real config sections of the libraries the target links (rewards with plugins, the JSONL dataset,
// the synthetic tasks, the prompt template, the tokenizer trainer, the prompt sampler, the store) under the keys
// `reasonrl train` gives them; TrainConfig itself would pull the model and trainer into the clang build (minutes of CI
// per run) for the same template code.
// Input: the first byte picks the mode.
// - even: the rest is a config file (parse_json_text, then config_apply_json with the text for line numbers);
// - odd: a command-line option: the second byte picks a leaf, the rest is its value (parse_cli_value, then
//   config_apply_json of the patch, as ConfigCli does).
// Properties (a violation aborts, so libFuzzer reports the input):
// - the input is accepted or refused with a reasonrl::Error (anything else ends as "internal error" in the CLI);
// - an accepted config, written out (config_to_json, as config.json) and read back, is accepted and gives the same
//   JSON: what a run saves, its --resume can load.
// Seeds: REASONRL_FUZZ_WRITE_SEEDS=DIR writes the defaults and the sections of configs/*.json to DIR and exits
// (scripts/fuzz.sh does this for an empty corpus). Build and run: scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "datasets/bpe_trainer.h"
#include "datasets/jsonl_loader.h"
#include "datasets/prompt_template.h"
#include "datasets/synthetic.h"
#include "rewards/reward_config.h"
#include "rl/store/store.h"
#include "rl/util/config.h"
#include "rl/util/error.h"
#include "rl/util/log.h"
#include "sampler/prompt_sampler.h"

using namespace reasonrl;

namespace {

struct DataSection {
  datasets::SyntheticConfig synthetic;
  datasets::DatasetConfig jsonl;
  datasets::TemplateConfig prompt_template;
  template <class V>
  void visit(V& v) {
    v("synthetic", synthetic, "synthetic task");
    v("jsonl", jsonl, "JSONL layout");
    v("prompt_template", prompt_template, "prompt template");
  }
};
struct TokenizerSection {
  datasets::BpeTrainerConfig train;
  template <class V>
  void visit(V& v) {
    v("train", train, "BPE trainer");
  }
};
struct Root {
  int64_t steps = 10;
  uint64_t seed = 1;
  float learning_rate = 1e-3f;
  DataSection data;
  TokenizerSection tokenizer;
  rewards::RewardConfig rewards;
  sampler::SamplerConfig sampler;
  store::StoreConfig store;
  template <class V>
  void visit(V& v) {
    v("steps", steps, "an int64");
    v("seed", seed, "a uint64");
    v("learning_rate", learning_rate, "a float");
    v("data", data, "data");
    v("tokenizer", tokenizer, "tokenizer");
    v("rewards", rewards, "rewards");
    v("sampler", sampler, "sampler");
    v("store", store, "store");
  }
};

[[noreturn]] void violated(const std::string& what, const std::string& input) {
  std::fprintf(stderr, "PROPERTY VIOLATED: %s\n  input: %s\n", what.c_str(), input.c_str());
  std::abort();
}

template <class C>
void check_saved_config_loads(const C& c, const std::string& input) {
  const json saved = config_to_json(c);
  const std::string text = saved.dump(2);
  C back;
  try {
    config_apply_json(back, parse_json_text(text, "config.json"), "config.json", text);
  } catch (const Error& e) {
    violated(std::string("an accepted config, saved, is refused: ") + e.what(), input);
  }
  if (config_to_json(back) != saved) violated("an accepted config, saved and loaded, changes", input);
}

template <class C = Root>
void fuzz_file(const std::string& text) {
  C c;
  try {
    config_apply_json(c, parse_json_text(text, "fuzz.json"), "fuzz.json", text);
  } catch (const Error&) {
    return;  // refused with a message naming the file (and line): fine
  }
  check_saved_config_loads(c, text);
}

void fuzz_cli(uint8_t pick, const std::string& value) {
  static const std::vector<cfg_detail::Leaf> leaves = config_leaves(Root{});
  const auto& leaf = leaves[pick % leaves.size()];
  Root c;
  try {
    json patch = json::object();
    json* node = &patch;
    size_t start = 0;
    for (size_t dot; (dot = leaf.path.find('.', start)) != std::string::npos; start = dot + 1)
      node = &(*node)[leaf.path.substr(start, dot - start)];
    (*node)[leaf.path.substr(start)] = cfg_detail::parse_cli_value(leaf.path, leaf.type, value);
    config_apply_json(c, patch, "command line");
  } catch (const Error&) {
    return;
  }
  check_saved_config_loads(c, "--" + leaf.path + " " + value);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  set_log_level(LogLevel::Error);
  if (const char* dir = std::getenv("REASONRL_FUZZ_WRITE_SEEDS")) {
    int n = 0;
    auto write = [&](const json& j) {
      std::ofstream(std::string(dir) + "/seed_" + std::to_string(n++), std::ios::binary) << '\x00' << j.dump(1);
    };
    write(config_to_json(Root{}));
    for (const auto& f : std::filesystem::directory_iterator(std::string(REASONRL_SOURCE_DIR) + "/configs")) {
      std::ifstream in(f.path());
      const json j = json::parse(in, nullptr, false);
      if (!j.is_object()) continue;
      json seed = json::object();
      if (j.contains("rewards")) seed["rewards"] = j.contains("weights") ? j : j["rewards"];  // rewards_*.json or a section
      if (j.contains("data") && j["data"].is_object())
        for (const char* k : {"synthetic", "jsonl", "prompt_template"})
          if (j["data"].contains(k)) seed["data"][k] = j["data"][k];
      for (const char* k : {"sampler", "store", "tokenizer"})
        if (j.contains(k)) seed[k] = j[k];
      if (!seed.empty()) write(seed);
    }
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) fuzz_file(rest);
  else if (!rest.empty()) fuzz_cli(static_cast<uint8_t>(rest[0]), rest.substr(1));
  return 0;
}

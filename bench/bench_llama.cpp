// bench_llama.cpp: decode tokens/s of our engine vs llama.cpp (node-llama-cpp's prebuilt CPU build, bench/llama_peer.mjs)
// on the same weights, exported with export_gguf (f32, and q8_0 for llama.cpp: our engine decodes in f32 only).
// Batch 1 and 32; same prompt, same given next tokens, logits of every decoded token computed on both sides.
// Usage: bench_llama [--config configs/model_tiny.json] [--prompt 16] [--steps 128] [--threads 2] [--peer DIR]
// Prints one line per measurement, then a table.
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "datasets/bpe_trainer.h"
#include "bench/llama_peer.h"
#include "model/gguf_export.h"
#include "model/model.h"

using namespace reasonrl;
using namespace reasonrl::model;

namespace {

double ours_tokens_per_s(Model& m, int batch, int prompt_len, int steps) {
  const int V = m.config().vocab_size;
  KVCache cache(m.config(), batch, prompt_len + steps + 8);
  std::vector<int32_t> prompt(static_cast<size_t>(prompt_len));
  for (int i = 0; i < prompt_len; ++i) prompt[size_t(i)] = (i * 7 + 3) % V;
  std::vector<float> logits(size_t(batch) * V);
  for (int s = 0; s < batch; ++s) m.prefill(cache, s, prompt.data(), prompt_len, logits.data());
  std::vector<int> slots(static_cast<size_t>(batch));
  std::vector<int32_t> tok(static_cast<size_t>(batch));
  for (int b = 0; b < batch; ++b) slots[size_t(b)] = b;
  const auto t0 = std::chrono::steady_clock::now();
  for (int step = 0; step < steps; ++step) {
    for (int b = 0; b < batch; ++b) tok[size_t(b)] = (step * 13 + b * 5 + 1) % V;
    m.decode_step(cache, slots.data(), tok.data(), batch, logits.data());
  }
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return batch * steps / sec;
}
}  // namespace

int main(int argc, char** argv) {
  std::string config = std::string(REASONRL_SOURCE_DIR) + "/configs/model_tiny.json", peer;
  int prompt_len = 16, steps = 128, threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--config") config = v;
    else if (a == "--prompt") prompt_len = std::stoi(v);
    else if (a == "--steps") steps = std::stoi(v);
    else if (a == "--threads") threads = std::stoi(v);
    else if (a == "--peer") peer = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  int rc = 0;
  if (peer.empty()) {
    bool ok = false;
    peer = llama_peer::install(REASONRL_SOURCE_DIR, &ok);
    if (!ok) {
      std::fprintf(stderr, "llama.cpp peer not available: %s\n", peer.c_str());
      return 1;
    }
  }
  omp_set_num_threads(threads);
  const ModelConfig cfg = load_model_config(config);
  Model m(cfg);
  m.init_weights(1);
  const std::string dir = std::string(REASONRL_BINARY_DIR) + "/bench-llama";
  std::filesystem::create_directories(dir);
  std::vector<std::string> texts;
  for (int i = 0; i < 500; ++i) texts.push_back("sample " + std::to_string(i * 7919 % 1000) + " text for a tokenizer");
  datasets::BpeTrainerConfig bc;
  bc.vocab_size = std::min(cfg.vocab_size, 400);
  datasets::train_bpe(texts, bc).save(dir + "/tokenizer.json");
  struct Row {
    std::string what;
    int batch;
    double ours, f32, q8;
  };
  std::vector<Row> rows;
  for (const char* t : {"f32", "q8_0"})
    export_gguf(m, dir + "/tokenizer.json", dir + "/model-" + t + ".gguf",
                std::string(t) == "f32" ? GgmlType::F32 : GgmlType::Q8_0, "bench");
  for (int batch : {1, 32}) {
    Row r{"decode", batch, 0, 0, 0};
    r.ours = ours_tokens_per_s(m, batch, prompt_len, steps);
    std::printf("ours_decode batch=%d tokens_per_s=%.1f threads=%d\n", batch, r.ours, threads);
    for (const char* t : {"f32", "q8_0"}) {
      const std::string cmd = "V=" + std::to_string(cfg.vocab_size) + " node " + REASONRL_SOURCE_DIR +
                              "/bench/llama_peer.mjs " + peer + " " + dir + "/model-" + t + ".gguf " +
                              std::to_string(batch) + " " + std::to_string(prompt_len) + " " + std::to_string(steps) +
                              " " + std::to_string(threads) + " 2>&1";
      const std::string out = llama_peer::run_capture(cmd, &rc);
      std::printf("%s (%s)\n", out.c_str(), t);
      const auto p = out.find("tokens_per_s=");
      if (rc != 0 || p == std::string::npos) {
        std::fprintf(stderr, "llama.cpp run failed: %s\n", cmd.c_str());
        return 1;
      }
      (std::string(t) == "f32" ? r.f32 : r.q8) = std::stod(out.substr(p + 13));
    }
    rows.push_back(r);
  }
  std::printf("\n| batch | ours f32 tok/s | llama.cpp f32 tok/s | ratio | llama.cpp q8_0 tok/s | ratio |\n|---|---|---|---|---|---|\n");
  for (const auto& r : rows)
    std::printf("| %d | %.0f | %.0f | %.2f | %.0f | %.2f |\n", r.batch, r.ours, r.f32, r.ours / r.f32, r.q8, r.ours / r.q8);
  return 0;
}

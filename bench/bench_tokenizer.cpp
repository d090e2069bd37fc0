// bench_tokenizer.cpp: encode MB/s of our byte-level BPE vs HF tokenizers' encodeBatch (Rust, via its Node binding)
// on DeepSeek-V3's tokenizer.json and every string field of GSM8K, MATH-500 and OlymMATH; validates ids first.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "datasets/tokenizer.h"
#include "rl/util/log.h"
#include "tests/datasets/peer_texts.h"

using namespace reasonrl;
using namespace reasonrl::datasets;

int main(int argc, char** argv) {
  // The HF tokenizers Node binding lives in a scratch folder (npm-installed once); REASONRL_HF_PEER_DIR reuses another
  // build's folder instead of installing it again.
  const char* scratch_env = std::getenv("REASONRL_HF_PEER_DIR");
  const std::string scratch = scratch_env && *scratch_env ? scratch_env : std::string(REASONRL_BINARY_DIR) + "/hf-peer";
  const std::string peer_dir = argc > 1 ? argv[1] : REASONRL_PEER_DATA;
  const int repeats = std::getenv("BENCH_REPEATS") ? std::atoi(std::getenv("BENCH_REPEATS")) : 5;
  const auto texts = peer::load_texts(peer_dir);
  if (texts.empty()) {
    std::printf("bench_tokenizer SKIP: peer data not found at %s\n", peer_dir.c_str());
    return 0;
  }
  const std::string why = peer::setup(REASONRL_SOURCE_DIR, scratch);
  if (!why.empty()) {
    std::printf("bench_tokenizer SKIP: %s\n", why.c_str());
    return 0;
  }
  double t0 = now_seconds();
  const auto tok = Tokenizer::load(peer::deepseek_json(scratch));
  const double load_s = now_seconds() - t0;
  double bytes = 0;
  for (const auto& t : texts) bytes += double(t.size());
  std::printf("# %zu texts, %.2f MB; DeepSeek-V3 tokenizer.json loaded in %.2f s\n", texts.size(), bytes / 1e6, load_s);

  const auto hf = peer::hf_encode(REASONRL_SOURCE_DIR, scratch, peer::deepseek_json(scratch), texts, std::min(repeats, 5));
  for (int threads : {1, 2}) {
    double best = 1e30;
    std::vector<std::vector<int>> ids;
    for (int r = 0; r < repeats; ++r) {
      t0 = now_seconds();
      ids = tok.encode_batch(texts, threads);
      best = std::min(best, now_seconds() - t0);
    }
    if (ids != hf.ids) {
      std::fprintf(stderr, "bench_tokenizer: ids differ from HF tokenizers\n");
      return 1;
    }
    size_t n_tok = 0;
    for (const auto& v : ids) n_tok += v.size();
    std::printf("bench_tokenizer variant=ours threads=%d mb_per_s=%.2f tokens_per_s=%.0f\n", threads, bytes / 1e6 / best, double(n_tok) / best);
  }
  std::printf("bench_tokenizer variant=hf_tokenizers_encodeBatch threads=all mb_per_s=%.2f\n", hf.bytes / 1e6 / hf.seconds);
  return 0;
}

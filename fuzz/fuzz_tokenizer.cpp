// fuzz_tokenizer.cpp: libFuzzer target for the tokenizer: tokenizer.json loading and the encode/decode round trip.
// Input: the first byte picks the mode.
// - even: the rest is text, encoded by two fixed tokenizers (trained here at start-up: the digit-splitting and the
//   DeepSeek-V3 pre-tokenizer, with added tokens);
// - odd: the rest is a tokenizer.json file (up to the first 0x01 byte) and a text after it: Tokenizer::load on the file.
// Properties (a violation aborts, so libFuzzer reports the input):
// - load() accepts the file or throws reasonrl::Error (anything else ends as "internal error" in the CLI);
// - every id is in [0, vocab_size), encode_batch == encode, and decode(encode(t)) == t byte for byte when the
//   tokenizer is lossless() (a loaded one may not be: ByteLevel add_prefix_space, a Removed split, lstrip / rstrip);
// - a loaded tokenizer saved (to_json_text) and loaded again encodes t to the same ids.
// Seeds: REASONRL_FUZZ_WRITE_SEEDS=DIR makes the target write seed inputs (the fixed tokenizers' tokenizer.json with
// texts) to DIR and exit; scripts/fuzz.sh does this for an empty corpus. Build and run: scripts/fuzz.sh.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "datasets/bpe_trainer.h"
#include "datasets/tokenizer.h"
#include "rl/util/error.h"
#include "rl/util/log.h"

using namespace reasonrl;
using namespace reasonrl::datasets;

namespace {

[[noreturn]] void violated(const char* what, std::string_view text) {
  std::fprintf(stderr, "PROPERTY VIOLATED: %s\n  text (%zu bytes): %.*s\n", what, text.size(), int(text.size()),
               text.data());
  std::abort();
}

struct Fixed {
  std::vector<Tokenizer> toks;
  std::string path;  // a scratch file for load()
};

Fixed& fixed() {
  static Fixed f = [] {
    set_log_level(LogLevel::Error);
    const std::vector<std::string> corpus = {
        "12 + 34 = 46. 7 * 8 = 56; 100 - 1 = 99", "<think>add the numbers</think><answer>46</answer>",
        "The quick brown fox jumps over the lazy dog.", "caf\xC3\xA9 na\xC3\xAFve \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80",
        "  indented\n\tlines\r\n and 'quotes' \"double\" \\boxed{x}", "aaaa bbbb aaaa bbbb abab baba"};
    BpeTrainerConfig cfg;
    cfg.vocab_size = 320;
    cfg.min_frequency = 1;
    Fixed out;
    out.toks.push_back(train_bpe(corpus, cfg));
    const PreTokenizer ds = PreTokenizer::deepseek_v3();
    out.toks.push_back(train_bpe(corpus, cfg, &ds));
    for (const auto& tok : out.toks)  // so check_round_trip checks their round trip on every text
      if (!tok.lossless()) violated("a trained tokenizer is not lossless", "");
    out.path = (access("/dev/shm", W_OK) == 0 ? std::string("/dev/shm") : std::string("/tmp")) +
               "/reasonrl_fuzz_tokenizer_" + std::to_string(getpid()) + ".json";
    return out;
  }();
  return f;
}

void check_round_trip(const Tokenizer& tok, std::string_view text) {
  const std::vector<int> ids = tok.encode(text);
  for (int id : ids)
    if (id < 0 || id >= tok.vocab_size()) violated("an id out of range", text);
  if (tok.lossless() && tok.decode(ids) != text) violated("decode(encode(t)) != t", text);
  const auto batch = tok.encode_batch({std::string(text), std::string(text)});
  if (batch.size() != 2 || batch[0] != ids || batch[1] != ids) violated("encode_batch != encode", text);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  Fixed& f = fixed();
  if (const char* dir = std::getenv("REASONRL_FUZZ_WRITE_SEEDS")) {
    int n = 0;
    for (const auto& tok : f.toks)
      for (const char* text : {"12 + 34 = 46", "<think>x</think> caf\xC3\xA9\xC3", "\xE4\xB8\xAD 7*8"}) {
        std::ofstream(std::string(dir) + "/seed_" + std::to_string(n++), std::ios::binary)
            << '\x01' << tok.to_json_text() << '\x01' << text;
        std::ofstream(std::string(dir) + "/seed_" + std::to_string(n++), std::ios::binary) << '\x00' << text;
      }
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Fixed& f = fixed();
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((data[0] & 1) == 0) {
    for (const auto& tok : f.toks) check_round_trip(tok, in);
    return 0;
  }
  const size_t sep = in.find('\x01');
  const std::string_view file = in.substr(0, sep), text = sep == std::string_view::npos ? "" : in.substr(sep + 1);
  {
    std::ofstream o(f.path, std::ios::binary | std::ios::trunc);
    o.write(file.data(), std::streamsize(file.size()));
  }
  Tokenizer tok;
  try {
    tok = Tokenizer::load(f.path);
  } catch (const Error&) {
    return 0;  // a clear error naming the file: fine
  }
  check_round_trip(tok, text);
  Tokenizer again;
  try {
    again = Tokenizer::from_json(nlohmann::json::parse(tok.to_json_text()), "saved");
  } catch (const std::exception& e) {
    violated(("a loaded tokenizer, saved, does not load again: " + std::string(e.what())).c_str(), file);
  }
  if (again.encode(text) != tok.encode(text)) violated("the saved tokenizer encodes differently", text);
  return 0;
}

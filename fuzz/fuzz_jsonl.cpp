// fuzz_jsonl.cpp: libFuzzer target for the JSONL dataset loader (datasets/jsonl_loader.h), every layout.
// Input: a JSONL file, loaded with each layout (generic, gsm8k, math, countdown, aime, olymmath), with on_error = skip
// and = fail.
// Properties (a violation aborts, so libFuzzer reports the input):
// - load_jsonl returns or throws a reasonrl::Error (anything else ends as "internal error" in the CLI);
// - on_error = skip never throws; loaded + skipped == non-empty lines; every skipped line is named in errors (up to 20);
// - on_error = fail throws exactly when skip skipped a line, and otherwise loads the same examples;
// - every example's source names the file.
// Seeds: the first lines of ../shared/peer-data's JSONL files (scripts/fuzz.sh). Build and run: scripts/fuzz.sh.
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "datasets/jsonl_loader.h"
#include "rl/util/error.h"
#include "rl/util/log.h"

using namespace reasonrl;
using namespace reasonrl::datasets;

namespace {

[[noreturn]] void violated(const std::string& what, const std::string& input) {
  std::fprintf(stderr, "PROPERTY VIOLATED: %s\n  input (%zu bytes): %s\n", what.c_str(), input.size(), input.c_str());
  std::abort();
}

const std::string& scratch() {
  static const std::string p = (access("/dev/shm", W_OK) == 0 ? std::string("/dev/shm") : std::string("/tmp")) +
                               "/reasonrl_fuzz_jsonl_" + std::to_string(getpid()) + ".jsonl";
  return p;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  set_log_level(LogLevel::Error);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  {
    std::ofstream o(scratch(), std::ios::binary | std::ios::trunc);
    o.write(text.data(), std::streamsize(text.size()));
  }
  for (Layout layout : {Layout::Generic, Layout::Gsm8k, Layout::Math, Layout::Countdown, Layout::Aime, Layout::OlymMath}) {
    DatasetConfig cfg;
    cfg.layout = layout;
    cfg.max_line_bytes = 4096;
    cfg.on_error = OnError::Skip;
    LoadStats st;
    std::vector<Example> skip;
    try {
      skip = load_jsonl(scratch(), cfg, &st);
    } catch (const Error& e) {
      violated(std::string("on_error = skip threw: ") + e.what(), text);
    }
    if (st.loaded + st.skipped != st.lines) violated("loaded + skipped != lines", text);
    if (int(st.errors.size()) != std::min(st.skipped, 20)) violated("a skipped line is not named in errors", text);
    if (int(skip.size()) != st.loaded) violated("the examples are not the loaded count", text);
    for (const auto& e : skip)
      if (e.source.rfind(scratch() + ":", 0) != 0) violated("an example's source does not name the file", text);
    cfg.on_error = OnError::Fail;
    try {
      const auto fail = load_jsonl(scratch(), cfg);
      if (st.skipped > 0) violated("on_error = fail loaded a file that skip skipped lines of", text);
      if (fail.size() != skip.size()) violated("on_error = fail loaded other examples", text);
      for (size_t i = 0; i < fail.size(); ++i)
        if (fail[i].prompt != skip[i].prompt || fail[i].answer != skip[i].answer || fail[i].id != skip[i].id ||
            fail[i].difficulty != skip[i].difficulty)
          violated("on_error = fail loaded other examples", text);
    } catch (const FormatError&) {
      if (st.skipped == 0) violated("on_error = fail threw on a file that skip loaded whole", text);
    } catch (const Error& e) {
      violated(std::string("on_error = fail threw something else than a FormatError: ") + e.what(), text);
    }
  }
  return 0;
}

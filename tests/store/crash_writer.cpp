// crash_writer.cpp: a stand-in for the trainer's store usage, killed with SIGKILL by store_crash_test. It resumes from
// its checkpoint file if present, writes synthetic steps, prints "committed STEP" after each commit, and checkpoints
// every K steps (after the commit, as the trainer does). It stops before step STOP_AT: the kill rounds pass a STOP_AT
// far beyond anything the writer reaches before the kill, so a fast machine cannot finish the run early.
//   store_crash_writer DB CKPT N_STEPS CKPT_EVERY PROMPTS_PER_STEP GROUP_SIZE TEXT_CHARS STOP_AT
#include <unistd.h>

#include <cstdio>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "rl/store/synthetic.h"
#include "rl/util/error.h"

using namespace reasonrl;

static void say(const std::string& s) {
  const std::string line = s + "\n";
  if (::write(1, line.data(), line.size()) < 0) std::_Exit(3);
}

int main(int argc, char** argv) {
  if (argc != 9) {
    std::fprintf(stderr, "usage: %s DB CKPT N_STEPS CKPT_EVERY PROMPTS_PER_STEP GROUP_SIZE TEXT_CHARS STOP_AT\n",
                 argv[0]);
    return 2;
  }
  try {
    const std::string db = argv[1], ckpt = argv[2];
    store::SyntheticSpec spec;
    spec.n_steps = std::atoll(argv[3]);
    const int64_t every = std::atoll(argv[4]);
    spec.prompts_per_step = std::atoi(argv[5]);
    spec.group_size = std::atoi(argv[6]);
    spec.text_chars = std::atoi(argv[7]);
    const int64_t stop_at = std::min<int64_t>(std::atoll(argv[8]), spec.n_steps);
    auto st = store::RolloutStore::open(db);
    int64_t from = -1;
    if (std::filesystem::exists(ckpt)) from = std::stoll(read_file(ckpt));
    if (st.run_info()) {
      st.resume_run(from, "crash_writer");
    } else {
      st.begin_run({"crash", "{}", "crash_writer", static_cast<int64_t>(spec.seed), ""});
    }
    st.upsert_prompts(store::synthetic_prompts(spec));
    say("start " + std::to_string(from + 1));
    for (int64_t step = from + 1; step < stop_at; ++step) {
      auto samples = store::synthetic_samples(spec, step);
      st.write_step(store::synthetic_step_metrics(spec, step, samples), samples);
      say("committed " + std::to_string(step));
      if ((step + 1) % every == 0) write_file_atomic(ckpt, std::to_string(step));
    }
    say("done");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

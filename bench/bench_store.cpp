// bench_store.cpp: rows/s of the rollout store's per-step writer (one transaction per step, prepared statements)
// against a naive reference (one autocommit INSERT per row, statements re-prepared), for synchronous normal and full.
// Prints one machine-readable line per variant, and the writer's cost as a share of a step's generation time.
//   bench_store [STEPS=40] [PROMPTS_PER_STEP=64] [GROUP_SIZE=8] [TEXT_CHARS=2000] [GEN_TOKENS_PER_S=1000]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "rl/store/synthetic.h"

using namespace reasonrl::store;
namespace fs = std::filesystem;

static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Reference: every row its own autocommit statement, prepared each time.
static void write_naive(Db& db, const StepRecord& rec, const std::vector<SampleRecord>& samples) {
  db.prepare("INSERT INTO steps (step, written_at, n_samples) VALUES (?, '', ?)").bind(1, rec.step)
      .bind(2, static_cast<int64_t>(samples.size())).run();
  for (const auto& [k, v] : rec.metrics) db.prepare("INSERT INTO step_metrics VALUES (?, ?, ?)").bind(1, rec.step).bind(2, k).bind(3, v).run();
  for (const auto& s : samples) {
    db.prepare("INSERT INTO samples (step, prompt_id, group_id, group_index, text, n_tokens, finish_reason, reward, "
               "correct, advantage, policy_version_min, policy_version_max, n_segments, segments_json) "
               "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,1,'[]')")
        .bind(1, s.step).bind(2, s.prompt_id).bind(3, s.group_id).bind(4, s.group_index).bind(5, s.text)
        .bind(6, s.n_tokens).bind(7, s.finish_reason).bind(8, s.reward).bind(9, s.correct ? 1 : 0)
        .bind(10, s.advantage).bind(11, s.policy_version_min).bind(12, s.policy_version_max).run();
    const int64_t id = sqlite3_last_insert_rowid(db.raw());
    for (const auto& [c, v] : s.reward_components)
      db.prepare("INSERT INTO sample_rewards VALUES (?, ?, ?)").bind(1, id).bind(2, c).bind(3, v).run();
  }
}

int main(int argc, char** argv) {
  SyntheticSpec spec;
  spec.n_steps = argc > 1 ? std::atoll(argv[1]) : 40;
  spec.prompts_per_step = argc > 2 ? std::atoi(argv[2]) : 64;
  spec.group_size = argc > 3 ? std::atoi(argv[3]) : 8;
  spec.text_chars = argc > 4 ? std::atoi(argv[4]) : 2000;
  spec.n_prompts = std::max(spec.n_prompts, spec.prompts_per_step);
  const double gen_tok_s = argc > 5 ? std::atof(argv[5]) : 1000;

  // Generate first: only the writing is timed.
  std::vector<std::vector<SampleRecord>> steps;
  std::vector<StepRecord> recs;
  int64_t rows_per_run = 0, bytes = 0, tokens = 0;
  for (int64_t s = 0; s < spec.n_steps; ++s) {
    steps.push_back(synthetic_samples(spec, s));
    recs.push_back(synthetic_step_metrics(spec, s, steps.back()));
    rows_per_run += 1 + static_cast<int64_t>(recs.back().metrics.size());
    for (const auto& x : steps.back()) {
      rows_per_run += 1 + static_cast<int64_t>(x.reward_components.size());
      bytes += static_cast<int64_t>(x.text.size());
      tokens += x.n_tokens;
    }
  }
  const int64_t samples_per_run = spec.n_steps * spec.prompts_per_step * spec.group_size;
  const fs::path dir = fs::temp_directory_path() / ("reasonrl_bench_store_" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::printf("# %lld steps x %d samples, %d chars/sample, %lld rows (steps, metrics, samples, reward components)\n",
              static_cast<long long>(spec.n_steps), spec.prompts_per_step * spec.group_size, spec.text_chars,
              static_cast<long long>(rows_per_run));

  struct Variant { const char* name; bool naive; Synchronous sync; };
  const Variant variants[] = {{"naive_autocommit_normal", true, Synchronous::Normal},
                              {"per_step_txn_normal", false, Synchronous::Normal},
                              {"per_step_txn_full", false, Synchronous::Full}};
  double ours_ms_per_step = 0;
  for (const auto& v : variants) {
    const std::string path = (dir / (std::string(v.name) + ".db")).string();
    StoreConfig cfg;
    cfg.synchronous = v.sync;
    auto st = RolloutStore::open(path, false, cfg);
    st.begin_run({"bench", "{}", "bench", 1, ""});
    st.upsert_prompts(synthetic_prompts(spec));
    Db naive_db;
    if (v.naive) {
      naive_db = Db(path, false);
      naive_db.exec("PRAGMA synchronous = NORMAL");
    }
    const double t0 = now();
    for (size_t i = 0; i < steps.size(); ++i) {
      if (v.naive) write_naive(naive_db, recs[i], steps[i]);
      else st.write_step(recs[i], steps[i]);
    }
    const double dt = now() - t0;
    // Validate: every variant stores the same rows.
    const int64_t got = st.db().scalar_i64("SELECT count(*) FROM samples");
    if (got != samples_per_run) {
      std::fprintf(stderr, "%s: stored %lld samples, expected %lld\n", v.name, static_cast<long long>(got),
                   static_cast<long long>(samples_per_run));
      return 1;
    }
    const double ms_per_step = 1e3 * dt / static_cast<double>(spec.n_steps);
    if (!v.naive && v.sync == Synchronous::Normal) ours_ms_per_step = ms_per_step;
    std::printf("bench_store variant=%s rows_per_s=%.0f samples_per_s=%.0f mb_per_s=%.1f ms_per_step=%.2f\n", v.name,
                static_cast<double>(rows_per_run) / dt, static_cast<double>(samples_per_run) / dt,
                static_cast<double>(bytes) / dt / 1e6, ms_per_step);
  }
  const double gen_s_per_step = static_cast<double>(tokens) / static_cast<double>(spec.n_steps) / gen_tok_s;
  std::printf("bench_store share_of_step: writing %.2f ms vs generating %.0f tokens at %.0f tokens/s (%.1f s) = %.4f%%\n",
              ours_ms_per_step, static_cast<double>(tokens) / static_cast<double>(spec.n_steps), gen_tok_s,
              gen_s_per_step, 100.0 * ours_ms_per_step / 1e3 / gen_s_per_step);
  fs::remove_all(dir);
  return 0;
}

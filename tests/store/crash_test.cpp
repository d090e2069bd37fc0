// kill -9 test for the rollout store: a writer process (store_crash_writer) is killed with SIGKILL at random moments
// several times and resumed; after each kill the file passes integrity_check, holds every step the writer reported as
// committed and no partial step; while it runs, a read-only reader sees only whole steps; the final file has every step
// exactly once with the samples the generator makes. The kill rounds let the writer run without an end (the kill
// always lands, however fast the machine); the last round runs it to a fixed number of steps past the last kill.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "rl/store/synthetic.h"
#include "rl/util/error.h"
#include "rl/util/rng.h"

namespace reasonrl::store {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kSteps = 1000000;  // the spec's run length (drives the synthetic trends); never reached
constexpr int64_t kTailSteps = 40;   // steps the final, unkilled round writes after the last kill
constexpr int64_t kCkptEvery = 7;
constexpr int kPromptsPerStep = 8, kGroupSize = 8, kTextChars = 1500;

struct Child {
  pid_t pid = -1;
  int out = -1;
  std::string output;
  void drain() {
    char buf[4096];
    for (ssize_t n; (n = ::read(out, buf, sizeof buf)) > 0;) output.append(buf, static_cast<size_t>(n));
  }
  // The last step the writer reported as committed (-1 if none).
  int64_t last_committed() const {
    int64_t last = -1;
    for (size_t pos = 0; (pos = output.find("committed ", pos)) != std::string::npos; pos += 10)
      last = std::stoll(output.substr(pos + 10));
    return last;
  }
};

Child spawn(const std::string& db, const std::string& ckpt, int64_t stop_at) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const std::string args[] = {STORE_CRASH_WRITER, db, ckpt, std::to_string(kSteps), std::to_string(kCkptEvery),
                              std::to_string(kPromptsPerStep), std::to_string(kGroupSize), std::to_string(kTextChars), std::to_string(stop_at)};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    std::_Exit(127);
  }
  ::close(fds[1]);
  ::fcntl(fds[0], F_SETFL, O_NONBLOCK);
  return {pid, fds[0], {}};
}

int64_t scalar(const RolloutStore& st, const std::string& sql) { return st.db().scalar_i64(sql); }

// Whole steps only: every step row has exactly its samples and their reward components.
int64_t partial_steps(const RolloutStore& st) {
  return scalar(st,
                "SELECT count(*) FROM steps s WHERE s.n_samples != (SELECT count(*) FROM samples x WHERE x.step = s.step)"
                " OR s.n_samples != " + std::to_string(kPromptsPerStep * kGroupSize) +
                    " OR (SELECT count(*) FROM sample_rewards r JOIN samples x ON x.id = r.sample_id "
                    "     WHERE x.step = s.step) != 3 * s.n_samples");
}

void expect_step_matches_generator(const RolloutStore& st, int64_t step) {
  SyntheticSpec spec;
  spec.n_steps = kSteps;
  spec.prompts_per_step = kPromptsPerStep;
  spec.group_size = kGroupSize;
  spec.text_chars = kTextChars;
  const auto want = synthetic_samples(spec, step);
  Stmt s = st.db().prepare("SELECT prompt_id, group_id, group_index, text, reward FROM samples WHERE step = ? ORDER BY id");
  s.bind(1, step);
  size_t i = 0;
  for (; s.step(); ++i) {
    ASSERT_LT(i, want.size());
    EXPECT_EQ(s.i64(0), want[i].prompt_id);
    EXPECT_EQ(s.i64(1), want[i].group_id);
    EXPECT_EQ(s.i64(2), want[i].group_index);
    EXPECT_EQ(s.text(3), want[i].text);
    EXPECT_DOUBLE_EQ(s.f64(4), want[i].reward);
  }
  EXPECT_EQ(i, want.size()) << "step " << step;
}

TEST(StoreCrash, KillNineAtRandomMomentsLosesAtMostTheStepInFlight) {
  const fs::path dir = fs::temp_directory_path() / ("reasonrl_store_crash_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string db = (dir / "rollouts.db").string(), ckpt = (dir / "ckpt.txt").string();

  Rng rng(20261123);
  const int kKills = 6;
  int64_t max_committed = -1, final_steps = -1;
  int reads_while_writing = 0, printed_starts = 0;
  for (int round = 0; round <= kKills; ++round) {
    int64_t prev_last = -1;
    if (fs::exists(db)) prev_last = RolloutStore::open(db, true).last_step();
    const bool kill_it = round < kKills;
    if (!kill_it) final_steps = std::max<int64_t>(prev_last, max_committed) + 1 + kTailSteps;
    Child c = spawn(db, ckpt, kill_it ? kSteps : final_steps);
    auto t0 = std::chrono::steady_clock::now();
    const double delay_ms = 30 + 220 * rng.uniform();
    // Even rounds count the delay from the spawn (kills may land while opening or resuming), odd rounds from the
    // writer's first step (kills land while steps are written, even on a slow machine).
    bool clock_started = round % 2 == 0;
    // Read while the writer writes: a read-only connection must never see a partial step.
    while (true) {
      c.drain();
      if (!clock_started && c.output.find("start") != std::string::npos) {
        clock_started = true;
        t0 = std::chrono::steady_clock::now();
      }
      const double el =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (kill_it && clock_started && el >= delay_ms) break;
      int status = 0;
      if (::waitpid(c.pid, &status, WNOHANG) == c.pid) {
        c.drain();
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << c.output;
        ASSERT_FALSE(kill_it) << "the writer finished before the kill; make the run longer. " << c.output;
        c.pid = -1;
        break;
      }
      if (fs::exists(db) && c.output.find("start") != std::string::npos) {
        auto ro = RolloutStore::open(db, true);
        EXPECT_EQ(partial_steps(ro), 0);
        ++reads_while_writing;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
    if (kill_it) {
      ::kill(c.pid, SIGKILL);
      int status = 0;
      ::waitpid(c.pid, &status, 0);
      ASSERT_TRUE(WIFSIGNALED(status)) << "the writer finished before the kill; make the run longer. " << c.output;
    }
    c.drain();
    ::close(c.out);
    const int64_t committed = c.last_committed();
    if (kill_it) max_committed = std::max(max_committed, committed);
    if (c.output.find("start") != std::string::npos) ++printed_starts;
    std::printf("round %d: %s after %.0f ms, last committed step %lld\n", round, kill_it ? "killed" : "finished",
                delay_ms, static_cast<long long>(committed));

    auto ro = RolloutStore::open(db, true);
    EXPECT_EQ(ro.db().scalar_text("PRAGMA integrity_check"), "ok");
    EXPECT_EQ(scalar(ro, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    EXPECT_GE(ro.last_step(), committed) << "a step reported as committed was lost";
    EXPECT_LE(ro.last_step(), std::max(prev_last, committed + 1)) << "more than the step in flight";
    if (fs::exists(ckpt)) {
      EXPECT_GE(ro.last_step(), std::stoll(read_file(ckpt))) << "lost a checkpointed step";
    }
    EXPECT_EQ(partial_steps(ro), 0);
    // Steps are contiguous from 0.
    EXPECT_EQ(scalar(ro, "SELECT count(*) FROM steps"), ro.last_step() + 1);
    if (ro.last_step() >= 0) expect_step_matches_generator(ro, ro.last_step());
  }
  EXPECT_GT(reads_while_writing, 0);

  auto ro = RolloutStore::open(db, true);
  EXPECT_EQ(ro.db().scalar_text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(ro.last_step(), final_steps - 1);
  EXPECT_EQ(scalar(ro, "SELECT count(*) FROM steps"), final_steps);
  EXPECT_EQ(scalar(ro, "SELECT count(DISTINCT step) FROM samples"), final_steps);
  EXPECT_EQ(scalar(ro, "SELECT count(*) FROM samples"), final_steps * kPromptsPerStep * kGroupSize);
  EXPECT_EQ(scalar(ro, "SELECT count(*) FROM (SELECT 1 FROM samples GROUP BY step, prompt_id, group_id, group_index "
                       "HAVING count(*) > 1)"), 0);
  EXPECT_EQ(scalar(ro, "SELECT count(*) FROM (SELECT 1 FROM samples GROUP BY step, text, group_index "
                       "HAVING count(*) > 1)"), 0);
  EXPECT_EQ(scalar(ro, "SELECT count(*) FROM step_metrics WHERE key = 'reward/mean'"), final_steps);
  EXPECT_EQ(scalar(ro, "SELECT count(*) FROM run_sessions WHERE kind = 'start'"), 1);
  // A kill before resume_run() commits leaves no session row; one after it does, even before "start" is printed.
  const int64_t resumes = scalar(ro, "SELECT count(*) FROM run_sessions WHERE kind = 'resume'");
  EXPECT_GE(resumes, printed_starts - 1);
  EXPECT_LE(resumes, kKills);
  for (int64_t step : {int64_t{0}, final_steps / 2, final_steps - 1}) expect_step_matches_generator(ro, step);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace reasonrl::store

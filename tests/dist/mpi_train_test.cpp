// mpi_train_test.cpp: data-parallel training across real MPI ranks.
//  - `mpirun -np 2 reasonrl train` gives the same metrics and final weights as one process, within float tolerance
//    (plain GRPO with a reference model and batch-scaled advantages, and DAPO dynamic sampling);
//  - every collective works across ranks (dist_helper ok);
//  - a rank that hangs in a collective makes the job stop with a clear error after the watchdog timeout;
//  - a rank killed with SIGKILL makes the others stop (no hang) and the last checkpoint stays loadable.
// Built only with -DREASONRL_MPI=ON. A missing mpirun skips the cases locally and fails them in CI (tests/require.h).
#include <gtest/gtest.h>
#include "tests/require.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "model/model.h"
#include "rl/dist/dist.h"
#include "rl/train/run_dir.h"
#include "rl/train/sft.h"
#include "rl/util/config.h"
#include "tests/train/train_test_util.h"

namespace fs = std::filesystem;

namespace reasonrl::train {
namespace {

using testing::read_metrics;
using testing::scratch_dir;

const std::string kMpirun = "mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 ";

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Proc {
  pid_t pid = -1;
  std::string out, err;
};
// Starts `cmd` under /bin/sh in its own process group; stdout/stderr to files.
Proc start(const std::string& cmd, const std::string& tag) {
  Proc p;
  p.out = tag + ".out";
  p.err = tag + ".err";
  p.pid = fork();
  if (p.pid == 0) {
    setpgid(0, 0);
    const std::string full = cmd + " >" + p.out + " 2>" + p.err;
    execl("/bin/sh", "sh", "-c", full.c_str(), (char*)nullptr);
    _exit(127);
  }
  return p;
}
// Waits up to `seconds`; returns the exit status (or -1 after killing the group on timeout).
int finish(Proc& p, double seconds) {
  const double t0 = now();
  while (now() - t0 < seconds) {
    int st = 0;
    if (waitpid(p.pid, &st, WNOHANG) == p.pid) return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  kill(-p.pid, SIGKILL);
  waitpid(p.pid, nullptr, 0);
  return -1;
}
int run(const std::string& cmd, const std::string& tag, double seconds) {
  Proc p = start(cmd, tag);
  return finish(p, seconds);
}

// Pids of processes whose command line contains `needle` and whose environment has OMPI_COMM_WORLD_RANK=<rank>.
std::vector<pid_t> rank_pids(const std::string& needle, int rank) {
  std::vector<pid_t> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = slurp(e.path().string() + "/cmdline"), env = slurp(e.path().string() + "/environ");
    for (auto& c : cmdline) c = c ? c : ' ';
    if (cmdline.find(needle) == std::string::npos || cmdline.find("mpirun") != std::string::npos) continue;
    const std::string want = "OMPI_COMM_WORLD_RANK=" + std::to_string(rank);
    for (size_t at = 0; at < env.size();) {
      const size_t end = env.find('\0', at);
      if (env.substr(at, end - at) == want) out.push_back(pid_t(std::stol(name)));
      if (end == std::string::npos) break;
      at = end + 1;
    }
  }
  return out;
}

class MpiTrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!dist::built_with_mpi()) {
      skip_ = "this build has no MPI (configure with -DREASONRL_MPI=ON)";
      return;
    }
    if (std::system("command -v mpirun >/dev/null 2>&1") != 0) {
      skip_ = "mpirun is not installed (Debian openmpi-bin)";
      return;
    }
  }
  // The tiny SFT checkpoint the runs start from (built by the test that needs it: each case is its own process).
  static const std::string& sft() {
    if (sft_ckpt_.empty()) {
      const std::string dir = scratch_dir(std::string("dist_sft_") + ::testing::UnitTest::GetInstance()->current_test_info()->name());
      SftConfig c = testing::tiny_sft_config(dir, 30);
      c.data = data();
      c.threads = 1;  // OpenMP threads spin badly on a busy 2-core machine
      sft_ckpt_ = run_sft(c).checkpoint;
    }
    return sft_ckpt_;
  }
  void SetUp() override {
    REASONRL_REQUIRE_OR_SKIP(skip_.empty(), skip_);
  }
  // The tiny task, small enough that one-digit sums have that many distinct problems.
  static DataConfig data() {
    DataConfig d = testing::tiny_sft_config("", 0).data;
    d.train_size = 100;
    d.heldout_size = 10;
    return d;
  }
  static std::string write_config(TrainConfig cfg, const std::string& dir) {
    cfg.run_dir = dir;
    cfg.data = data();
    cfg.threads = 1;  // two ranks share this machine's cores
    const std::string path = dir + ".json";
    config_save_file(cfg, path);
    return path;
  }

  // One process and two ranks from the same config: metrics and final weights agree.
  void check_equal(const TrainConfig& cfg, const std::string& name) {
    const std::string a = scratch_dir(name + "_np1"), b = scratch_dir(name + "_np2");
    const std::string bin = std::string(REASONRL_BIN) + " train --config ";
    ASSERT_EQ(run(bin + write_config(cfg, a), a, 600), 0) << slurp(a + ".err");
    ASSERT_EQ(run(kMpirun + bin + write_config(cfg, b), b, 600), 0) << slurp(b + ".err");
    const auto ma = read_metrics(a + "/metrics.jsonl"), mb = read_metrics(b + "/metrics.jsonl");
    ASSERT_EQ(ma.size(), size_t(cfg.steps));
    ASSERT_EQ(mb.size(), ma.size()) << "the 2-rank run wrote a different number of metric rows";
    int compared = 0;
    for (const auto& [step, row] : ma) {
      const auto& other = mb.at(step);
      EXPECT_EQ(other.size(), row.size()) << "step " << step;
      for (const auto& [k, v] : row) {
        ASSERT_TRUE(other.count(k)) << "step " << step << " key " << k;
        if (std::isnan(v)) continue;
        EXPECT_NEAR(v, other.at(k), 1e-4 * std::max(1.0, std::fabs(v))) << "step " << step << " metric " << k;
        ++compared;
      }
    }
    EXPECT_GT(compared, 20);
    EXPECT_GT(ma.at(cfg.steps).at("samples"), 0.0);
    auto wa = model::load_model(latest_checkpoint(a)), wb = model::load_model(latest_checkpoint(b));
    auto w0 = model::load_model(sft());
    ASSERT_EQ(wa->params().size(), wb->params().size());
    double max_diff = 0, moved = 0;
    for (size_t i = 0; i < wa->params().size(); ++i) {
      max_diff = std::max(max_diff, double(std::fabs(wa->params()[i] - wb->params()[i])));
      moved = std::max(moved, double(std::fabs(wa->params()[i] - w0->params()[i])));
    }
    EXPECT_GT(moved, 1e-4) << "training did not change the weights: the comparison would prove nothing";
    EXPECT_LT(max_diff, 1e-5) << "final weights of 1 and 2 ranks differ by up to " << max_diff;
  }

  static std::string skip_, sft_ckpt_;
};
std::string MpiTrainTest::skip_, MpiTrainTest::sft_ckpt_;

TEST_F(MpiTrainTest, CollectivesAcrossTwoRanks) {
  const std::string d = scratch_dir("dist_helper");
  ASSERT_EQ(run(kMpirun + DIST_HELPER + std::string(" ok"), d + "/ok", 120), 0) << slurp(d + "/ok.err");
  EXPECT_NE(slurp(d + "/ok.out").find("dist helper ok (2 ranks)"), std::string::npos) << slurp(d + "/ok.out");
}

TEST_F(MpiTrainTest, GrpoWithReferenceAndBatchScaledAdvantagesMatchesOneProcess) {
  TrainConfig cfg = testing::tiny_train_config("", sft(), 4);
  cfg.rl.beta = 0.04;  // reference model and KL in the loss
  cfg.rl.scale_rewards = rl::ScaleRewards::Batch;  // advantages need every rank's rewards
  cfg.prompts_per_step = 3;  // uneven: rank 0 generates 2 groups, rank 1 one
  check_equal(cfg, "dist_grpo");
}

TEST_F(MpiTrainTest, DynamicSamplingMatchesOneProcess) {
  TrainConfig cfg = testing::tiny_train_config("", sft(), 3);
  cfg.rl.dynamic_sampling = true;
  cfg.prompts_per_step = 4;
  check_equal(cfg, "dist_dapo");
}

TEST_F(MpiTrainTest, PartialRolloutsAreRefusedWithSeveralRanks) {
  // refused before the checkpoint is read, so no SFT run is needed
  TrainConfig cfg = testing::tiny_train_config("", "/nonexistent-init-checkpoint", 2);
  cfg.rollout.partial_rollout = true;
  const std::string d = scratch_dir("dist_partial");
  EXPECT_NE(run(kMpirun + REASONRL_BIN + " train --config " + write_config(cfg, d), d, 120), 0);
  EXPECT_NE(slurp(d + ".err").find("partial_rollout is not supported with several MPI ranks"), std::string::npos)
      << slurp(d + ".err");
}

TEST_F(MpiTrainTest, HungRankStopsTheJobAfterTheTimeout) {
  const std::string d = scratch_dir("dist_hang");
  const double t0 = now();
  const int rc = run("REASONRL_DIST_TIMEOUT=2 " + kMpirun + DIST_HELPER + " hang", d + "/hang", 60);
  EXPECT_NE(rc, -1) << "the job hung (killed by the test after 60 s)";
  EXPECT_NE(rc, 0);
  EXPECT_LT(now() - t0, 45);
  const std::string err = slurp(d + "/hang.err");
  EXPECT_NE(err.find("rank 0 of 2: barrier did not complete within 2 s"), std::string::npos) << err;
  EXPECT_EQ(slurp(d + "/hang.out").find("barrier passed"), std::string::npos);
}

TEST_F(MpiTrainTest, KilledRankStopsTheOtherAndTheCheckpointStaysValid) {
  TrainConfig cfg = testing::tiny_train_config("", sft(), 20000);
  cfg.save_every = 1;
  const std::string d = scratch_dir("dist_kill");
  Proc p = start(kMpirun + REASONRL_BIN + " train --config " + write_config(cfg, d), d);
  // wait for two checkpoints, then kill -9 rank 1
  const double t0 = now();
  while (now() - t0 < 120 && (read_metrics(d + "/metrics.jsonl").size() < 2 || latest_checkpoint(d).empty()))
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto victims = rank_pids(d, 1);
  ASSERT_EQ(victims.size(), 1u) << "cannot find rank 1 of the run";
  ASSERT_EQ(kill(victims[0], SIGKILL), 0);
  const double t_kill = now();
  const int rc = finish(p, 60);
  ASSERT_NE(rc, -1) << "the surviving rank did not stop within 60 s of the kill";
  EXPECT_NE(rc, 0);
  EXPECT_LT(now() - t_kill, 60);
  EXPECT_TRUE(rank_pids(d, 0).empty()) << "rank 0 is still running";
  const std::string err = slurp(d + ".err");
  EXPECT_NE(err.find("rank 1"), std::string::npos) << err;  // the launcher names the dead rank
  const std::string last = latest_checkpoint(d);
  ASSERT_FALSE(last.empty());
  EXPECT_NO_THROW(model::load_model(last)) << last;
  EXPECT_LT(read_metrics(d + "/metrics.jsonl").size(), size_t(cfg.steps));
}

}  // namespace
}  // namespace reasonrl::train

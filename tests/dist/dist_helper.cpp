// dist_helper.cpp: a tiny MPI program for the dist tests. `dist_helper ok` checks every collective and the trainer's
// sharding helpers across real ranks and prints "dist helper ok"; `dist_helper hang` leaves rank 1 out of a barrier
// (as if it hung) so the watchdog must stop the job; `dist_helper bench N` times an all-reduce of N floats.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "rl/dist/dist.h"
#include "rl/dist/shard.h"

using namespace reasonrl;

static int fails = 0;
#define CHECK(c)                                                                              \
  do {                                                                                        \
    if (!(c)) {                                                                               \
      std::fprintf(stderr, "FAIL rank %d line %d: %s\n", dist::dist().rank, __LINE__, #c);     \
      ++fails;                                                                                \
    }                                                                                         \
  } while (0)

int main(int argc, char** argv) {
  dist::Session session(&argc, &argv);
  auto& D = dist::dist();
  const std::string mode = argc > 1 ? argv[1] : "ok";
  if (mode == "hang") {
    if (D.rank == 1) sleep(120);
    D.barrier();
    std::printf("barrier passed (unexpected)\n");
    return 0;
  }
  if (mode == "bench") {  // dist_helper bench N_FLOATS: seconds per all-reduce (for NOTES.md's cost model)
    const size_t n = argc > 2 ? size_t(std::stod(argv[2])) : size_t(1) << 20;
    std::vector<float> g(n, 1.0f);
    D.allreduce_sum(g.data(), n);  // warm-up
    const int reps = 10;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) D.allreduce_sum(g.data(), n);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
    if (D.rank == 0)
      std::printf("all-reduce of %zu floats (%.1f MB) over %d ranks: %.3f ms, %.2f GB/s\n", n, 4e-6 * double(n), D.size,
                  1e3 * s, 4e-9 * double(n) / s);
    return 0;
  }
  const int N = D.size, r = D.rank;
  CHECK(N >= 2);
  // sums and max
  float f[3] = {float(r), 1.0f, 0.5f * float(r)};
  D.allreduce_sum(f, 3);
  CHECK(f[0] == float(N * (N - 1) / 2) && f[1] == float(N));
  double m = double(r) + 0.25;
  D.allreduce_max(&m, 1);
  CHECK(m == double(N - 1) + 0.25);
  // broadcast from rank 0
  char buf[16] = {};
  if (r == 0) std::strcpy(buf, "from-root");
  D.broadcast(buf, sizeof(buf), 0);
  CHECK(std::string(buf) == "from-root");
  // variable-size gather and all-gather
  const std::string mine(size_t(r) + 1, char('a' + r));
  const auto g = D.gather(mine, 0);
  if (r == 0) {
    CHECK(int(g.size()) == N);
    for (int k = 0; k < N && k < int(g.size()); ++k) CHECK(g[size_t(k)] == std::string(size_t(k) + 1, char('a' + k)));
  } else {
    CHECK(g.empty());
  }
  const auto ag = D.allgather(mine);
  CHECK(int(ag.size()) == N);
  for (int k = 0; k < N && k < int(ag.size()); ++k) CHECK(ag[size_t(k)] == std::string(size_t(k) + 1, char('a' + k)));
  // sharding: 5 groups of G = 2 over N ranks, gathered back in one-process order
  const std::vector<int> ids = {10, 11, 12, 13, 14};
  const auto my = dist::shard(ids);
  std::vector<int> pids, ncs;
  std::vector<double> rw;
  for (int id : my) {
    pids.push_back(id);
    ncs.push_back(id % 3);
    rw.push_back(id + 0.5);
    rw.push_back(id + 0.25);
  }
  dist::allgather_round(pids, ncs, rw, 2);
  CHECK(pids == ids);
  for (size_t k = 0; k < ids.size() && k < ncs.size(); ++k) {
    CHECK(ncs[k] == ids[k] % 3);
    CHECK(rw[2 * k] == ids[k] + 0.5 && rw[2 * k + 1] == ids[k] + 0.25);
  }
  // positions: rank r owns positions r, r + N, ...
  std::vector<int> pos;
  std::vector<double> vals;
  for (int p = r; p < 7; p += N) {
    pos.push_back(p);
    vals.push_back(p * 10.0);
  }
  const auto all = dist::allgather_positions(pos, vals, 1);
  CHECK(all.size() == 7);
  for (size_t p = 0; p < all.size(); ++p) CHECK(all[p] == double(p) * 10.0);
  CHECK(dist::select_positions(all, pos, 1) == vals);
  // sample rows: rank 0 gets them in (group_id, group_index) order
  std::vector<store::SampleRecord> rows;
  for (int p : pos)
    for (int k = 1; k >= 0; --k) {
      store::SampleRecord s;
      s.group_id = p;
      s.group_index = k;
      s.text = "r" + std::to_string(r);
      s.reward_components["accuracy"] = k == 0 ? std::optional<double>(1.0) : std::nullopt;
      rows.push_back(s);
    }
  const auto rows0 = dist::gather_samples(rows);
  if (r == 0) {
    CHECK(rows0.size() == 14);
    for (size_t i = 0; i < rows0.size(); ++i) {
      CHECK(rows0[i].group_id == int(i / 2) && rows0[i].group_index == int(i % 2));
      CHECK(rows0[i].text == "r" + std::to_string(int(i / 2) % N));
      CHECK(rows0[i].reward_components.at("accuracy").has_value() == (rows0[i].group_index == 0));
    }
  } else {
    CHECK(rows0.empty());
  }
  D.barrier();
  int bad = fails;
  double fsum = bad;
  D.allreduce_sum(&fsum, 1);
  if (r == 0 && fsum == 0) std::printf("dist helper ok (%d ranks)\n", N);
  return fsum == 0 ? 0 : 1;
}

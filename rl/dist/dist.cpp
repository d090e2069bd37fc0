// dist.cpp: the process group: MPI collectives polled with sleeps and a timeout, or the one-process identity.
#include "rl/dist/dist.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "rl/util/error.h"
#include "rl/util/log.h"

#ifdef REASONRL_HAVE_MPI
#include <mpi.h>
#endif

namespace reasonrl::dist {

Dist& dist() {
  static Dist d;
  return d;
}

bool built_with_mpi() {
#ifdef REASONRL_HAVE_MPI
  return true;
#else
  return false;
#endif
}

[[noreturn]] void Dist::abort(const std::string& why, int code) {
  std::fprintf(stderr, "error: rank %d of %d: %s\n", rank, size, why.c_str());
  std::fflush(stderr);
#ifdef REASONRL_HAVE_MPI
  if (mpi) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::_Exit(code);
}

#ifdef REASONRL_HAVE_MPI
namespace {

constexpr size_t kChunk = size_t(1) << 26;  // elements per MPI call (counts are int)

void check(Dist& d, int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  d.abort(std::string(what) + " failed: " + std::string(msg, size_t(len)) + " (another rank probably died)");
}

// Polls `req` with short sleeps (blocking MPI calls spin a core), up to the timeout.
void wait(Dist& d, MPI_Request& req, const char* what) {
  const double t0 = now_seconds();
  int flag = 0;
  for (long polls = 0;; ++polls) {
    check(d, MPI_Test(&req, &flag, MPI_STATUS_IGNORE), what);
    if (flag) return;
    if (polls < 200) continue;  // fast path for short collectives
    if (now_seconds() - t0 > d.timeout_s)
      d.abort(std::string(what) + " did not complete within " + std::to_string(int(d.timeout_s)) +
              " s: another rank died or hangs; stopping every rank (set REASONRL_DIST_TIMEOUT to change the limit; "
              "the last checkpoint in <run_dir>/checkpoints stays valid)");
    std::this_thread::sleep_for(std::chrono::microseconds(polls < 2000 ? 50 : 1000));
  }
}

template <class T>
void allreduce(Dist& d, T* x, size_t n, MPI_Datatype type, MPI_Op op, const char* what) {
  for (size_t i = 0; i < n; i += kChunk) {
    const int c = int(std::min(kChunk, n - i));
    MPI_Request req;
    check(d, MPI_Iallreduce(MPI_IN_PLACE, x + i, c, type, op, MPI_COMM_WORLD, &req), what);
    wait(d, req, what);
  }
}

}  // namespace

void Dist::allreduce_sum(float* x, size_t n) {
  if (size > 1) allreduce(*this, x, n, MPI_FLOAT, MPI_SUM, "all-reduce (sum)");
}
void Dist::allreduce_sum(double* x, size_t n) {
  if (size > 1) allreduce(*this, x, n, MPI_DOUBLE, MPI_SUM, "all-reduce (sum)");
}
void Dist::allreduce_max(double* x, size_t n) {
  if (size > 1) allreduce(*this, x, n, MPI_DOUBLE, MPI_MAX, "all-reduce (max)");
}

void Dist::broadcast(void* data, size_t bytes, int root) {
  if (size <= 1) return;
  auto* p = static_cast<char*>(data);
  for (size_t i = 0; i < bytes; i += kChunk) {
    MPI_Request req;
    check(*this, MPI_Ibcast(p + i, int(std::min(kChunk, bytes - i)), MPI_BYTE, root, MPI_COMM_WORLD, &req), "broadcast");
    wait(*this, req, "broadcast");
  }
}

std::vector<std::string> Dist::gather(const std::string& bytes, int root) {
  if (size <= 1) return {bytes};
  if (bytes.size() > size_t(INT_MAX)) throw CapacityError("dist gather: " + std::to_string(bytes.size()) + " bytes exceed 2 GiB");
  int mine = int(bytes.size());
  std::vector<int> counts(size_t(size), 0), displs(size_t(size), 0);
  MPI_Request req;
  check(*this, MPI_Igather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, root, MPI_COMM_WORLD, &req), "gather");
  wait(*this, req, "gather");
  std::string all;
  if (rank == root) {
    long total = 0;
    for (int r = 0; r < size; ++r) {
      displs[size_t(r)] = int(total);
      total += counts[size_t(r)];
    }
    if (total > INT_MAX) throw CapacityError("dist gather: " + std::to_string(total) + " bytes exceed 2 GiB");
    all.resize(size_t(total));
  }
  check(*this,
        MPI_Igatherv(bytes.data(), mine, MPI_BYTE, all.data(), counts.data(), displs.data(), MPI_BYTE, root, MPI_COMM_WORLD,
                     &req),
        "gather");
  wait(*this, req, "gather");
  std::vector<std::string> out;
  if (rank == root)
    for (int r = 0; r < size; ++r) out.push_back(all.substr(size_t(displs[size_t(r)]), size_t(counts[size_t(r)])));
  return out;
}

std::vector<std::string> Dist::allgather(const std::string& bytes) {
  if (size <= 1) return {bytes};
  if (bytes.size() > size_t(INT_MAX)) throw CapacityError("dist allgather: " + std::to_string(bytes.size()) + " bytes exceed 2 GiB");
  int mine = int(bytes.size());
  std::vector<int> counts(size_t(size), 0), displs(size_t(size), 0);
  MPI_Request req;
  check(*this, MPI_Iallgather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD, &req), "all-gather");
  wait(*this, req, "all-gather");
  long total = 0;
  for (int r = 0; r < size; ++r) {
    displs[size_t(r)] = int(total);
    total += counts[size_t(r)];
  }
  if (total > INT_MAX) throw CapacityError("dist allgather: " + std::to_string(total) + " bytes exceed 2 GiB");
  std::string all(size_t(total), '\0');
  check(*this,
        MPI_Iallgatherv(bytes.data(), mine, MPI_BYTE, all.data(), counts.data(), displs.data(), MPI_BYTE, MPI_COMM_WORLD, &req),
        "all-gather");
  wait(*this, req, "all-gather");
  std::vector<std::string> out;
  for (int r = 0; r < size; ++r) out.push_back(all.substr(size_t(displs[size_t(r)]), size_t(counts[size_t(r)])));
  return out;
}

void Dist::barrier() {
  if (size <= 1) return;
  MPI_Request req;
  check(*this, MPI_Ibarrier(MPI_COMM_WORLD, &req), "barrier");
  wait(*this, req, "barrier");
}

#else  // one process: every collective is the identity

void Dist::allreduce_sum(float*, size_t) {}
void Dist::allreduce_sum(double*, size_t) {}
void Dist::allreduce_max(double*, size_t) {}
void Dist::broadcast(void*, size_t, int) {}
std::vector<std::string> Dist::gather(const std::string& bytes, int) { return {bytes}; }
std::vector<std::string> Dist::allgather(const std::string& bytes) { return {bytes}; }
void Dist::barrier() {}

#endif

namespace {
bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("PMI_RANK");
}
}  // namespace

Session::Session([[maybe_unused]] int* argc, [[maybe_unused]] char*** argv) {
  Dist& d = dist();
  if (const char* t = std::getenv("REASONRL_DIST_TIMEOUT")) {
    char* end = nullptr;
    const double v = std::strtod(t, &end);
    if (end == t || *end != '\0' || !(v > 0)) {
      std::fprintf(stderr, "error: REASONRL_DIST_TIMEOUT='%s' is not a positive number of seconds\n", t);
      std::exit(1);
    }
    d.timeout_s = v;
  }
#ifdef REASONRL_HAVE_MPI
  if (!launched_by_mpi()) return;
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    std::fprintf(stderr, "error: MPI_Init_thread failed\n");
    std::exit(1);
  }
  d.mpi = true;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &d.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &d.size);
  if (d.rank != 0) set_log_level(LogLevel::Warn);
#else
  if (launched_by_mpi() && std::getenv("OMPI_COMM_WORLD_SIZE") && std::string(std::getenv("OMPI_COMM_WORLD_SIZE")) != "1") {
    std::fprintf(stderr, "error: launched by mpirun with several processes, but this reasonrl was built without MPI "
                         "(configure with -DREASONRL_MPI=ON)\n");
    std::exit(1);
  }
#endif
}

Session::~Session() {
#ifdef REASONRL_HAVE_MPI
  Dist& d = dist();
  if (!d.mpi) return;
  d.barrier();  // wait (sleeping, not spinning) for rank 0's evaluation and checkpoint
  MPI_Finalize();
  d.mpi = false;
#endif
}

int Session::fail(int code) {
  Dist& d = dist();
  if (d.size > 1) d.abort("this rank failed (see the error above); stopping the other ranks", code);
  return code;
}

}  // namespace reasonrl::dist

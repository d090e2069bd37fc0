// dist.h: the data-parallel process group: MPI when built with REASONRL_MPI and launched by mpirun, else one process.
//
// Every collective is non-blocking underneath and polled with short sleeps, so a rank waiting for a slower one costs
// almost no CPU, and a collective that does not complete within the timeout (a rank died or hangs) stops the whole
// job with a clear message instead of hanging. Timeout: env REASONRL_DIST_TIMEOUT (seconds, default 1800).
//
// Usage:
//   int main(int argc, char** argv) { reasonrl::dist::Session s(&argc, &argv); ...; return s.fail(1) on error; }
//   auto& D = reasonrl::dist::dist();
//   if (D.size > 1) D.allreduce_sum(grads.data(), grads.size());
// With one process (no MPI build, or not launched by mpirun) rank = 0, size = 1 and every collective is the identity.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace reasonrl::dist {

struct Dist {
  int rank = 0;
  int size = 1;
  bool mpi = false;          // MPI_Init was called by this process
  double timeout_s = 1800;   // a collective that takes longer stops the job

  bool is_root() const { return rank == 0; }

  void allreduce_sum(float* x, size_t n);
  void allreduce_sum(double* x, size_t n);
  void allreduce_max(double* x, size_t n);
  // Root's bytes to every rank (the size must agree on every rank).
  void broadcast(void* data, size_t bytes, int root = 0);
  // Variable-size byte strings: on root, one per rank (rank order); elsewhere empty.
  std::vector<std::string> gather(const std::string& bytes, int root = 0);
  // Variable-size byte strings to every rank, one per rank (rank order).
  std::vector<std::string> allgather(const std::string& bytes);
  void barrier();
  // Stops every rank of the job (MPI_Abort) after printing `why`; with one process, exits.
  [[noreturn]] void abort(const std::string& why, int code = 1);
};

// The process group of this process (rank 0 of 1 until a Session initialises MPI).
Dist& dist();

// Initialises MPI in its constructor when this build has MPI and the process was launched by an MPI launcher
// (OMPI_COMM_WORLD_SIZE / PMIX_RANK / PMI_RANK in the environment); finalises in its destructor. Non-root ranks
// log warnings and errors only.
class Session {
 public:
  Session(int* argc, char*** argv);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  // Call when the command failed on this rank (after printing the error): with several ranks, aborts the job so
  // the others do not wait for it; otherwise returns `code`.
  int fail(int code);
};

// True when this binary was built with MPI support.
bool built_with_mpi();

}  // namespace reasonrl::dist

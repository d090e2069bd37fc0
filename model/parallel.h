// parallel.h: loops that enter OpenMP only when they will really run on several threads. A region whose `if`
// clause is false still goes through libgomp (a futex syscall per region), which cost ~7% of batch-1 decoding.
#pragma once
#include <omp.h>

namespace reasonrl::model {

// body(i) for i in [0, n): split statically over the OpenMP threads when `parallel`, else a plain loop.
template <class F>
inline void parallel_for(int n, bool parallel, F&& body) {
  if (parallel && n > 1 && omp_get_max_threads() > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; ++i) body(i);
  } else {
    for (int i = 0; i < n; ++i) body(i);
  }
}

// The same with one iteration at a time handed to the next free thread (iterations of uneven cost).
template <class F>
inline void parallel_for_dynamic(int n, bool parallel, F&& body) {
  if (parallel && n > 1 && omp_get_max_threads() > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n; ++i) body(i);
  } else {
    for (int i = 0; i < n; ++i) body(i);
  }
}

}  // namespace reasonrl::model

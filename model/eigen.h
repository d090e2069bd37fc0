// eigen.h: Eigen/Dense for the files that use it. GCC 12.2 reports false -Wmaybe-uninitialized in its own AVX-512
// intrinsics (the `__Y = __Y` of _mm512_undefined_*, GCC PR 105593) once Eigen's GEMM is inlined under -march=native:
// hundreds of lines per file. The pragma covers Eigen's code only; warnings in our code are still reported.
// Also the row-major matrix and map aliases the kernels share.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <Eigen/Dense>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace reasonrl::model {
template <class S>
using RowMat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class S>
using MapM = Eigen::Map<RowMat<S>>;
template <class S>
using MapCM = Eigen::Map<const RowMat<S>>;
}  // namespace reasonrl::model

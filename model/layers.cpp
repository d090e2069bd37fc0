// layers.cpp: kernels of layers.h (Eigen for the GEMMs, OpenMP across tokens / heads), and their scalar references.
#include "model/layers.h"

#include <omp.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <vector>

namespace reasonrl::model {

template <class S>
using RowMat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class S>
using MapM = Eigen::Map<RowMat<S>>;
template <class S>
using MapCM = Eigen::Map<const RowMat<S>>;

// ---- linear --------------------------------------------------------------------------------------
template <class S>
void linear_forward(S* y, const S* x, const S* w, int N, int I, int O) {
  if (N == 0 || O == 0) return;
  MapM<S> Y(y, N, O);
  if (I == 0) {
    Y.setZero();
    return;
  }
  MapCM<S> X(x, N, I), W(w, O, I);
  if (N <= 16) {
    // Eigen's GEMM is slow for tiny N on this machine: one GEMV per row (W stays in cache).
    for (int n = 0; n < N; ++n) {
      Eigen::Map<Eigen::Matrix<S, Eigen::Dynamic, 1>> yv(y + size_t(n) * O, O);
      yv.noalias() = W * Eigen::Map<const Eigen::Matrix<S, Eigen::Dynamic, 1>>(x + size_t(n) * I, I);
    }
  } else {
    Y.noalias() = X * W.transpose();
  }
}

template <class S>
void linear_backward(S* dx, S* dw, const S* dy, const S* x, const S* w, int N, int I, int O) {
  if (N == 0 || O == 0 || I == 0) return;
  MapCM<S> dY(dy, N, O);
  if (dx) {
    MapM<S> dX(dx, N, I);
    dX.noalias() += dY * MapCM<S>(w, O, I);
  }
  if (dw) {
    MapM<S> dW(dw, O, I);
    dW.noalias() += dY.transpose() * MapCM<S>(x, N, I);
  }
}

template <class S>
void linear_forward_ref(S* y, const S* x, const S* w, int N, int I, int O) {
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < O; ++o) {
      S acc = 0;
      for (int i = 0; i < I; ++i) acc += x[size_t(n) * I + i] * w[size_t(o) * I + i];
      y[size_t(n) * O + o] = acc;
    }
}

template <class S>
void linear_backward_ref(S* dx, S* dw, const S* dy, const S* x, const S* w, int N, int I, int O) {
  for (int n = 0; n < N; ++n)
    for (int o = 0; o < O; ++o) {
      const S g = dy[size_t(n) * O + o];
      for (int i = 0; i < I; ++i) {
        if (dx) dx[size_t(n) * I + i] += g * w[size_t(o) * I + i];
        if (dw) dw[size_t(o) * I + i] += g * x[size_t(n) * I + i];
      }
    }
}

// ---- RMSNorm ---------------------------------------------------------------------------------------
template <class S>
void rmsnorm_forward(S* y, S* rstd, const S* x, const S* w, int N, int D, double eps) {
#pragma omp parallel for schedule(static) if (size_t(N) * D > 32768)
  for (int n = 0; n < N; ++n) {
    const S* xr = x + size_t(n) * D;
    S* yr = y + size_t(n) * D;
    S ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int i = 0; i < D; ++i) ss += xr[i] * xr[i];
    const S r = S(1) / std::sqrt(ss / S(D) + S(eps));
    rstd[n] = r;
    for (int i = 0; i < D; ++i) yr[i] = xr[i] * r * w[i];
  }
}

template <class S>
void rmsnorm_backward(S* dx, S* dw, const S* dy, const S* x, const S* w, const S* rstd, int N, int D) {
  if (dx) {
#pragma omp parallel for schedule(static) if (size_t(N) * D > 32768)
    for (int n = 0; n < N; ++n) {
      const S* xr = x + size_t(n) * D;
      const S* gr = dy + size_t(n) * D;
      S* dr = dx + size_t(n) * D;
      const S r = rstd[n];
      S dot = 0;  // sum_j w_j dy_j x_j
#pragma omp simd reduction(+ : dot)
      for (int i = 0; i < D; ++i) dot += w[i] * gr[i] * xr[i];
      const S c = r * r * dot / S(D);
      for (int i = 0; i < D; ++i) dr[i] += r * (w[i] * gr[i] - xr[i] * c);
    }
  }
  if (dw) {
    // Serial over n per column block keeps the sum order fixed (same result for any thread count).
#pragma omp parallel for schedule(static) if (size_t(N) * D > 32768)
    for (int i0 = 0; i0 < D; i0 += 16) {
      const int i1 = std::min(D, i0 + 16);
      S acc[16] = {};
      for (int n = 0; n < N; ++n) {
        const S r = rstd[n];
        for (int i = i0; i < i1; ++i) acc[i - i0] += dy[size_t(n) * D + i] * x[size_t(n) * D + i] * r;
      }
      for (int i = i0; i < i1; ++i) dw[i] += acc[i - i0];
    }
  }
}

// ---- RoPE ----------------------------------------------------------------------------------------
template <class S>
void rope_apply(S* x, int N, int tok_stride, int nvec, int vec_stride, const int32_t* pos, int Dr, double theta,
                int sign) {
  const int P = Dr / 2;
  std::vector<double> inv_freq(P);
  for (int i = 0; i < P; ++i) inv_freq[i] = std::pow(theta, -2.0 * i / Dr);
#pragma omp parallel for schedule(static) if (size_t(N) * nvec * Dr > 65536)
  for (int n = 0; n < N; ++n) {
    S cs[256], sn[256];  // Dr/2 <= 256 (checked by the model)
    for (int i = 0; i < P; ++i) {
      const double a = double(pos[n]) * inv_freq[i];
      cs[i] = S(std::cos(a));
      sn[i] = S(sign * std::sin(a));
    }
    for (int v = 0; v < nvec; ++v) {
      S* p = x + size_t(n) * tok_stride + size_t(v) * vec_stride;
      for (int i = 0; i < P; ++i) {
        const S a = p[2 * i], b = p[2 * i + 1];
        p[2 * i] = a * cs[i] - b * sn[i];
        p[2 * i + 1] = a * sn[i] + b * cs[i];
      }
    }
  }
}

// ---- SwiGLU --------------------------------------------------------------------------------------
template <class S>
void swiglu_forward(S* a, const S* gu, int N, int F) {
#pragma omp parallel for schedule(static) if (size_t(N) * F > 65536)
  for (int n = 0; n < N; ++n) {
    const S* g = gu + size_t(n) * 2 * F;
    const S* u = g + F;
    S* ar = a + size_t(n) * F;
    for (int i = 0; i < F; ++i) ar[i] = g[i] / (S(1) + std::exp(-g[i])) * u[i];
  }
}

template <class S>
void swiglu_backward(S* dgu, const S* da, const S* gu, int N, int F) {
#pragma omp parallel for schedule(static) if (size_t(N) * F > 65536)
  for (int n = 0; n < N; ++n) {
    const S* g = gu + size_t(n) * 2 * F;
    const S* u = g + F;
    const S* d = da + size_t(n) * F;
    S* dg = dgu + size_t(n) * 2 * F;
    S* du = dg + F;
    for (int i = 0; i < F; ++i) {
      const S sg = S(1) / (S(1) + std::exp(-g[i]));
      const S silu = g[i] * sg;
      du[i] = d[i] * silu;
      dg[i] = d[i] * u[i] * sg * (S(1) + g[i] * (S(1) - sg));
    }
  }
}

// ---- MLA attention (expanded) ----------------------------------------------------------------------
// Per (row b, head h) the products are small GEMMs over strided views of q / kv / kpe (Eigen, single-threaded inside
// the OpenMP region over b*h). The full T x T score block is computed and the upper triangle masked.
template <class S>
using StrMap = Eigen::Map<const RowMat<S>, 0, Eigen::OuterStride<>>;
template <class S>
using StrMapW = Eigen::Map<RowMat<S>, 0, Eigen::OuterStride<>>;

template <class S>
void mla_attention_forward(S* o, S* att, const S* q, const S* kv, const S* kpe, int B, int T, int H, int Dn, int Dr,
                           int Dv, double scale) {
  const int Dq = Dn + Dr, Dkv = Dn + Dv;
  const S sc = S(scale);
#pragma omp parallel for collapse(2) schedule(static)
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h) {
      const size_t r0 = size_t(b) * T * H + h;  // (token b*T, head h)
      StrMap<S> Qn(q + r0 * Dq, T, Dn, Eigen::OuterStride<>(H * Dq));
      StrMap<S> Qp(q + r0 * Dq + Dn, T, Dr, Eigen::OuterStride<>(H * Dq));
      StrMap<S> Kn(kv + r0 * Dkv, T, Dn, Eigen::OuterStride<>(H * Dkv));
      StrMap<S> Vv(kv + r0 * Dkv + Dn, T, Dv, Eigen::OuterStride<>(H * Dkv));
      StrMap<S> Kp(kpe + size_t(b) * T * Dr, T, Dr, Eigen::OuterStride<>(Dr));
      MapM<S> A(att + (size_t(b) * H + h) * T * T, T, T);
      A.noalias() = Qn * Kn.transpose();
      A.noalias() += Qp * Kp.transpose();
      for (int t = 0; t < T; ++t) {
        S* a = &A(t, 0);
        S mx = -INFINITY;
        for (int j = 0; j <= t; ++j) {
          a[j] *= sc;
          mx = std::max(mx, a[j]);
        }
        S sum = 0;
        for (int j = 0; j <= t; ++j) {
          a[j] = std::exp(a[j] - mx);
          sum += a[j];
        }
        const S inv = S(1) / sum;
        for (int j = 0; j <= t; ++j) a[j] *= inv;
        for (int j = t + 1; j < T; ++j) a[j] = 0;
      }
      StrMapW<S> O(o + r0 * Dv, T, Dv, Eigen::OuterStride<>(H * Dv));
      O.noalias() = A * Vv;
    }
}

template <class S>
void mla_attention_backward(S* dq, S* dkv, S* dkpe, const S* dout, const S* att, const S* q, const S* kv,
                            const S* kpe, int B, int T, int H, int Dn, int Dr, int Dv, double scale) {
  const int Dq = Dn + Dr, Dkv = Dn + Dv;
  const S sc = S(scale);
  const size_t N = size_t(B) * T;
  std::vector<S> dkpe_h(N * H * Dr);  // (B, H, T, Dr): per-head share of dk_R, summed below
#pragma omp parallel
  {
    RowMat<S> dP(T, T);
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < B; ++b)
      for (int h = 0; h < H; ++h) {
        const size_t r0 = size_t(b) * T * H + h;
        StrMap<S> Qn(q + r0 * Dq, T, Dn, Eigen::OuterStride<>(H * Dq));
        StrMap<S> Qp(q + r0 * Dq + Dn, T, Dr, Eigen::OuterStride<>(H * Dq));
        StrMap<S> Kn(kv + r0 * Dkv, T, Dn, Eigen::OuterStride<>(H * Dkv));
        StrMap<S> Vv(kv + r0 * Dkv + Dn, T, Dv, Eigen::OuterStride<>(H * Dkv));
        StrMap<S> Kp(kpe + size_t(b) * T * Dr, T, Dr, Eigen::OuterStride<>(Dr));
        StrMap<S> dO(dout + r0 * Dv, T, Dv, Eigen::OuterStride<>(H * Dv));
        MapCM<S> A(att + (size_t(b) * H + h) * T * T, T, T);
        dP.noalias() = dO * Vv.transpose();
        for (int t = 0; t < T; ++t) {  // dS = P * (dP - sum_j P dP) * scale, in place
          const S* a = A.data() + size_t(t) * T;
          S* d = &dP(t, 0);
          S sum = 0;
          for (int j = 0; j <= t; ++j) sum += a[j] * d[j];
          for (int j = 0; j <= t; ++j) d[j] = a[j] * (d[j] - sum) * sc;
          for (int j = t + 1; j < T; ++j) d[j] = 0;
        }
        StrMapW<S> dQn(dq + r0 * Dq, T, Dn, Eigen::OuterStride<>(H * Dq));
        StrMapW<S> dQp(dq + r0 * Dq + Dn, T, Dr, Eigen::OuterStride<>(H * Dq));
        StrMapW<S> dKn(dkv + r0 * Dkv, T, Dn, Eigen::OuterStride<>(H * Dkv));
        StrMapW<S> dV(dkv + r0 * Dkv + Dn, T, Dv, Eigen::OuterStride<>(H * Dkv));
        MapM<S> dKp(dkpe_h.data() + (size_t(b) * H + h) * T * Dr, T, Dr);
        dQn.noalias() = dP * Kn;
        dQp.noalias() = dP * Kp;
        dKn.noalias() = dP.transpose() * Qn;
        dKp.noalias() = dP.transpose() * Qp;
        dV.noalias() = A.transpose() * dO;
      }
  }
#pragma omp parallel for schedule(static) if (N * H * Dr > 65536)
  for (size_t n = 0; n < N; ++n) {
    const size_t b = n / T, t = n % T;
    for (int d = 0; d < Dr; ++d) {
      S s = 0;
      for (int h = 0; h < H; ++h) s += dkpe_h[((b * H + h) * T + t) * Dr + d];
      dkpe[n * Dr + d] = s;
    }
  }
}

// ---- cross-entropy -------------------------------------------------------------------------------
template <class S>
double softmax_xent(const S* logits, const int32_t* target, const S* w, S* dlogits, S scale, int N, int V) {
  double total = 0;
#pragma omp parallel for schedule(static) reduction(+ : total)
  for (int n = 0; n < N; ++n) {
    const S wn = w ? w[n] : S(1);
    const S* l = logits + size_t(n) * V;
    S* d = dlogits ? dlogits + size_t(n) * V : nullptr;
    if (wn == S(0)) {
      if (d) std::fill(d, d + V, S(0));
      continue;
    }
    S mx = l[0];
    for (int v = 1; v < V; ++v) mx = std::max(mx, l[v]);
    S sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int v = 0; v < V; ++v) sum += std::exp(l[v] - mx);
    const S lse = mx + std::log(sum);
    total += double(wn) * double(lse - l[target[n]]);
    if (d) {
      const S c = scale * wn;
      const int32_t tg = target[n];
#pragma omp simd
      for (int v = 0; v < V; ++v) d[v] = c * std::exp(l[v] - lse);
      d[tg] -= c;
    }
  }
  return total;
}

#define REASONRL_INSTANTIATE(S)                                                                               \
  template void linear_forward<S>(S*, const S*, const S*, int, int, int);                                     \
  template void linear_backward<S>(S*, S*, const S*, const S*, const S*, int, int, int);                      \
  template void linear_forward_ref<S>(S*, const S*, const S*, int, int, int);                                 \
  template void linear_backward_ref<S>(S*, S*, const S*, const S*, const S*, int, int, int);                  \
  template void rmsnorm_forward<S>(S*, S*, const S*, const S*, int, int, double);                             \
  template void rmsnorm_backward<S>(S*, S*, const S*, const S*, const S*, const S*, int, int);                \
  template void rope_apply<S>(S*, int, int, int, int, const int32_t*, int, double, int);                      \
  template void swiglu_forward<S>(S*, const S*, int, int);                                                    \
  template void swiglu_backward<S>(S*, const S*, const S*, int, int);                                         \
  template void mla_attention_forward<S>(S*, S*, const S*, const S*, const S*, int, int, int, int, int, int,  \
                                         double);                                                             \
  template void mla_attention_backward<S>(S*, S*, S*, const S*, const S*, const S*, const S*, const S*, int,  \
                                          int, int, int, int, int, double);                                   \
  template double softmax_xent<S>(const S*, const int32_t*, const S*, S*, S, int, int);
REASONRL_INSTANTIATE(float)
REASONRL_INSTANTIATE(double)

}  // namespace reasonrl::model

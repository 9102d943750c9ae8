// The element-wise update of torch.optim.Adam over a range of parameters, in vectors:
//   m = b1 m + c1 g,  v = b2 v + c2 g^2,  p -= step_size m / (sqrt(v) / bc2_sqrt + eps).
// The square root and the division are the IEEE operations of the vector unit, as std::sqrt and
// `/` per element, which the compiler leaves scalar (std::sqrt may set errno) and Eigen would
// replace with an approximation (rsqrt + one Newton step): scalar, the update took 20 of the
// 99 ms of cifar10-9l's optimiser step on one thread of an Intel Xeon. The last partial vector
// goes through the same vector code, so every element is computed alike. nvcc compiles this
// header (nn/optimizer.hpp is shared with the CUDA trainer) and gets the plain loop, as does a
// CODA_NO_SIMD build.
#pragma once

#include <cmath>
#include <cstddef>

#include "coda/core/diagnostics.hpp"

#if !defined(CODA_NO_SIMD) && !defined(__CUDACC__)
// _mm512_sqrt_pd has the pass-through operand of GCC bug 105593 (core/diagnostics.hpp), checked
// where the intrinsics are defined: here, when this is the first header to include them.
CODA_BEGIN_EIGEN_REDUCTIONS
#include <xsimd/xsimd.hpp>
CODA_END_EIGEN_REDUCTIONS
#endif

namespace coda::simd {

template <class T>
struct adam_constants {
  T b1, b2, c1, c2, step_size, bc2_sqrt, eps;
};

template <class T>
inline void adam_update(std::size_t n, T* p, const T* g, T* m, T* v, const adam_constants<T>& k) {
#if !defined(CODA_NO_SIMD) && !defined(__CUDACC__)
  using batch = xsimd::batch<T>;
  constexpr std::size_t W = batch::size;
  const auto update = [&](T* pi, const T* gi, T* mi, T* vi) {
    const batch gv = batch::load_unaligned(gi);
    const batch mv = xsimd::fma(batch::load_unaligned(mi), batch(k.b1), gv * batch(k.c1));
    const batch vv = xsimd::fma(batch::load_unaligned(vi), batch(k.b2), gv * gv * batch(k.c2));
    mv.store_unaligned(mi);
    vv.store_unaligned(vi);
    (batch::load_unaligned(pi) - batch(k.step_size) * mv / (xsimd::sqrt(vv) / batch(k.bc2_sqrt) + batch(k.eps))).store_unaligned(pi);
  };
  std::size_t i = 0;
  for (; i + W <= n; i += W) update(p + i, g + i, m + i, v + i);
  if (i < n) {
    T pt[W] = {}, gt[W] = {}, mt[W] = {}, vt[W] = {};
    const std::size_t r = n - i;
    for (std::size_t j = 0; j < r; ++j) {
      pt[j] = p[i + j];
      gt[j] = g[i + j];
      mt[j] = m[i + j];
      vt[j] = v[i + j];
    }
    update(pt, gt, mt, vt);
    for (std::size_t j = 0; j < r; ++j) {
      p[i + j] = pt[j];
      m[i + j] = mt[j];
      v[i + j] = vt[j];
    }
  }
#else
  for (std::size_t i = 0; i < n; ++i) {
    m[i] = m[i] * k.b1 + g[i] * k.c1;
    v[i] = v[i] * k.b2 + g[i] * g[i] * k.c2;
    p[i] -= k.step_size * m[i] / (std::sqrt(v[i]) / k.bc2_sqrt + k.eps);
  }
#endif
}

}  // namespace coda::simd

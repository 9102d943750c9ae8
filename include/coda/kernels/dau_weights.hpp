// The parameters of one DAU layer as the kernels see them, and the static quantities derived
// from them. Layouts follow the authors' PyTorch modules (see docs/coda-math.md in shared/):
//   a     [R][J]       the rank convolution, J = C_in*k*k in unfold order
//   b     [J][O][R]    the 1x1 convolution's weight; its row c = j*O + o (j-major)
//   bias  [J][O]
// Derived (recomputed whenever the parameters change) so that |w|^2 never needs w:
//   gram       [O][R][R]  G_o = B_o^T B_o
//   gram_bias  [O][R]     B_o^T b_o
//   bias_norm2 [O]        |b_o|^2
#pragma once

#include "coda/core/arena.hpp"
#include "coda/kernels/gemm.hpp"
#include "coda/kernels/patches.hpp"

namespace coda::kernels {

struct dau_dims {
  conv_dims conv;  ///< the input image and the convolution geometry
  index_t c_out;
  index_t rank;

  constexpr index_t patch_size() const { return conv.patch_size(); }
  constexpr index_t positions() const { return conv.positions(); }
  constexpr index_t output_size() const { return c_out * positions(); }
};

template <class T>
struct dau_weights {
  const T* a;
  const T* b;
  const T* bias;
  const T* gram;
  const T* gram_bias;
  const T* bias_norm2;
};

/// Elements of derived data per layer.
constexpr index_t dau_derived_size(index_t c_out, index_t rank) { return c_out * rank * rank + c_out * rank + c_out; }

/// Scratch elements compute_dau_derived() needs.
template <class T>
constexpr std::size_t dau_derived_scratch(index_t patch, index_t c_out, index_t rank) {
  (void)c_out;
  return gemm_scratch<T>(rank, rank, patch);
}

/// Fills `derived` (dau_derived_size elements: gram, then gram_bias, then bias_norm2).
template <class T>
void compute_dau_derived(index_t patch, index_t c_out, index_t rank, const T* b, const T* bias, T* derived, arena<T>& scratch) {
  const index_t stride = c_out * rank;  // between rows j of one output channel's B_o
  T* gram = derived;
  T* gram_bias = gram + c_out * rank * rank;
  T* bias_norm2 = gram_bias + c_out * rank;
  for (index_t o = 0; o < c_out; ++o) {
    const T* bo = b + o * rank;
    gemm<T>(rank, rank, patch, {bo, 1, stride}, {bo, stride, 1}, gram + o * rank * rank, rank, false, scratch);
    for (index_t r = 0; r < rank; ++r) {
      T s = 0;
      for (index_t j = 0; j < patch; ++j) s += bo[j * stride + r] * bias[j * c_out + o];
      gram_bias[o * rank + r] = s;
    }
    T s = 0;
    for (index_t j = 0; j < patch; ++j) s += bias[j * c_out + o] * bias[j * c_out + o];
    bias_norm2[o] = s;
  }
}

}  // namespace coda::kernels

// The parameters of one DAU layer as the kernels see them, and the static quantities derived
// from them. Layouts follow the authors' PyTorch modules (see docs/math.md §1.3 and §3):
//   a     [R][J]       the rank convolution, J = C_in*k*k in unfold order
//   b     [J][O][R]    the 1x1 convolution's weight; its row c = j*O + o (j-major)
//   bias  [J][O]
// Derived (recomputed whenever the parameters change):
//   gram       [O][R][R]  G_o = B_o^T B_o         so that |w|^2 never needs w
//   gram_bias  [O][R]     B_o^T b_o
//   bias_norm2 [O]        |b_o|^2
//   packed_*              the forward pass's GEMM operands B^T, b^T, A, G and B_o^T b_o, and the
//                         training backward's B, packed once here in the micro-kernel's panel
//                         layout instead of in every call
//   frozen_*              B and b in the order the frozen (explanation) backward reads them
//   winograd_b            B's 3x3 kernels transformed for Winograd's F(2x2, 3x3) (kernels/winograd.hpp),
//                         in layers where the training forward's t = B^T x uses it
#pragma once

#include "coda/core/arena.hpp"
#include "coda/core/eigen.hpp"
#include "coda/kernels/gemm.hpp"
#include "coda/kernels/patches.hpp"
#include "coda/kernels/winograd.hpp"
#include "coda/simd/frozen_backward.hpp"

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
  const T* packed_bt;         ///< B^T   [O*R x J]
  const T* packed_bias_t;     ///< b^T   [O x J]
  const T* packed_a;          ///< A     [R x J]
  const T* packed_gram;       ///< G     [O*R x R]
  const T* packed_gram_bias;  ///< B^T b [O x R]
  const T* packed_b;          ///< B     [J x O*R]
  const T* frozen_b;          ///< B as [J][O/8][R][8], O padded with zeros (simd::pack_frozen_weights)
  const T* frozen_bias;       ///< b as [J][O padded to 8]
  const T* winograd_b;        ///< U = G W G^T of B's kernels, packed (winograd_weights_layout), or null
};

/// Offsets of the derived quantities of a layer within its block of derived data.
/// winograd_channels: winograd_forward_channels() of the layer (0: no transformed weights).
template <class T>
struct dau_derived_layout {
  std::size_t gram, gram_bias, bias_norm2, packed_bt, packed_bias_t, packed_a, packed_gram, packed_gram_bias, packed_b,
      frozen_b, frozen_bias, winograd_b, size;

  constexpr dau_derived_layout(index_t J, index_t O, index_t R, index_t winograd_channels) : gram(0), gram_bias(0), bias_norm2(0),
        packed_bt(0), packed_bias_t(0), packed_a(0), packed_gram(0), packed_gram_bias(0), packed_b(0), frozen_b(0), frozen_bias(0),
        winograd_b(0), size(0) {
    using coda::detail::aligned_count;
    std::size_t at = 0;
    const auto take = [&](std::size_t n) {
      const std::size_t here = at;
      at += aligned_count<T>(n);
      return here;
    };
    gram = take(static_cast<std::size_t>(O * R * R));
    gram_bias = take(static_cast<std::size_t>(O * R));
    bias_norm2 = take(static_cast<std::size_t>(O));
    packed_bt = take(packed_a_size<T>(O * R, J));
    packed_bias_t = take(packed_a_size<T>(O, J));
    packed_a = take(packed_a_size<T>(R, J));
    packed_gram = take(packed_a_size<T>(O * R, R));
    packed_gram_bias = take(packed_a_size<T>(O, R));
    packed_b = take(packed_a_size<T>(J, O * R));
    frozen_b = take(static_cast<std::size_t>(J * simd::frozen_padded_channels(O) * R));
    frozen_bias = take(static_cast<std::size_t>(J * simd::frozen_padded_channels(O)));
    winograd_b = take(winograd_weights_size<T>(winograd_channels, O * R));
    size = at;
  }

  dau_weights<T> bind(const T* a, const T* b, const T* bias, const T* derived) const {
    return {a, b, bias, derived + gram, derived + gram_bias, derived + bias_norm2, derived + packed_bt, derived + packed_bias_t,
            derived + packed_a, derived + packed_gram, derived + packed_gram_bias, derived + packed_b, derived + frozen_b, derived + frozen_bias,
            winograd_b == size ? nullptr : derived + winograd_b};  // the last block: empty where it ends the data
  }
};

/// Scratch elements compute_dau_derived() needs.
template <class T>
constexpr std::size_t dau_derived_scratch(index_t patch, index_t c_out, index_t rank, index_t winograd_channels) {
  return std::max(gemm_scratch<T>(rank, rank, patch), winograd_transform_scratch<T>(winograd_channels, c_out * rank));
}

/// Fills a layer's derived data (dau_derived_layout<T>(J, O, R, winograd_channels).size elements).
template <class T>
void compute_dau_derived(index_t J, index_t O, index_t R, index_t winograd_channels, const T* a, const T* b, const T* bias, T* derived,
                         arena<T>& scratch) {
  const dau_derived_layout<T> at(J, O, R, winograd_channels);
  const index_t stride = O * R;  // between rows j of one output channel's B_o
  T* gram = derived + at.gram;
  T* gram_bias = derived + at.gram_bias;
  T* bias_norm2 = derived + at.bias_norm2;
  for (index_t o = 0; o < O; ++o) {
    const T* bo = b + o * R;
    gemm<T>(R, R, J, {bo, 1, stride}, {bo, stride, 1}, gram + o * R * R, R, false, scratch);
  }
  // B_o^T b_o and |b_o|^2 for every o in one pass over the rows j of B and b, which are contiguous
  // in (o, r): column by column, the pass strode across all of B once per (o, r), and it runs
  // after every optimiser step.
  using columns = Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic>;
  using values = Eigen::Array<T, 1, Eigen::Dynamic>;
  Eigen::Map<columns> bias_gram(gram_bias, R, O);  // column o: B_o^T b_o
  Eigen::Map<values> norms(bias_norm2, O);
  bias_gram.setZero();
  norms.setZero();
  for (index_t j = 0; j < J; ++j) {
    const Eigen::Map<const columns> bj(b + j * stride, R, O);  // column o: row j of B_o
    const Eigen::Map<const values> cj(bias + j * O, O);        // b_o's element j
    bias_gram += bj.rowwise() * cj;
    norms += cj.square();
  }
  pack_a<T>(O * R, J, transposed(b, O * R), derived + at.packed_bt);
  pack_a<T>(O, J, transposed(bias, O), derived + at.packed_bias_t);
  pack_a<T>(R, J, row_major(a, J), derived + at.packed_a);
  pack_a<T>(O * R, R, row_major(static_cast<const T*>(gram), R), derived + at.packed_gram);
  pack_a<T>(O, R, row_major(static_cast<const T*>(gram_bias), R), derived + at.packed_gram_bias);
  pack_a<T>(J, O * R, row_major(b, O * R), derived + at.packed_b);
  simd::pack_frozen_weights<T>(J, O, R, b, bias, derived + at.frozen_b, derived + at.frozen_bias);
  if (winograd_channels > 0) transform_winograd_weights<T>(winograd_channels, O * R, b, derived + at.winograd_b, scratch);
}

}  // namespace coda::kernels

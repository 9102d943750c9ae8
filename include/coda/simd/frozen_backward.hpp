// Micro-kernel of the frozen (explanation) DAU backward for many gradients at once. For one block
// of NB output positions it forms the dynamic weights w_{o,q}[j] = B[j][o] . z_q + b[j][o] in
// registers, MO output channels at a time, and immediately contracts them with the K gradients:
//   out[k][j][q] = sum_o u[k][o][q] w_{o,q}[j]
// Forming w costs J*O*R per position once; every further gradient costs only J*O per position,
// so explaining all 10 classes costs about two forward passes instead of eleven. Nothing of size
// O*J per position is ever stored: a tile of w lives in registers for one (j, o-block).
// Positions run along the vector lanes (NB = 2 vectors); with CODA_NO_SIMD the same loops are
// plain C++.
#pragma once

#include <algorithm>
#include <utility>

#include "coda/simd/gemm_tile.hpp"

namespace coda::simd {

/// Positions per block of frozen_block().
template <class T>
inline constexpr index_t frozen_positions = 2 * lanes<T>;
/// Output channels whose dynamic weights are formed together (2 x this many FMA chains).
inline constexpr index_t frozen_channel_block = 8;

/// O rounded up to whole channel blocks.
constexpr index_t frozen_padded_channels(index_t O) {
  return (O + frozen_channel_block - 1) / frozen_channel_block * frozen_channel_block;
}

/// B [J][O][R] and b [J][O] rearranged for frozen_block(): for each j and block of 8 channels,
/// the 8 weights of each rank index next to each other ([J][O/8][R][8]), so that the kernel
/// reads one sequential stream; padded channels are zero.
template <class T>
void pack_frozen_weights(index_t J, index_t O, index_t R, const T* b, const T* bias, T* b_out, T* bias_out) {
  constexpr index_t MO = frozen_channel_block;
  const index_t OP = frozen_padded_channels(O);
  for (index_t j = 0; j < J; ++j)
    for (index_t o = 0; o < OP; ++o) {
      bias_out[j * OP + o] = o < O ? bias[j * O + o] : T(0);
      for (index_t r = 0; r < R; ++r)
        b_out[((j * OP + o / MO * MO) * R) + r * MO + o % MO] = o < O ? b[(j * O + o) * R + r] : T(0);
    }
}
/// Most gradients one frozen_block() call carries (more are split into several calls).
inline constexpr index_t frozen_max_seeds = 10;

namespace detail {

#ifndef CODA_NO_SIMD
// w[o][0..NB) = bias_j[o] + sum_r b_j[o][r] zb[r][0..NB) for the 8 channels of one block (packed
// [R][8] at b_blk), into wb.
template <class T>
CODA_ALWAYS_INLINE void form_weights(index_t R, const T* b_blk, const T* bias_blk, const T* zb, T* wb) {
  using batch = xsimd::batch<T>;
  constexpr index_t W = lanes<T>, NB = 2 * W, MO = frozen_channel_block;
  batch w[MO][2];
  for (index_t i = 0; i < MO; ++i) w[i][0] = w[i][1] = batch(bias_blk[i]);
  for (index_t r = 0; r < R; ++r) {
    const batch z0 = batch::load_aligned(zb + r * NB), z1 = batch::load_aligned(zb + r * NB + W);
    const T* br = b_blk + r * MO;
    for (index_t i = 0; i < MO; ++i) {
      const batch bi(br[i]);
      w[i][0] = xsimd::fma(bi, z0, w[i][0]);
      w[i][1] = xsimd::fma(bi, z1, w[i][1]);
    }
  }
  for (index_t i = 0; i < MO; ++i) {
    w[i][0].store_aligned(wb + i * NB);
    w[i][1].store_aligned(wb + i * NB + W);
  }
}

// Output channels are taken CHUNK at a time: the weights of a chunk are formed 8 channels at a
// time (16 independent FMA chains), parked in L1, and contracted with the K gradients of the
// chunk (K x CHUNK x NB, also L1-resident) into K x 2 accumulators, which are reloaded from
// `out` once per chunk. Splitting the two phases keeps both within the 32 vector registers.
template <class T, index_t K>
inline void frozen_block_k(index_t J, index_t OP, index_t R, const T* b, const T* bias, const T* zb, const T* ub, T* out) {
  using batch = xsimd::batch<T>;
  constexpr index_t W = lanes<T>, NB = 2 * W, MO = frozen_channel_block, CHUNK = 2 * MO;
  alignas(64) T wb[CHUNK * NB];
  for (index_t c0 = 0; c0 < OP; c0 += CHUNK) {
    const index_t cn = std::min(CHUNK, OP - c0);
    for (index_t j = 0; j < J; ++j) {
      for (index_t o = 0; o < cn; o += MO) form_weights<T>(R, b + (j * OP + c0 + o) * R, bias + j * OP + c0 + o, zb, wb + o * NB);
      T* out_j = out + j * NB;
      batch acc[K][2];
      for (index_t k = 0; k < K; ++k) {
        acc[k][0] = c0 ? batch::load_aligned(out_j + k * J * NB) : batch(T(0));
        acc[k][1] = c0 ? batch::load_aligned(out_j + k * J * NB + W) : batch(T(0));
      }
      for (index_t i = 0; i < cn; ++i) {
        const batch w0 = batch::load_aligned(wb + i * NB), w1 = batch::load_aligned(wb + i * NB + W);
        for (index_t k = 0; k < K; ++k) {
          const T* u = ub + (k * OP + c0 + i) * NB;
          acc[k][0] = xsimd::fma(batch::load_aligned(u), w0, acc[k][0]);
          acc[k][1] = xsimd::fma(batch::load_aligned(u + W), w1, acc[k][1]);
        }
      }
      for (index_t k = 0; k < K; ++k) {
        acc[k][0].store_aligned(out_j + k * J * NB);
        acc[k][1].store_aligned(out_j + k * J * NB + W);
      }
    }
  }
}

template <class T, index_t... K>
inline void frozen_dispatch(index_t seeds, index_t J, index_t O, index_t R, const T* b, const T* bias, const T* zb, const T* ub,
                            T* out, std::integer_sequence<index_t, K...>) {
  ((seeds == K + 1 ? frozen_block_k<T, K + 1>(J, O, R, b, bias, zb, ub, out) : void()), ...);
}
#endif

}  // namespace detail

/// One block of NB = frozen_positions<T> positions for `seeds` <= frozen_max_seeds gradients.
/// b and bias come from pack_frozen_weights (OP = frozen_padded_channels(O) channels); zb [R][NB]
/// holds the codes of the block and ub [seeds][OP][NB] the gradients times the norm scales (both
/// zero-padded past the last position and channel, 64-byte aligned); out [seeds][J][NB] receives
/// the patch gradients.
template <class T>
inline void frozen_block(index_t seeds, index_t J, index_t OP, index_t R, const T* b, const T* bias, const T* zb, const T* ub,
                         T* out) {
#ifndef CODA_NO_SIMD
  detail::frozen_dispatch(seeds, J, OP, R, b, bias, zb, ub, out, std::make_integer_sequence<index_t, frozen_max_seeds>{});
#else
  constexpr index_t NB = frozen_positions<T>, MO = frozen_channel_block;
  T w[NB];
  std::fill(out, out + seeds * J * NB, T(0));
  for (index_t j = 0; j < J; ++j)
    for (index_t o = 0; o < OP; ++o) {
      const T* bjo = b + (j * OP + o / MO * MO) * R + o % MO;
      for (index_t q = 0; q < NB; ++q) w[q] = bias[j * OP + o];
      for (index_t r = 0; r < R; ++r)
        for (index_t q = 0; q < NB; ++q) w[q] += bjo[r * MO] * zb[r * NB + q];
      for (index_t k = 0; k < seeds; ++k)
        for (index_t q = 0; q < NB; ++q) out[(k * J + j) * NB + q] += ub[(k * OP + o) * NB + q] * w[q];
    }
#endif
}

}  // namespace coda::simd

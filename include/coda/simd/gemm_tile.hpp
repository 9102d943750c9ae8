// The register-blocked micro-kernel of the GEMM: C[MR x NR] (+)= sum_p a[p][0..MR) b[p][0..NR)
// over packed panels. With xsimd (the default) the NR columns are NR / W vectors of the widest
// float registers the compiler targets (16 floats with AVX-512) and each a[p][i] is broadcast;
// MR x NR/W accumulators stay in registers for the whole K loop (tile_shape: per instruction set). Building with CODA_NO_SIMD
// (CMake option CODA_SIMD=OFF) selects the plain-loop fallback instead.
#pragma once

#include <algorithm>
#include <cstdint>

#include "coda/core/diagnostics.hpp"
#include "coda/core/shape.hpp"

#ifndef CODA_NO_SIMD
// As in simd/adam.hpp: the intrinsics' definitions carry GCC bug 105593's false positives.
CODA_BEGIN_EIGEN_REDUCTIONS
#include <xsimd/xsimd.hpp>
CODA_END_EIGEN_REDUCTIONS
#endif

/// Forces inlining of micro-kernel helpers whose register arrays must not spill to memory.
#if defined(__GNUC__) || defined(__clang__)
#define CODA_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define CODA_ALWAYS_INLINE inline
#endif

/// Unrolls the next loop over a tile dimension completely. Every loop that indexes the register
/// tile needs it: GCC 12 for aarch64 otherwise kept the tile in memory as well, storing it on
/// every step of the K loop (x86 GCC unrolled these loops unasked). Clang accepts it too.
#define CODA_UNROLL_TILE _Pragma("GCC unroll 16")

/// A loop hint for Clang only (GCC warns about unknown pragmas).
#if defined(__clang__)
#define CODA_PRAGMA_CLANG(hint) _Pragma(#hint)
#else
#define CODA_PRAGMA_CLANG(hint)
#endif

namespace coda::simd {

/// Cache hints, no effect on results. The address is formed as an integer because a hint may
/// point past the end of an array (after the last panel, below a partial tile's last row).
template <int Write, class T>
CODA_ALWAYS_INLINE void prefetch(const T* base, index_t offset) {
#if defined(__GNUC__) || defined(__clang__)
  const auto at = reinterpret_cast<std::uintptr_t>(base) + static_cast<std::uintptr_t>(offset) * sizeof(T);
  __builtin_prefetch(reinterpret_cast<const void*>(at), Write, 3);
#else
  (void)base, (void)offset;
#endif
}

#ifndef CODA_NO_SIMD
template <class T>
inline constexpr index_t lanes = static_cast<index_t>(xsimd::batch<T>::size);
#else
template <class T>
inline constexpr index_t lanes = 64 / static_cast<index_t>(sizeof(T));
#endif

/// Register tile of the GEMM micro-kernel: MR rows of A (broadcast) by NR columns of B (vectors),
/// chosen for the instruction set at compile time so that the MR x NR/W accumulators, the NR/W
/// vectors of B and one broadcast fit the vector registers for the whole K loop.
template <class T>
struct tile_shape {
#if defined(CODA_NO_SIMD)
  // Plain loops over 64-byte rows: no registers to fit, the compiler vectorises across columns.
  static constexpr index_t mr = 8, nr = 2 * lanes<T>;
#elif XSIMD_WITH_AVX512F
  // 32 registers: 16 accumulators (8 rows x 2 vectors) + 2 vectors of B + 1 broadcast = 19.
  static constexpr index_t mr = 8, nr = 2 * lanes<T>;
#elif XSIMD_WITH_NEON64
  // 32 registers: 16 accumulators + 2 of B + 8 of A (GCC's lane-indexed FMAs) = 26; 6 x 4 needed 34, spilled.
  static constexpr index_t mr = 8, nr = 2 * lanes<T>;
#else
  // 16 registers (AVX2/FMA, AVX, SSE): 6 x 2 = 12 accumulators + 2 + 1; 8 x 2 needed 19, spilled.
  static constexpr index_t mr = 6, nr = 2 * lanes<T>;
#endif
};

namespace detail {

template <class T, index_t MR, index_t NR>
inline void store_tile(const T (&acc)[MR][NR], T* c, index_t ldc, bool accumulate, index_t m_valid, index_t n_valid) {
  for (index_t i = 0; i < m_valid; ++i) {
    T* ci = c + i * ldc;
    if (accumulate)
      for (index_t j = 0; j < n_valid; ++j) ci[j] += acc[i][j];
    else
      for (index_t j = 0; j < n_valid; ++j) ci[j] = acc[i][j];
  }
}

}  // namespace detail

/// a: packed [kc][MR], b: packed [kc][NR] (64-byte aligned); c: row-major with leading dimension
/// ldc, of which the first m_valid x n_valid entries are written.
template <class T>
inline void gemm_tile(index_t kc, const T* a, const T* b, T* c, index_t ldc, bool accumulate, index_t m_valid, index_t n_valid) {
  constexpr index_t MR = tile_shape<T>::mr, NR = tile_shape<T>::nr;
#ifndef CODA_NO_SIMD
  using batch = xsimd::batch<T>;
  constexpr index_t W = lanes<T>, NV = NR / W;
  batch acc[MR][NV];
  // C's lines are requested now and arrive while the K loop runs: in the training step C is a
  // record or a gradient of several MB that has left L2 since its last K block, and the tile's
  // loads and stores stalled on them (forward and backward 6% faster on an Intel Xeon). A row
  // need not be aligned: each vector's first value and the row's last name all its lines.
  CODA_UNROLL_TILE for (index_t i = 0; i < MR; ++i) {
    CODA_UNROLL_TILE for (index_t v = 0; v < NV; ++v) prefetch<1>(c, i * ldc + v * W);
    prefetch<1>(c, i * ldc + NR - 1);
  }
  CODA_UNROLL_TILE for (index_t i = 0; i < MR; ++i)
    CODA_UNROLL_TILE for (index_t v = 0; v < NV; ++v) acc[i][v] = batch(T(0));
  for (index_t p = 0; p < kc; ++p) {
    batch bv[NV];
    CODA_UNROLL_TILE for (index_t v = 0; v < NV; ++v) bv[v] = batch::load_aligned(b + p * NR + v * W);
    const T* ap = a + p * MR;
    // The next panel of A, one K step at a time: on the first sweep of a block it comes from
    // memory (packed weights), and the hardware prefetcher alone left the loop waiting for it.
    prefetch<0>(ap, kc * MR);
    CODA_UNROLL_TILE for (index_t i = 0; i < MR; ++i) {
      const batch ai(ap[i]);
      CODA_UNROLL_TILE for (index_t v = 0; v < NV; ++v) acc[i][v] = xsimd::fma(ai, bv[v], acc[i][v]);
    }
  }
  if (m_valid == MR && n_valid == NR) {
    CODA_UNROLL_TILE for (index_t i = 0; i < MR; ++i)
      CODA_UNROLL_TILE for (index_t v = 0; v < NV; ++v) {
        T* ci = c + i * ldc + v * W;
        (accumulate ? acc[i][v] + batch::load_unaligned(ci) : acc[i][v]).store_unaligned(ci);
      }
    return;
  }
  alignas(64) T spill[MR][NR];
  CODA_UNROLL_TILE for (index_t i = 0; i < MR; ++i)
    CODA_UNROLL_TILE for (index_t v = 0; v < NV; ++v) acc[i][v].store_aligned(&spill[i][v * W]);
  detail::store_tile(spill, c, ldc, accumulate, m_valid, n_valid);
#else
  T acc[MR][NR] = {};
  for (index_t p = 0; p < kc; ++p) {
    // Left alone, Clang -O3 vectorises this nest across rows, with gathers and scatters on the
    // tile, about 60 times slower than across columns (measured); GCC needs no hint.
    CODA_PRAGMA_CLANG(clang loop unroll(full))
    for (index_t i = 0; i < MR; ++i) {
      const T ai = a[p * MR + i];
      CODA_PRAGMA_CLANG(clang loop vectorize(enable) interleave(disable))
      for (index_t j = 0; j < NR; ++j) acc[i][j] += ai * b[p * NR + j];
    }
  }
  detail::store_tile(acc, c, ldc, accumulate, m_valid, n_valid);
#endif
}

}  // namespace coda::simd

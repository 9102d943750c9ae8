// General matrix product C = op(A) op(B) (+ C), cache-blocked with packed panels, in the style
// of BLIS/GotoBLAS. It exists (rather than calling Eigen's product) because its packing buffers
// come from the caller's arena: the DAU kernels, and with them the embedded path, must not touch
// the heap. Operands are described by pointer + row stride + column stride, so transposed
// operands cost nothing. The micro-kernel is swappable: coda/simd/ provides the vectorised one.
#pragma once

#include <algorithm>
#include <cstddef>

#include "coda/core/arena.hpp"
#include "coda/core/shape.hpp"
#include "coda/simd/gemm_tile.hpp"

namespace coda::kernels {

/// Read-only strided matrix: element (i, j) is data[i * row_stride + j * col_stride].
template <class T>
struct matrix_ref {
  const T* data;
  index_t row_stride;
  index_t col_stride;
  const T& operator()(index_t i, index_t j) const { return data[i * row_stride + j * col_stride]; }
};

template <class T>
matrix_ref<T> row_major(const T* data, index_t cols) { return {data, cols, 1}; }
/// The transpose of a row-major matrix with `cols` columns.
template <class T>
matrix_ref<T> transposed(const T* data, index_t cols) { return {data, 1, cols}; }

/// Cache blocks around the register tile of coda/simd/gemm_tile.hpp: an MC x KC block of A stays
/// in L2 and a KC x NR sliver of B in L1 while the micro-kernel sweeps.
template <class T>
struct gemm_blocking {
  static constexpr index_t mr = simd::tile_shape<T>::mr;
  static constexpr index_t nr = simd::tile_shape<T>::nr;
  static constexpr index_t kc = 256;
  static constexpr index_t mc = 96;  // multiple of mr
  static constexpr index_t nc = 512;
};

namespace detail {

constexpr index_t round_up(index_t x, index_t m) { return (x + m - 1) / m * m; }

// Packs rows [0, mc) x cols [0, kc) of A into panels of MR rows, zero-padding the last panel.
template <class T, index_t MR>
inline void pack_a(index_t mc, index_t kc, matrix_ref<T> a, T* out) {
  for (index_t i0 = 0; i0 < mc; i0 += MR) {
    const index_t rows = std::min(MR, mc - i0);
    for (index_t p = 0; p < kc; ++p) {
      for (index_t i = 0; i < rows; ++i) out[p * MR + i] = a(i0 + i, p);
      for (index_t i = rows; i < MR; ++i) out[p * MR + i] = T(0);
    }
    out += MR * kc;
  }
}

// Packs rows [0, kc) x cols [0, nc) of B into panels of NR columns, zero-padding the last panel.
template <class T, index_t NR>
inline void pack_b(index_t kc, index_t nc, matrix_ref<T> b, T* out) {
  for (index_t j0 = 0; j0 < nc; j0 += NR) {
    const index_t cols = std::min(NR, nc - j0);
    for (index_t p = 0; p < kc; ++p) {
      T* dst = out + p * NR;
      if (b.col_stride == 1) {
        const T* src = &b(p, j0);
        for (index_t j = 0; j < cols; ++j) dst[j] = src[j];
      } else {
        for (index_t j = 0; j < cols; ++j) dst[j] = b(p, j0 + j);
      }
      for (index_t j = cols; j < NR; ++j) dst[j] = T(0);
    }
    out += NR * kc;
  }
}

}  // namespace detail

/// Elements of A (m x k) packed whole by pack_a(): panels of MR rows, zero-padded, per KC block.
template <class T>
constexpr std::size_t packed_a_size(index_t m, index_t k) {
  return static_cast<std::size_t>(detail::round_up(m, gemm_blocking<T>::mr) * k);
}

/// Packs all of A for gemm_packed_a(): for each KC block of columns, the MR-row panels in order.
/// Static operands (weights) are packed once, when they change, instead of in every product.
template <class T>
void pack_a(index_t m, index_t k, matrix_ref<T> a, T* out) {
  using bl = gemm_blocking<T>;
  for (index_t pc = 0; pc < k; pc += bl::kc)
    detail::pack_a<T, bl::mr>(m, std::min(bl::kc, k - pc), {&a(0, pc), a.row_stride, a.col_stride},
                              out + detail::round_up(m, bl::mr) * pc);
}

/// Scratch elements gemm() takes from the arena for an m x n x k product.
template <class T>
constexpr std::size_t gemm_scratch(index_t m, index_t n, index_t k) {
  using bl = gemm_blocking<T>;
  const index_t kc = std::min(bl::kc, k);
  const index_t mc = detail::round_up(std::min(bl::mc, m), bl::mr);
  const index_t nc = detail::round_up(std::min(bl::nc, n), bl::nr);
  return coda::detail::aligned_count<T>(static_cast<std::size_t>(mc * kc)) +
         coda::detail::aligned_count<T>(static_cast<std::size_t>(kc * nc));
}

/// Scratch elements gemm_packed_a() takes: the B panels only.
template <class T>
constexpr std::size_t gemm_packed_a_scratch(index_t n, index_t k) {
  using bl = gemm_blocking<T>;
  return coda::detail::aligned_count<T>(static_cast<std::size_t>(std::min(bl::kc, k) * detail::round_up(std::min(bl::nc, n), bl::nr)));
}

namespace detail {

// The blocked loops. a_block(ic, pc, mc, kc) returns the MR-row panels of that block of A.
template <class T, class ABlock>
void gemm_loops(index_t m, index_t n, index_t k, ABlock&& a_block, matrix_ref<T> b, T* c, index_t ldc, bool accumulate,
                T* packed_b) {
  using bl = gemm_blocking<T>;
  for (index_t jc = 0; jc < n; jc += bl::nc) {
    const index_t nc = std::min(bl::nc, n - jc);
    for (index_t pc = 0; pc < k; pc += bl::kc) {
      const index_t kc = std::min(bl::kc, k - pc);
      const bool acc = accumulate || pc > 0;
      pack_b<T, bl::nr>(kc, nc, {&b(pc, jc), b.row_stride, b.col_stride}, packed_b);
      for (index_t ic = 0; ic < m; ic += bl::mc) {
        const index_t mc = std::min(bl::mc, m - ic);
        const T* packed_a = a_block(ic, pc, mc, kc);
        for (index_t jr = 0; jr < nc; jr += bl::nr)
          for (index_t ir = 0; ir < mc; ir += bl::mr)
            simd::gemm_tile<T>(kc, packed_a + ir * kc, packed_b + jr * kc, c + (ic + ir) * ldc + jc + jr, ldc, acc,
                               std::min(bl::mr, mc - ir), std::min(bl::nr, nc - jr));
      }
    }
  }
}

template <class T>
bool trivial_product(index_t m, index_t n, index_t k, T* c, index_t ldc, bool accumulate) {
  if (m <= 0 || n <= 0) return true;
  if (k > 0) return false;
  if (!accumulate)
    for (index_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, T(0));
  return true;
}

}  // namespace detail

/// C (m x n, row-major, leading dimension ldc) = A (m x k) * B (k x n), or += when accumulate.
template <class T>
void gemm(index_t m, index_t n, index_t k, matrix_ref<T> a, matrix_ref<T> b, T* c, index_t ldc, bool accumulate, arena<T>& scratch) {
  using bl = gemm_blocking<T>;
  if (detail::trivial_product(m, n, k, c, ldc, accumulate)) return;
  scratch_scope<T> scope(scratch);
  const index_t kc_max = std::min(bl::kc, k);
  T* packed_a = scratch.allocate(static_cast<std::size_t>(detail::round_up(std::min(bl::mc, m), bl::mr) * kc_max));
  T* packed_b = scratch.allocate(static_cast<std::size_t>(detail::round_up(std::min(bl::nc, n), bl::nr) * kc_max));
  const auto a_block = [&](index_t ic, index_t pc, index_t mc, index_t kc) {
    detail::pack_a<T, bl::mr>(mc, kc, {&a(ic, pc), a.row_stride, a.col_stride}, packed_a);
    return static_cast<const T*>(packed_a);
  };
  detail::gemm_loops(m, n, k, a_block, b, c, ldc, accumulate, packed_b);
}

/// The same product with A packed beforehand by pack_a().
template <class T>
void gemm_packed_a(index_t m, index_t n, index_t k, const T* a_packed, matrix_ref<T> b, T* c, index_t ldc, bool accumulate,
                   arena<T>& scratch) {
  using bl = gemm_blocking<T>;
  if (detail::trivial_product(m, n, k, c, ldc, accumulate)) return;
  scratch_scope<T> scope(scratch);
  T* packed_b = scratch.allocate(static_cast<std::size_t>(detail::round_up(std::min(bl::nc, n), bl::nr) * std::min(bl::kc, k)));
  const index_t rows = detail::round_up(m, bl::mr);
  const auto a_block = [&](index_t ic, index_t pc, index_t, index_t kc) { return a_packed + rows * pc + ic * kc; };
  detail::gemm_loops(m, n, k, a_block, b, c, ldc, accumulate, packed_b);
}

}  // namespace coda::kernels

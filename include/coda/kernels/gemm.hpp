// General matrix product C = op(A) op(B) (+ C), cache-blocked with packed panels, in the style
// of BLIS/GotoBLAS. It exists (rather than calling Eigen's product) because its packing buffers
// come from the caller's arena: the DAU kernels, and with them the embedded path, must not touch
// the heap. Operands are views that the packing reads: a strided matrix (pointer + row stride +
// column stride, so transposed operands cost nothing), or a matrix of Kronecker products of rows
// formed while packing instead of in memory. The result goes through a view too: a row-major
// matrix, or column blocks stored apart (several images' records), and a view hears of each
// tile when it is final, to reduce it while it is in L1. The micro-kernel is swappable:
// coda/simd/ provides the vectorised one.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <utility>

#include "coda/core/arena.hpp"
#include "coda/core/shape.hpp"
#include "coda/simd/gemm_tile.hpp"
#include "coda/simd/transpose.hpp"

namespace coda::kernels {

/// Read-only strided matrix: element (i, j) is data[i * row_stride + j * col_stride].
template <class T>
struct matrix_ref {
  const T* data;
  index_t row_stride;
  index_t col_stride;
  const T& operator()(index_t i, index_t j) const { return data[i * row_stride + j * col_stride]; }
  matrix_ref transpose() const { return {data, col_stride, row_stride}; }
  /// dst[p * ld + j] = element (i0 + p, j0 + j) for p < rows, j < count: what the packing asks of
  /// every view. Reads follow whichever stride is 1.
  void copy_block(index_t i0, index_t rows, index_t j0, index_t count, T* dst, index_t ld) const {
    const T* src = &(*this)(i0, j0);
    if (col_stride == 1) {
      for (index_t p = 0; p < rows; ++p)
        for (index_t j = 0; j < count; ++j) dst[p * ld + j] = src[p * row_stride + j];
    } else if (row_stride == 1) {
      simd::transpose_copy(src, col_stride, rows, count, dst, ld);
    } else {
      for (index_t p = 0; p < rows; ++p)
        for (index_t j = 0; j < count; ++j) dst[p * ld + j] = src[p * row_stride + j * col_stride];
    }
  }
};

/// The k x (U*V) matrix whose row p is u[p] (x) v[p] (the Kronecker product of row p of u, k x U,
/// and row p of v, k x V): element (p, a*V + b) = u(p, a) v(p, b); with Transposed, its transpose.
/// Products read it through the packing, which forms each panel's elements as it copies them: the
/// training backward's sums over positions of (alpha (x) z) never store the O*R*P values, which
/// were written once and read back from memory by every product that packed them.
template <class T, bool Transposed = false>
struct kronecker_rows_ref {
  matrix_ref<T> u, v;
  index_t v_cols;
  kronecker_rows_ref<T, !Transposed> transpose() const { return {u, v, v_cols}; }
  T operator()(index_t i, index_t j) const {
    if constexpr (Transposed) std::swap(i, j);
    return u(i, j / v_cols) * v(i, j % v_cols);
  }
  /// As matrix_ref::copy_block. The index arithmetic is done once per block, not per element.
  void copy_block(index_t i0, index_t rows, index_t j0, index_t count, T* dst, index_t ld) const {
    if constexpr (Transposed) {
      // Row a*V + b is the element-wise product of column a of u and column b of v.
      index_t a = i0 / v_cols, b = i0 % v_cols;
      for (index_t p = 0; p < rows; ++p) {
        T* out = dst + p * ld;
        if (u.row_stride == 1 && v.row_stride == 1) {
          const T* ua = &u(j0, a);
          const T* vb = &v(j0, b);
          for (index_t j = 0; j < count; ++j) out[j] = ua[j] * vb[j];
        } else {
          for (index_t j = 0; j < count; ++j) out[j] = u(j0 + j, a) * v(j0 + j, b);
        }
        if (++b == v_cols) {
          b = 0;
          ++a;
        }
      }
    } else {
      // Columns in runs of one a: u(p, a) times a stretch of row p of v.
      for (index_t j = j0; j < j0 + count;) {
        const index_t a = j / v_cols, b = j % v_cols, run = std::min(v_cols - b, j0 + count - j);
        T* out = dst + (j - j0);
        for (index_t p = 0; p < rows; ++p) {
          const T s = u(i0 + p, a);
          if (v.col_stride == 1) {
            const T* vp = &v(i0 + p, b);
            for (index_t r = 0; r < run; ++r) out[p * ld + r] = s * vp[r];
          } else {
            for (index_t r = 0; r < run; ++r) out[p * ld + r] = s * v(i0 + p, b + r);
          }
        }
        j += run;
      }
    }
  }
};

/// The k x R(R+1)/2 matrix whose row p is the upper triangle of v[p] v[p]^T, row by row (v is
/// k x R): element (p, pair(a, b)) = v(p, a) v(p, b) for a <= b. The product with it sums a
/// symmetric matrix's distinct elements only (kernels::dau_train_backward's sum_q beta z z^T).
template <class T>
struct kronecker_pairs_ref {
  matrix_ref<T> v;
  index_t v_cols;
  /// As matrix_ref::copy_block: runs of one a, v(p, a) times a stretch of row p of v.
  void copy_block(index_t i0, index_t rows, index_t j0, index_t count, T* dst, index_t ld) const {
    index_t a = 0, first = 0;  // pair (a, a) is column `first`
    while (first + v_cols - a <= j0) first += v_cols - a++;
    for (index_t j = j0; j < j0 + count;) {
      const index_t b = a + (j - first), run = std::min(v_cols - b, j0 + count - j);
      T* out = dst + (j - j0);
      for (index_t p = 0; p < rows; ++p) {
        const T* vp = &v(i0 + p, 0);
        const T s = vp[a * v.col_stride];
        if (v.col_stride == 1) {
          for (index_t r = 0; r < run; ++r) out[p * ld + r] = s * vp[b + r];
        } else {
          for (index_t r = 0; r < run; ++r) out[p * ld + r] = s * vp[(b + r) * v.col_stride];
        }
      }
      j += run;
      if (b + run == v_cols) first += v_cols - a++;
    }
  }
};

template <class T>
matrix_ref<T> row_major(const T* data, index_t cols) { return {data, cols, 1}; }
/// The transpose of a row-major matrix with `cols` columns.
template <class T>
matrix_ref<T> transposed(const T* data, index_t cols) { return {data, 1, cols}; }

/// Where a product's result goes: C (i, j) is *at(i, j), and each MR x NR tile the micro-kernel
/// writes is row-major from its first element with leading dimension ld. A plain row-major C:
template <class T>
struct matrix_out {
  T* data;
  index_t ld;
  T* at(index_t i, index_t j) const { return data + i * ld + j; }
  /// Called once per tile when its values are final (after the last K block), while the tile is
  /// in L1: a view that reduces C on the fly does it here (kernels::dau_forward).
  void tile_done(index_t, index_t, index_t, index_t) const {}
};

/// A C whose columns come in blocks of `width`, block b a row-major matrix of its own at
/// blocks[b] (one image's record each): one product writes several images' positions. A tile
/// never straddles two blocks when width is a multiple of NR or there is one block.
template <class T>
struct column_blocks_out {
  T* const* blocks;
  index_t ld;  ///< the width of a block
  T* at(index_t i, index_t j) const { return blocks[j / ld] + i * ld + j % ld; }
  void tile_done(index_t, index_t, index_t, index_t) const {}
};

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

// Packs rows [p0, p0 + kc) x columns [j0, j0 + n) of a view into panels of W columns, the last
// zero-padded: panel after panel, each kc rows of W values. B is packed as itself (W = NR) and A
// as its transpose (W = MR), so that both panels are read one K step at a time.
template <class T, index_t W, class View>
void pack_panels(const View& v, index_t p0, index_t kc, index_t j0, index_t n, T* out) {
  for (index_t jp = 0; jp < n; jp += W) {
    const index_t cols = std::min(W, n - jp);
    v.copy_block(p0, kc, j0 + jp, cols, out, W);
    if (cols < W)
      for (index_t p = 0; p < kc; ++p) std::fill(out + p * W + cols, out + (p + 1) * W, T(0));
    out += W * kc;
  }
}

}  // namespace detail

/// Elements of A (m x k) packed whole by pack_a(): panels of MR rows, zero-padded, per KC block.
template <class T>
constexpr std::size_t packed_a_size(index_t m, index_t k) {
  return static_cast<std::size_t>(detail::round_up(m, gemm_blocking<T>::mr) * k);
}

/// Packs rows [i0, i0 + rows) x columns [p0, p0 + depth) of an m x k A where pack_a() puts them,
/// from a view of that block alone: an operand formed a block at a time is packed without being
/// stored whole first. i0 must start a panel, and rows fill whole panels unless they end at m.
template <class T>
void pack_a_block(index_t m, index_t k, index_t i0, index_t rows, index_t p0, index_t depth, matrix_ref<T> block, T* out) {
  using bl = gemm_blocking<T>;
  assert(i0 % bl::mr == 0 && (rows % bl::mr == 0 || i0 + rows == m));
  for (index_t p = p0; p < p0 + depth;) {  // by the KC blocks the columns meet
    const index_t pc = p / bl::kc * bl::kc, kc = std::min(bl::kc, k - pc), run = std::min(pc + kc, p0 + depth) - p;
    T* at = out + detail::round_up(m, bl::mr) * pc + i0 * kc + (p - pc) * bl::mr;
    for (index_t ir = 0; ir < rows; ir += bl::mr)  // panels are kc deep, and this block may fill only part of each
      detail::pack_panels<T, bl::mr>(block.transpose(), p - p0, run, ir, std::min(bl::mr, rows - ir), at + ir * kc);
    p += run;
  }
}

/// Packs all of A for gemm_packed_a(): for each KC block of columns, the MR-row panels in order.
/// Static operands (weights) are packed once, when they change, instead of in every product.
template <class T>
void pack_a(index_t m, index_t k, matrix_ref<T> a, T* out) {
  pack_a_block<T>(m, k, 0, m, 0, k, a, out);
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

/// The MR-row panels of a block of A: panel i of the block starts at panels + i * stride.
template <class T>
struct a_panels {
  const T* panels;
  index_t stride;
};

// The blocked loops. a_block(ic, pc, mc, kc) returns the a_panels of that block of A.
template <class T, class ABlock, class B, class C>
void gemm_loops(index_t m, index_t n, index_t k, ABlock&& a_block, const B& b, const C& c, bool accumulate, T* packed_b) {
  using bl = gemm_blocking<T>;
  for (index_t jc = 0; jc < n; jc += bl::nc) {
    const index_t nc = std::min(bl::nc, n - jc);
    for (index_t pc = 0; pc < k; pc += bl::kc) {
      const index_t kc = std::min(bl::kc, k - pc);
      const bool acc = accumulate || pc > 0, last = pc + kc == k;
      pack_panels<T, bl::nr>(b, pc, kc, jc, nc, packed_b);
      for (index_t ic = 0; ic < m; ic += bl::mc) {
        const index_t mc = std::min(bl::mc, m - ic);
        const a_panels<T> a = a_block(ic, pc, mc, kc);
        for (index_t jr = 0; jr < nc; jr += bl::nr)
          for (index_t ir = 0; ir < mc; ir += bl::mr) {
            const index_t rows = std::min(bl::mr, mc - ir), cols = std::min(bl::nr, nc - jr);
            simd::gemm_tile<T>(kc, a.panels + ir / bl::mr * a.stride, packed_b + jr * kc, c.at(ic + ir, jc + jr), c.ld, acc,
                               rows, cols);
            if (last) c.tile_done(ic + ir, jc + jr, rows, cols);
          }
      }
    }
  }
}

template <class C>
bool trivial_product(index_t m, index_t n, index_t k, const C& c, bool accumulate) {
  if (m <= 0 || n <= 0) return true;
  if (k > 0) return false;
  if (!accumulate)
    for (index_t i = 0; i < m; ++i)
      for (index_t j = 0; j < n; ++j) *c.at(i, j) = 0;
  return true;
}

}  // namespace detail

/// C (m x n, row-major, leading dimension ldc) = A (m x k) * B (k x n), or += when accumulate.
/// A and B are views (matrix_ref, kronecker_rows_ref).
template <class T, class A = matrix_ref<T>, class B = matrix_ref<T>>
void gemm(index_t m, index_t n, index_t k, const A& a, const B& b, T* c, index_t ldc, bool accumulate, arena<T>& scratch) {
  using bl = gemm_blocking<T>;
  const matrix_out<T> out{c, ldc};
  if (detail::trivial_product(m, n, k, out, accumulate)) return;
  scratch_scope<T> scope(scratch);
  const index_t kc_max = std::min(bl::kc, k);
  T* packed_a = scratch.allocate(static_cast<std::size_t>(detail::round_up(std::min(bl::mc, m), bl::mr) * kc_max));
  T* packed_b = scratch.allocate(static_cast<std::size_t>(detail::round_up(std::min(bl::nc, n), bl::nr) * kc_max));
  const auto a_t = a.transpose();
  const auto a_block = [&](index_t ic, index_t pc, index_t mc, index_t kc) {
    detail::pack_panels<T, bl::mr>(a_t, pc, kc, ic, mc, packed_a);
    return detail::a_panels<T>{packed_a, bl::mr * kc};
  };
  detail::gemm_loops(m, n, k, a_block, b, out, accumulate, packed_b);
}

/// The same product with A packed beforehand by pack_a(), into a C view (matrix_out,
/// column_blocks_out).
template <class T, class B, class C>
void gemm_packed_a(index_t m, index_t n, index_t k, const T* a_packed, const B& b, const C& c, bool accumulate, arena<T>& scratch) {
  using bl = gemm_blocking<T>;
  if (detail::trivial_product(m, n, k, c, accumulate)) return;
  scratch_scope<T> scope(scratch);
  T* packed_b = scratch.allocate(static_cast<std::size_t>(detail::round_up(std::min(bl::nc, n), bl::nr) * std::min(bl::kc, k)));
  const index_t rows = detail::round_up(m, bl::mr);
  const auto a_block = [&](index_t ic, index_t pc, index_t, index_t kc) {
    return detail::a_panels<T>{a_packed + rows * pc + ic * kc, bl::mr * kc};
  };
  detail::gemm_loops(m, n, k, a_block, b, c, accumulate, packed_b);
}

/// Whether columns [k0, k0 + k) of an operand packed by pack_a() lie in one of its KC blocks,
/// where gemm_packed_a_columns() can read them.
template <class T>
constexpr bool packed_columns_contiguous(index_t k0, index_t k) {
  return k > 0 && k0 / gemm_blocking<T>::kc == (k0 + k - 1) / gemm_blocking<T>::kc;
}

/// The product of columns [k0, k0 + k) of an m x k_total A packed by pack_a() with B (k x n):
/// within one KC block (packed_columns_contiguous) each MR-row panel holds those columns in one
/// stretch, so a product over part of a packed operand needs no packing of its own (the optimiser
/// step's B_o S_o reads the training backward's packed B).
template <class T, class B>
void gemm_packed_a_columns(index_t m, index_t n, index_t k0, index_t k, index_t k_total, const T* a_packed, const B& b, T* c,
                           index_t ldc, bool accumulate, arena<T>& scratch) {
  using bl = gemm_blocking<T>;
  assert(packed_columns_contiguous<T>(k0, k) && k0 + k <= k_total);
  const matrix_out<T> out{c, ldc};
  if (detail::trivial_product(m, n, k, out, accumulate)) return;
  scratch_scope<T> scope(scratch);
  T* packed_b = scratch.allocate(static_cast<std::size_t>(detail::round_up(std::min(bl::nc, n), bl::nr) * k));
  const index_t pc = k0 / bl::kc * bl::kc, block = std::min(bl::kc, k_total - pc);
  const T* first = a_packed + detail::round_up(m, bl::mr) * pc + (k0 - pc) * bl::mr;
  const auto a_block = [&](index_t ic, index_t, index_t, index_t) { return detail::a_panels<T>{first + ic * block, bl::mr * block}; };
  detail::gemm_loops(m, n, k, a_block, b, out, accumulate, packed_b);
}

/// The same into a row-major C with leading dimension ldc.
template <class T, class B = matrix_ref<T>>
void gemm_packed_a(index_t m, index_t n, index_t k, const T* a_packed, const B& b, T* c, index_t ldc, bool accumulate,
                   arena<T>& scratch) {
  gemm_packed_a<T>(m, n, k, a_packed, b, matrix_out<T>{c, ldc}, accumulate, scratch);
}

}  // namespace coda::kernels

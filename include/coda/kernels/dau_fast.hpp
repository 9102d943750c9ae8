// Fast DAU kernels. They never form the dynamic weights w_{o,q} = B_o z_q + b_o (C_out*J numbers
// per position); instead, per image and tile of output positions,
//   d_{o,q}  = w_{o,q} . x_q = z_q . t_{o,q} + b_o . x_q,     t_{o,q} = B_o^T x_q   (one GEMM)
//   n2_{o,q} = |w_{o,q}|^2   = z_q^T G_o z_q + 2 (B_o^T b_o) . z_q + |b_o|^2
// and the frozen backward uses  sum_o u_o w_o = B (u (x) z) + b u, again a GEMM.
#pragma once

#include <algorithm>

#include "coda/kernels/dau_weights.hpp"

namespace coda::kernels {

/// What dau_forward keeps for a backward pass, per image; any pointer may be null.
template <class T>
struct dau_state {
  T* z = nullptr;      ///< [R][P]    low-rank codes
  T* t = nullptr;      ///< [O*R][P]  B_o^T x_q
  T* d = nullptr;      ///< [O][P]    w.x
  T* n2 = nullptr;     ///< [O][P]    |w|^2
  T* scale = nullptr;  ///< [O][P]    Norm::scale(n2)
};

/// Output positions handled per tile: bounds the scratch to O*R*64 per buffer whatever the image.
inline constexpr index_t dau_position_tile = 64;

template <class T>
constexpr std::size_t dau_forward_scratch(const dau_dims& g, bool saves_z, bool saves_t) {
  using coda::detail::aligned_count;
  const index_t J = g.patch_size(), P = g.positions(), O = g.c_out, R = g.rank;
  const index_t pt = std::min(dau_position_tile, P);
  std::size_t s = aligned_count<T>(J * P) + 2 * aligned_count<T>(O * pt) + aligned_count<T>(O * R * pt);
  if (!saves_z) s += aligned_count<T>(R * P);
  if (!saves_t) s += aligned_count<T>(O * R * pt);
  const std::size_t g1 = std::max(gemm_scratch<T>(R, P, J), gemm_scratch<T>(O * R, pt, J));
  const std::size_t g2 = std::max(gemm_scratch<T>(O, pt, J), gemm_scratch<T>(O * R, pt, R));
  return s + std::max(g1, std::max(g2, gemm_scratch<T>(O, pt, R)));
}

/// One image: x [C_in][H][W] -> y [O][P].
template <class Norm, class T>
void dau_forward(const dau_dims& g, const dau_weights<T>& p, const T* x, T* y, const dau_state<T>& save, arena<T>& scratch) {
  const index_t J = g.patch_size(), P = g.positions(), O = g.c_out, R = g.rank;
  const index_t pt = std::min(dau_position_tile, P);
  scratch_scope<T> scope(scratch);
  T* cols = scratch.allocate(J * P);
  im2col(g.conv, x, cols, P, 0, P);
  T* z = save.z ? save.z : scratch.allocate(R * P);
  gemm<T>(R, P, J, row_major(p.a, J), row_major(cols, P), z, P, false, scratch);

  T* t_tile = save.t ? nullptr : scratch.allocate(O * R * pt);
  T* gz = scratch.allocate(O * R * pt);
  T* bx = scratch.allocate(O * pt);
  T* gbz = scratch.allocate(O * pt);
  for (index_t q0 = 0; q0 < P; q0 += pt) {
    const index_t nq = std::min(pt, P - q0);
    const matrix_ref<T> cols_tile{cols + q0, P, 1}, z_tile{z + q0, P, 1};
    T* t = save.t ? save.t + q0 : t_tile;
    const index_t ldt = save.t ? P : pt;
    gemm<T>(O * R, nq, J, transposed(p.b, O * R), cols_tile, t, ldt, false, scratch);
    gemm<T>(O, nq, J, transposed(p.bias, O), cols_tile, bx, pt, false, scratch);
    gemm<T>(O * R, nq, R, row_major(p.gram, R), z_tile, gz, pt, false, scratch);
    gemm<T>(O, nq, R, row_major(p.gram_bias, R), z_tile, gbz, pt, false, scratch);
    for (index_t o = 0; o < O; ++o) {
      T d[dau_position_tile], n2[dau_position_tile];
      for (index_t q = 0; q < nq; ++q) {
        d[q] = bx[o * pt + q];
        n2[q] = p.bias_norm2[o] + 2 * gbz[o * pt + q];
      }
      for (index_t r = 0; r < R; ++r) {
        const T* zr = z + r * P + q0;
        const T* tr = t + (o * R + r) * ldt;
        const T* gr = gz + (o * R + r) * pt;
        for (index_t q = 0; q < nq; ++q) {
          d[q] += zr[q] * tr[q];
          n2[q] += zr[q] * gr[q];
        }
      }
      for (index_t q = 0; q < nq; ++q) {
        const index_t at = o * P + q0 + q;
        const T s = Norm::scale(n2[q]);
        y[at] = d[q] * s;
        if (save.d) save.d[at] = d[q];
        if (save.n2) save.n2[at] = n2[q];
        if (save.scale) save.scale[at] = s;
      }
    }
  }
}

template <class T>
constexpr std::size_t dau_explain_scratch(const dau_dims& g) {
  using coda::detail::aligned_count;
  const index_t J = g.patch_size(), O = g.c_out, R = g.rank;
  const index_t pt = std::min(dau_position_tile, g.positions());
  return aligned_count<T>(O * R * pt) + aligned_count<T>(O * pt) + aligned_count<T>(J * pt) +
         std::max(gemm_scratch<T>(J, pt, O * R), gemm_scratch<T>(J, pt, O));
}

/// Frozen backward of one image for `seeds` gradients: grad_out [seeds][O][P] ->
/// grad_in [seeds][C_in][H][W] (overwritten), using the codes z and the scales saved by the
/// forward pass.
template <class T>
void dau_explain_backward(const dau_dims& g, const dau_weights<T>& p, const T* z, const T* scale, index_t seeds,
                          const T* grad_out, T* grad_in, arena<T>& scratch) {
  const index_t J = g.patch_size(), P = g.positions(), O = g.c_out, R = g.rank, in_size = g.conv.image_size();
  const index_t pt = std::min(dau_position_tile, P);
  scratch_scope<T> scope(scratch);
  T* uz = scratch.allocate(O * R * pt);
  T* u = scratch.allocate(O * pt);
  T* gcols = scratch.allocate(J * pt);
  std::fill(grad_in, grad_in + seeds * in_size, T(0));
  for (index_t k = 0; k < seeds; ++k) {
    const T* go = grad_out + k * O * P;
    for (index_t q0 = 0; q0 < P; q0 += pt) {
      const index_t nq = std::min(pt, P - q0);
      for (index_t o = 0; o < O; ++o) {
        for (index_t q = 0; q < nq; ++q) u[o * pt + q] = go[o * P + q0 + q] * scale[o * P + q0 + q];
        for (index_t r = 0; r < R; ++r) {
          T* row = uz + (o * R + r) * pt;
          const T* zr = z + r * P + q0;
          for (index_t q = 0; q < nq; ++q) row[q] = u[o * pt + q] * zr[q];
        }
      }
      gemm<T>(J, nq, O * R, row_major(p.b, O * R), row_major(uz, pt), gcols, pt, false, scratch);
      gemm<T>(J, nq, O, row_major(p.bias, O), row_major(u, pt), gcols, pt, true, scratch);
      col2im_add(g.conv, gcols, pt, q0, nq, grad_in + k * in_size);
    }
  }
}

}  // namespace coda::kernels

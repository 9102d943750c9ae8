// Fast DAU kernels. They never form the dynamic weights w_{o,q} = B_o z_q + b_o (C_out*J numbers
// per position); instead, per image and tile of output positions,
//   d_{o,q}  = w_{o,q} . x_q = z_q . t_{o,q} + b_o . x_q,     t_{o,q} = B_o^T x_q   (one GEMM)
//   n2_{o,q} = |w_{o,q}|^2   = z_q^T G_o z_q + 2 (B_o^T b_o) . z_q + |b_o|^2
// and the frozen backward forms w only tile by tile in registers (coda/simd/frozen_backward.hpp).
#pragma once

#include <algorithm>
#include <array>
#include <cassert>

#include "coda/core/eigen.hpp"
#include "coda/kernels/dau_weights.hpp"
#include "coda/kernels/winograd.hpp"
#include "coda/simd/frozen_backward.hpp"

namespace coda::kernels {

/// What dau_forward keeps for a backward pass, per image; any pointer may be null.
template <class T>
struct dau_state {
  T* z = nullptr;      ///< [R][P]    low-rank codes
  T* t = nullptr;      ///< [O*R][P]  B_o^T x_q
  T* gz = nullptr;     ///< [O*R][P]  G_o z_q (saved with t: the training backward needs both)
  T* d = nullptr;      ///< [O][P]    w.x
  T* n2 = nullptr;     ///< [O][P]    |w|^2
  T* scale = nullptr;  ///< [O][P]    Norm::scale(n2)
};

/// Output positions handled per tile: bounds the scratch to O*R*64 per buffer whatever the image.
inline constexpr index_t dau_position_tile = 64;

/// Most images one forward pass puts side by side (dau_forward_images).
inline constexpr index_t dau_forward_max_images = 8;

/// Images whose positions the training forward (the record takes t and G z) puts side by side in
/// its products, up to 512 columns: the packed B^T and G, cold in the network's pass, are then
/// read once per group instead of once per image (4% of a worker's training forward, measured on
/// an Intel Xeon). Every image's results go to its own record, so a micro-kernel tile must not
/// straddle two images: P is a multiple of its NR, or images go one at a time.
template <class T>
constexpr index_t dau_forward_images(const dau_dims& g, index_t batch) {
  const index_t P = g.positions();
  if (P % gemm_blocking<T>::nr != 0) return 1;
  return std::max<index_t>(1, std::min({batch, dau_forward_max_images, gemm_blocking<T>::nc / P}));
}

/// Positions per product of the forward pass. When the record takes t and G z there is no tile
/// buffer to bound, and one product over the images reads the layer's packed B^T once instead of
/// once per 64 positions (2.4 MB per read in the 16x16 layers).
constexpr index_t dau_forward_tile(const dau_dims& g, bool saves_t, index_t images) {
  return saves_t ? images * g.positions() : std::min(dau_position_tile, g.positions());
}

/// Scratch of dau_forward for `images` images (more than one only when saves_t).
template <class T>
constexpr std::size_t dau_forward_scratch(const dau_dims& g, bool saves_t, index_t images = 1) {
  using coda::detail::aligned_count;
  const index_t J = g.patch_size(), NP = images * g.positions(), O = g.c_out, R = g.rank;
  const index_t pt = dau_forward_tile(g, saves_t, images);
  std::size_t s = aligned_count<T>(J * NP) + aligned_count<T>(R * NP) + 2 * aligned_count<T>(O * pt);
  if (!saves_t) s += 2 * aligned_count<T>(O * R * pt);
  const std::size_t winograd = saves_t && winograd_forward_applies<T>(g.conv) ? winograd_forward_scratch<T>(g.conv, NP, O * R, R) : 0;
  return s + std::max({gemm_packed_a_scratch<T>(NP, J), gemm_packed_a_scratch<T>(pt, J), gemm_packed_a_scratch<T>(pt, R), winograd});
}

namespace detail {

/// The C view of the forward's t and G z products: writes them where `out` says (the images'
/// records, or a tile buffer) and, as each tile is final and still in L1, adds
/// sum_r z_r * C_(o,r) into sums[o], so that d and n2 never read the O*R*P values back from
/// memory (a separate pass did, 5% of the training forward's time on an Intel Xeon). Rows come in
/// ascending order per column, so each sum runs over r in order.
template <class T, class Out>
struct reducing_out {
  Out out;
  index_t ld;
  const T* z;  ///< [R][ldz] from the product's first column
  index_t ldz;
  T* sums;  ///< [O][lds] from the product's first column
  index_t lds;
  index_t rank;
  T* at(index_t i, index_t j) const { return out.at(i, j); }
  void tile_done(index_t i0, index_t j0, index_t rows, index_t cols) const {
    for (index_t i = i0; i < i0 + rows;) {
      const index_t end = std::min(i0 + rows, (i / rank + 1) * rank);  // the tile's rows of one o
      T* so = sums + (i / rank) * lds + j0;
      if (cols == gemm_blocking<T>::nr)
        add_rows(i, end, j0, so);
      else
        add_rows_partial(i, end, j0, cols, so);
      i = end;
    }
  }
  /// sums[o] += z_r * C_(o,r) for rows [i, end) of one o, r in order, over a whole tile's columns:
  /// the running sums stay in registers across the rows (stored after every row, they took as
  /// many loads and stores as the products they sum).
  void add_rows(index_t i, index_t end, index_t j0, T* so) const {
    using vec = Eigen::Array<T, gemm_blocking<T>::nr, 1>;
    Eigen::Map<vec> sums_o(so);
    vec acc = sums_o;
    for (; i < end; ++i) acc += Eigen::Map<const vec>(z + (i % rank) * ldz + j0) * Eigen::Map<const vec>(at(i, j0));
    sums_o = acc;
  }
  /// The same for a partial tile's `cols` columns. Plain loops: for one row, an Eigen
  /// expression's set-up costs as much as the work.
  void add_rows_partial(index_t i, index_t end, index_t j0, index_t cols, T* so) const {
    for (; i < end; ++i) {
      const T* zr = z + (i % rank) * ldz + j0;
      const T* ci = at(i, j0);
      for (index_t j = 0; j < cols; ++j) so[j] += zr[j] * ci[j];
    }
  }
};

template <class T, class Out>
reducing_out<T, Out> reducing(Out out, const T* z, index_t ldz, T* sums, index_t lds, index_t rank) {
  return {out, out.ld, z, ldz, sums, lds, rank};
}

}  // namespace detail

/// `images` images, their positions side by side (more than one only when the records take t and
/// G z; see dau_forward_images): x [images][C_in][H][W] -> y [images][O][P]; state_of(k) is
/// image k's record (any pointer of it may be null).
template <class Norm, class T, class StateOf>
void dau_forward(const dau_dims& g, const dau_weights<T>& p, index_t images, const T* x, T* y, StateOf&& state_of,
                 arena<T>& scratch) {
  const index_t J = g.patch_size(), P = g.positions(), O = g.c_out, R = g.rank, NP = images * P;
  std::array<dau_state<T>, dau_forward_max_images> save;
  std::array<T*, dau_forward_max_images> t_of, gz_of;
  for (index_t k = 0; k < images; ++k) {
    save[k] = state_of(k);
    t_of[k] = save[k].t;
    gz_of[k] = save[k].gz;
  }
  const bool whole = save[0].t && save[0].gz;
  assert(images == 1 || (whole && images <= dau_forward_max_images && P % gemm_blocking<T>::nr == 0));
  const index_t pt = dau_forward_tile(g, whole, images);
  scratch_scope<T> scope(scratch);
  T* cols = scratch.allocate(J * NP);
  for (index_t k = 0; k < images; ++k) im2col(g.conv, x + k * g.conv.image_size(), cols + k * P, NP, 0, P);
  T* z = scratch.allocate(R * NP);
  gemm_packed_a<T>(R, NP, J, p.packed_a, row_major(cols, NP), z, NP, false, scratch);
  for (index_t k = 0; k < images; ++k)
    if (save[k].z)
      for (index_t r = 0; r < R; ++r) std::copy(z + r * NP + k * P, z + r * NP + (k + 1) * P, save[k].z + r * P);

  T* t_tile = whole ? nullptr : scratch.allocate(O * R * pt);
  T* gz_tile = whole ? nullptr : scratch.allocate(O * R * pt);
  T* d = scratch.allocate(O * pt);
  T* n2 = scratch.allocate(O * pt);
  using coda::detail::row;
  for (index_t q0 = 0; q0 < NP; q0 += pt) {
    const index_t nq = std::min(pt, NP - q0);
    const matrix_ref<T> cols_tile{cols + q0, NP, 1}, z_tile{z + q0, NP, 1};
    // d = b.x + sum_r z_r t_r and n2 = |b|^2 + 2 (B^T b).z + sum_r z_r (G z)_r: the sums over r
    // are added by the products' views as their tiles finish.
    gemm_packed_a<T>(O, nq, J, p.packed_bias_t, cols_tile, d, pt, false, scratch);
    gemm_packed_a<T>(O, nq, R, p.packed_gram_bias, z_tile, n2, pt, false, scratch);
    for (index_t o = 0; o < O; ++o) row(n2 + o * pt, nq) = p.bias_norm2[o] + 2 * row(n2 + o * pt, nq);
    const auto t_sum = [&](auto out) { return detail::reducing(out, z + q0, NP, d, pt, R); };
    const auto gz_sum = [&](auto out) { return detail::reducing(out, z + q0, NP, n2, pt, R); };
    if (whole) {
      if (p.winograd_b && winograd_forward_applies<T>(g.conv))
        winograd_forward_t<T>(g.conv, images, x, p.winograd_b, O * R, R, z, t_of.data(), d, scratch);
      else
        gemm_packed_a<T>(O * R, nq, J, p.packed_bt, cols_tile, t_sum(column_blocks_out<T>{t_of.data(), P}), false, scratch);
      gemm_packed_a<T>(O * R, nq, R, p.packed_gram, z_tile, gz_sum(column_blocks_out<T>{gz_of.data(), P}), false, scratch);
    } else {
      gemm_packed_a<T>(O * R, nq, J, p.packed_bt, cols_tile, t_sum(matrix_out<T>{t_tile, pt}), false, scratch);
      gemm_packed_a<T>(O * R, nq, R, p.packed_gram, z_tile, gz_sum(matrix_out<T>{gz_tile, pt}), false, scratch);
    }
    // y = d s(n2), image by image.
    const auto scale_of = [](T v) { return Norm::scale(v); };
    for (index_t c0 = 0; c0 < nq;) {
      const index_t k = (q0 + c0) / P, q = (q0 + c0) % P, nc = std::min(nq - c0, P - q);
      const dau_state<T>& s = save[whole ? k : 0];
      for (index_t o = 0; o < O; ++o) {
        const auto dq = row(static_cast<const T*>(d) + o * pt + c0, nc);
        const auto n2q = row(static_cast<const T*>(n2) + o * pt + c0, nc);
        const index_t at = o * P + q;
        if (s.scale) {
          row(s.scale + at, nc) = n2q.unaryExpr(scale_of);
          row(y + k * O * P + at, nc) = dq * row(static_cast<const T*>(s.scale) + at, nc);
        } else {
          row(y + k * O * P + at, nc) = dq * n2q.unaryExpr(scale_of);
        }
        if (s.d) row(s.d + at, nc) = dq;
        if (s.n2) row(s.n2 + at, nc) = n2q;
      }
      c0 += nc;
    }
  }
}

/// One image: x [C_in][H][W] -> y [O][P], recording into `save`.
template <class Norm, class T>
void dau_forward(const dau_dims& g, const dau_weights<T>& p, const T* x, T* y, const dau_state<T>& save, arena<T>& scratch) {
  dau_forward<Norm>(g, p, 1, x, y, [&](index_t) { return save; }, scratch);
}

template <class T>
constexpr std::size_t dau_explain_scratch(const dau_dims& g) {
  using coda::detail::aligned_count;
  constexpr index_t NB = simd::frozen_positions<T>, K = simd::frozen_max_seeds;
  return aligned_count<T>(g.rank * NB) + aligned_count<T>(K * simd::frozen_padded_channels(g.c_out) * NB) +
         aligned_count<T>(K * g.patch_size() * NB);
}

/// Frozen backward of one image for `seeds` gradients: grad_out [seeds][O][P] ->
/// grad_in [seeds][C_in][H][W] (overwritten), from the codes z and the scales saved by the
/// forward pass; see coda/simd/frozen_backward.hpp for how the dynamic weights are handled.
template <class T>
void dau_explain_backward(const dau_dims& g, const dau_weights<T>& p, const T* z, const T* scale, index_t seeds,
                          const T* grad_out, T* grad_in, arena<T>& scratch) {
  constexpr index_t NB = simd::frozen_positions<T>, KMAX = simd::frozen_max_seeds;
  const index_t J = g.patch_size(), P = g.positions(), O = g.c_out, R = g.rank, in_size = g.conv.image_size();
  const index_t OP = simd::frozen_padded_channels(O);
  scratch_scope<T> scope(scratch);
  T* zb = scratch.allocate(R * NB);
  T* ub = scratch.allocate(KMAX * OP * NB);
  T* gb = scratch.allocate(KMAX * J * NB);
  std::fill(grad_in, grad_in + seeds * in_size, T(0));
  std::fill(ub, ub + KMAX * OP * NB, T(0));  // padded channels stay zero
  for (index_t q0 = 0; q0 < P; q0 += NB) {
    const index_t nq = std::min(NB, P - q0);
    for (index_t r = 0; r < R; ++r)
      for (index_t q = 0; q < NB; ++q) zb[r * NB + q] = q < nq ? z[r * P + q0 + q] : T(0);
    for (index_t k0 = 0; k0 < seeds; k0 += KMAX) {
      const index_t kn = std::min(KMAX, seeds - k0);
      for (index_t k = 0; k < kn; ++k)
        for (index_t o = 0; o < O; ++o)
          for (index_t q = 0; q < NB; ++q)
            ub[(k * OP + o) * NB + q] = q < nq ? grad_out[((k0 + k) * O + o) * P + q0 + q] * scale[o * P + q0 + q] : T(0);
      simd::frozen_block<T>(kn, J, OP, R, p.frozen_b, p.frozen_bias, zb, ub, gb);
      for (index_t k = 0; k < kn; ++k) col2im_add(g.conv, gb + k * J * NB, NB, q0, nq, grad_in + (k0 + k) * in_size);
    }
  }
}

/// Parameter gradients of one layer, accumulated into: a [R][J], b [J][O][R], bias [J][O].
template <class T>
struct dau_param_grads {
  T* a;
  T* b;
  T* bias;
};

/// Sums over every position of the images since the last optimiser step that the gradient needs
/// only once per step, because they multiply the static B and b: S_o = sum beta z z^T,
/// s_o = sum beta z and sum beta (finish_dau_param_grads applies them). They live in the gradient
/// buffer after the parameters and are zeroed with it.
template <class T>
struct dau_batch_sums {
  T* s_mat;     ///< [O][R][R], of which the backward sums S_o's upper triangle into the first R(R+1)/2
  T* s_vec;     ///< [O][R]
  T* beta_sum;  ///< [O]

  static constexpr index_t size(index_t c_out, index_t rank) { return c_out * rank * rank + c_out * rank + c_out; }
};

namespace detail {

/// sums[i] += sum_q m[i][q] for a row-major rows x cols matrix. Sixteen partial sums per row (a
/// fixed order, so results do not depend on anything but the data): one running sum would be a
/// chain of dependent additions, several cycles per element.
template <class T>
void add_row_sums(index_t rows, index_t cols, const T* m, T* sums) {
  constexpr index_t K = 16;
  for (index_t i = 0; i < rows; ++i) {
    const T* row = m + i * cols;
    T part[K] = {};
    index_t q = 0;
    for (; q + K <= cols; q += K)
      for (index_t k = 0; k < K; ++k) part[k] += row[q + k];
    for (; q < cols; ++q) part[0] += row[q];
    T total = 0;
    for (index_t k = 0; k < K; ++k) total += part[k];
    sums[i] += total;
  }
}

/// dst (cols x rows) = src (rows x cols)^T, both row-major, in 16 x 16 blocks that stay in L1.
template <class T>
void transpose(index_t rows, index_t cols, const T* src, T* dst) {
  constexpr index_t B = 16;
  for (index_t i0 = 0; i0 < rows; i0 += B)
    for (index_t j0 = 0; j0 < cols; j0 += B)
      for (index_t i = i0; i < std::min(i0 + B, rows); ++i)
        for (index_t j = j0; j < std::min(j0 + B, cols); ++j) dst[j * rows + i] = src[i * cols + j];
}

}  // namespace detail

/// Images whose positions the training backward puts side by side in one product, so that the
/// sums over positions (the parameter gradients) run over at least 512 columns: with the 8x8
/// layers' 64 positions per image, one image at a time left the micro-kernel short K loops and
/// streamed the whole gradient of B through memory once per image. 512 rather than 256 puts two
/// 16x16 images together: 3-4% of a worker's forward and backward (Intel Xeon); 1024 gained no more.
constexpr index_t dau_backward_images(const dau_dims& g, index_t batch) {
  return std::max<index_t>(1, std::min(batch, 512 / g.positions()));
}

template <class T>
constexpr std::size_t dau_train_backward_scratch(const dau_dims& g, index_t batch = 1) {
  using coda::detail::aligned_count;
  const index_t J = g.patch_size(), O = g.c_out, R = g.rank, NP = dau_backward_images(g, batch) * g.positions();
  const std::size_t buffers = 2 * aligned_count<T>(J * NP) + aligned_count<T>(packed_a_size<T>(J, NP)) +
                              2 * aligned_count<T>(O * NP) + 3 * aligned_count<T>(R * NP);
  const std::size_t products = std::max({gemm_scratch<T>(R, NP, O), gemm_packed_a_scratch<T>(O * R, NP), gemm_packed_a_scratch<T>(O, NP),
                                         gemm_scratch<T>(R, J, NP), gemm_scratch<T>(O, R * (R + 1) / 2, NP), gemm_scratch<T>(O, R, NP), gemm_packed_a_scratch<T>(NP, O * R),
                                         gemm_scratch<T>(J, NP, O), gemm_scratch<T>(J, NP, R),
                                         winograd_weight_gradient_applies(g.conv)
                                             ? winograd_backward_scratch<T>(g.conv, NP, O * R, winograd_forward_applies<T>(g.conv))
                                             : 0});
  return buffers + products;
}

/// Backward of `batch` images with the dynamic weights differentiated. With
///   alpha_{o,q} = g scale(n2),  beta_{o,q} = 2 g d scale'(n2),  so that dL/dw_o = alpha x + beta w_o,
/// every term is a product over (alpha (x) z) or (beta (x) z) and nothing of size O*J per position is
/// formed; dL/dz gets sum_o beta_o G_o z from the G z the forward pass saved. Images are taken
/// dau_backward_images() at a time, their positions side by side. x is [batch][C_in][H][W],
/// state_of(n) image n's record, grad_out [batch][O][P]. Writes grad_in [batch][C_in][H][W] (when
/// not null); accumulates into `grads` and `sums` (when not null; finish_dau_param_grads()
/// completes them once per optimiser step).
template <class Norm, class T, class StateOf>
void dau_train_backward(const dau_dims& g, const dau_weights<T>& p, index_t batch, const T* x, StateOf&& state_of,
                        const T* grad_out, T* grad_in, const dau_param_grads<T>* grads, const dau_batch_sums<T>* sums,
                        arena<T>& scratch) {
  const index_t J = g.patch_size(), P = g.positions(), O = g.c_out, R = g.rank, in_size = g.conv.image_size();
  const index_t group = dau_backward_images(g, batch);
  // Winograd's weight gradient, and where the weights are transformed for it, the B (alpha (x) z)
  // term of dL/dx from the same transformed tiles (winograd_backward), whether or not the
  // parameter gradients are asked for: the input gradient must not depend on it.
  const bool winograd_db = grads && winograd_weight_gradient_applies(g.conv);
  const bool winograd_dx = grad_in && p.winograd_b && winograd_weight_gradient_applies(g.conv);
  using coda::detail::row;
  const auto dscale = [](T n2) { return Norm::dscale(n2); };
  for (index_t n0 = 0; n0 < batch; n0 += group) {
    const index_t nb = std::min(group, batch - n0), NP = nb * P;
    scratch_scope<T> scope(scratch);
    T* cols = scratch.allocate(J * NP);
    T* alpha = scratch.allocate(O * NP);
    T* beta = scratch.allocate(O * NP);
    T* z = scratch.allocate(R * NP);
    T* gz = scratch.allocate(R * NP);
    std::fill(gz, gz + R * NP, T(0));
    for (index_t k = 0; k < nb; ++k) {
      const dau_state<T> s = state_of(n0 + k);
      const T* go = grad_out + (n0 + k) * O * P;
      const index_t at = k * P;  // this image's first column
      im2col(g.conv, x + (n0 + k) * in_size, cols + at, NP, 0, P);
      for (index_t o = 0; o < O; ++o) {
        const index_t i = o * P;
        row(alpha + o * NP + at, P) = row(go + i, P) * row(s.scale + i, P);
        row(beta + o * NP + at, P) = T(2) * row(go + i, P) * row(s.d + i, P) * row(s.n2 + i, P).unaryExpr(dscale);
      }
      for (index_t r = 0; r < R; ++r) row(z + r * NP + at, P) = row(s.z + r * P, P);
      for (index_t o = 0; o < O; ++o) {
        const auto ao = row(alpha + o * NP + at, P);
        const auto bo = row(beta + o * NP + at, P);
        for (index_t r = 0; r < R; ++r) {
          const index_t i = (o * R + r) * P;
          row(gz + r * NP + at, P) += ao * row(s.t + i, P) + bo * row(s.gz + i, P);
        }
      }
    }
    // dL/dz += sum_o beta_o B_o^T b_o.
    gemm<T>(R, NP, O, transposed(p.gram_bias, R), row_major(beta, NP), gz, NP, true, scratch);
    // alpha read position by position: the u of (alpha (x) z) and the B of dL/db.
    const matrix_ref<T> alpha_by_position = transposed(alpha, NP);
    // alpha (x) z and beta (x) z, [O][R] per position, are formed by the packing of the products
    // that read them (kronecker_rows_ref), never stored: position-major for the sums over
    // positions, (o, r)-major for dL/dx.
    T* z_t = grads || winograd_dx ? scratch.allocate(NP * R) : nullptr;
    if (z_t) detail::transpose(R, NP, z, z_t);
    if (winograd_db || winograd_dx) {
      const winograd_input_gradient<T> input{p.winograd_b, grad_in + n0 * in_size};
      if (winograd_dx) std::fill(input.dx, input.dx + nb * in_size, T(0));
      winograd_backward<T>(g.conv, nb, x + n0 * in_size, alpha, z_t, O, R, winograd_db ? grads->b : nullptr, O * R,
                           winograd_dx ? &input : nullptr, scratch);
    }
    if (grads) {
      const matrix_ref<T> zr = row_major(z_t, R);
      // The patches are the A of dL/dB and dL/db: packed once for both, not once per block of
      // their columns (dL/dB has C_out*R of them). Where Winograd's weight gradient applies, dL/dB
      // came from the images instead.
      T* cols_packed = scratch.allocate(packed_a_size<T>(J, NP));
      pack_a<T>(J, NP, row_major(cols, NP), cols_packed);
      if (!winograd_db)
        gemm_packed_a<T>(J, O * R, NP, cols_packed, kronecker_rows_ref<T>{alpha_by_position, zr, R}, grads->b, O * R, true,
                         scratch);
      gemm_packed_a<T>(J, O, NP, cols_packed, alpha_by_position, grads->bias, O, true, scratch);
      gemm<T>(R, J, NP, row_major(gz, NP), transposed(cols, NP), grads->a, J, true, scratch);
      // S_o = sum_q beta_o z z^T as one product of beta (O x positions) with the rows of z z^T's
      // upper triangle (the first R(R+1)/2 elements of each S_o; finish_dau_param_grads mirrors
      // them): half the multiplications, and the packing forms them by vector products on the B
      // side, each packed element serving O rows (as an O*R x R product of the whole z (x) z they
      // were formed by scalar gathers for R columns).
      gemm<T>(O, R * (R + 1) / 2, NP, row_major(beta, NP), kronecker_pairs_ref<T>{zr, R}, sums->s_mat, R * R, true, scratch);
      gemm<T>(O, R, NP, row_major(beta, NP), zr, sums->s_vec, R, true, scratch);
      detail::add_row_sums(O, NP, beta, sums->beta_sum);
    }
    if (grad_in) {
      // dL/dpatch = sum_o alpha_o w_o + A^T dL/dz = B (alpha (x) z) + b alpha + A^T dL/dz.
      T* gcols = scratch.allocate(J * NP);
      if (!winograd_dx)
        gemm_packed_a<T>(J, NP, O * R, p.packed_b, kronecker_rows_ref<T>{alpha_by_position, transposed(z, NP), R}.transpose(),
                         gcols, NP, false, scratch);
      gemm<T>(J, NP, O, row_major(p.bias, O), row_major(alpha, NP), gcols, NP, !winograd_dx, scratch);
      gemm<T>(J, NP, R, transposed(p.a, J), row_major(gz, NP), gcols, NP, true, scratch);
      for (index_t k = 0; k < nb; ++k) {
        T* image = grad_in + (n0 + k) * in_size;
        if (!winograd_dx) std::fill(image, image + in_size, T(0));  // else it holds Winograd's term
        col2im_add(g.conv, gcols + k * P, NP, 0, P, image);
      }
    }
  }
}

namespace detail {

/// The symmetric R x R matrix m whose upper triangle, row by row, fills m's first R(R+1)/2
/// elements, in place: from the last element back, each goes to a place at or after its own,
/// whose element has been moved already.
template <class T>
void symmetric_from_upper(index_t R, T* m) {
  index_t at = R * (R + 1) / 2;
  for (index_t a = R - 1; a >= 0; --a)
    for (index_t b = R - 1; b >= a; --b) m[a * R + b] = m[--at];
  for (index_t a = 0; a < R; ++a)
    for (index_t b = a + 1; b < R; ++b) m[b * R + a] = m[a * R + b];
}

}  // namespace detail

/// Applies the batch sums: dL/dB_o += B_o S_o + b_o s_o^T and dL/db_o += B_o s_o + b_o sum beta,
/// then zeroes them, so that gradients are finished exactly once.
template <class T>
void finish_dau_param_grads(const dau_dims& g, const dau_weights<T>& p, const dau_batch_sums<T>& sums,
                            const dau_param_grads<T>& grads, arena<T>& scratch) {
  const index_t J = g.patch_size(), O = g.c_out, R = g.rank;
  for (index_t o = 0; o < O; ++o) {
    detail::symmetric_from_upper(R, sums.s_mat + o * R * R);
    // B_o is columns [o R, o R + R) of the packed B the training backward reads: no packing of
    // it here unless those columns straddle two of its blocks (R not a divisor of KC).
    const matrix_ref<T> s_o = row_major(static_cast<const T*>(sums.s_mat) + o * R * R, R);
    if (packed_columns_contiguous<T>(o * R, R))
      gemm_packed_a_columns<T>(J, R, o * R, R, O * R, p.packed_b, s_o, grads.b + o * R, O * R, true, scratch);
    else
      gemm<T>(J, R, R, {p.b + o * R, O * R, 1}, s_o, grads.b + o * R, O * R, true, scratch);
  }
  // Row j of every B_o and b_o at once: [O][R] and [O] blocks, contiguous.
  using block = Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using column = Eigen::Array<T, Eigen::Dynamic, 1>;
  const Eigen::Map<const block> sv(sums.s_vec, O, R);
  const Eigen::Map<const column> beta_sum(sums.beta_sum, O);
  for (index_t j = 0; j < J; ++j) {
    const Eigen::Map<const block> bj(p.b + j * O * R, O, R);
    const Eigen::Map<const column> cj(p.bias + j * O, O);
    Eigen::Map<block>(grads.b + j * O * R, O, R) += sv.colwise() * cj;
    Eigen::Map<column>(grads.bias + j * O, O) += (bj * sv).rowwise().sum() + cj * beta_sum;
  }
  std::fill(sums.s_mat, sums.s_mat + dau_batch_sums<T>::size(O, R), T(0));
}

template <class T>
constexpr std::size_t finish_dau_param_grads_scratch(const dau_dims& g) {
  return gemm_scratch<T>(g.patch_size(), g.rank, g.rank);
}

}  // namespace coda::kernels

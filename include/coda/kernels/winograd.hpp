// Winograd's F(2x2, 3x3) for the weight gradient of a 3x3 convolution with stride 1 and padding 1:
//   dB[(c, ky, kx)][n] += sum_q x_pad[c][y_q + ky][x_q + kx] g[n][q]
// over the output positions q of a batch of images, n = (o, r), g = alpha_o z_r. Positions are
// taken in 2x2 tiles. For each tile, with D the 4x4 input window of channel c and E the 2x2
// gradient of column n,
//   dB[c, ., .][n] += G^T [ (A E A^T) .* (B^T D B) ] G
// (the transpose of F(2x2, 3x3), whose forward is Y = A^T [(G W G^T) .* (B^T D B)] A). Summed
// over tiles, the 16 element-wise products become 16 products of depth "tiles" instead of one of
// depth "positions" with 9 times the rows: 2.25 times fewer multiplications. The transforms are
// cheap here: B^T D B is per input channel, A E A^T only adds and subtracts the four values of a
// tile (formed for a block of columns at a time, in L2), and G^T M G runs once per column block.
//
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]   A = [1 0; 1 1; 1 -1; 0 -1]
//   2G  = [2 0 0; 1 1 1; 1 -1 1; 0 0 2]              (the halves of G applied as a final 1/4, exact)
#pragma once

#include <algorithm>

#include "coda/core/arena.hpp"
#include "coda/core/eigen.hpp"
#include "coda/kernels/gemm.hpp"
#include "coda/kernels/patches.hpp"

namespace coda::kernels {

/// Whether the training backward computes this convolution's weight gradient with
/// winograd_weight_gradient(): 3x3, stride 1, padding 1, even sides (whole tiles), and at least
/// 32 input channels, the rows of its products. Per call on an Intel Xeon, against the direct
/// product: 16 channels (cifar10-9l's second layer) 1.1-1.2 times as long, 32 channels (2 images
/// of 16x16) 0.7-0.9 times, 64 channels (4 and 8 images of 8x8) 0.8 and 0.7 times.
constexpr bool winograd_weight_gradient_applies(const conv_dims& c) {
  return c.kernel == 3 && c.stride == 1 && c.pad == 1 && c.height % 2 == 0 && c.width % 2 == 0 && c.channels >= 32;
}

namespace detail {

/// Columns processed per block: the block's 16 components of A E A^T (tiles x columns each) and
/// the 16 products' results (C x columns each) stay in L2. 64 timed best of 32 to 256 (Intel Xeon).
inline constexpr index_t winograd_columns = 64;

/// The 16 components of A E A^T for `Width` columns of one o: E[a][b] = s_ab z_ab, out[i * ld]
/// for component i = 4 xi + nu. Fixed-size Eigen arrays, so that each value is one vector register.
template <index_t Width, class T>
CODA_ALWAYS_INLINE void winograd_gradient_columns(const T (&s)[2][2], const T* const (&z)[2][2], T* out, index_t ld) {
  using vec = Eigen::Array<T, Width, 1>;
  using in = Eigen::Map<const vec>;
  const vec e00 = s[0][0] * in(z[0][0]), e01 = s[0][1] * in(z[0][1]), e10 = s[1][0] * in(z[1][0]), e11 = s[1][1] * in(z[1][1]);
  // A E: rows e0, e0 + e1, e0 - e1, -e1; then the same on its columns.
  const vec f[4][2] = {{e00, e01}, {e00 + e10, e01 + e11}, {e00 - e10, e01 - e11}, {-e10, -e11}};
  for (int xi = 0; xi < 4; ++xi) {
    T* o = out + 4 * xi * ld;
    Eigen::Map<vec> nu0(o), nu1(o + ld), nu2(o + 2 * ld), nu3(o + 3 * ld);
    nu0 = f[xi][0];
    nu1 = f[xi][0] + f[xi][1];
    nu2 = f[xi][0] - f[xi][1];
    nu3 = -f[xi][1];
  }
}

/// A E A^T of every tile for columns [n0, n0 + cols): v[t][i][j] for component i = 4 xi + nu (the
/// components of a tile side by side: 16 planes apart, their stores fell in one L1 set), with
/// E[a][b] = alpha[o][q_ab(t)] z[q_ab(t)][r] for column n0 + j = o R + r and q_ab(t) the position
/// (2 ty + a, 2 tx + b) of tile t. The four products are formed once for all 16 components.
template <class T>
void winograd_gradient_tiles(const T* alpha, const T* z, index_t positions, index_t rank, index_t width, index_t image_positions,
                             index_t tiles, index_t n0, index_t cols, T* v) {
  constexpr index_t lanes = 64 / index_t(sizeof(T));
  const index_t tiles_w = width / 2, image_tiles = image_positions / 4;
  for (index_t t = 0; t < tiles; ++t) {
    const index_t image = t / image_tiles, ty = t % image_tiles / tiles_w, tx = t % tiles_w;
    const index_t q00 = image * image_positions + 2 * ty * width + 2 * tx;
    for (index_t j = 0; j < cols;) {
      const index_t o = (n0 + j) / rank, r0 = (n0 + j) % rank, run = std::min(rank - r0, cols - j);
      T s[2][2];
      const T* zq[2][2];
      for (int a = 0; a < 2; ++a)
        for (int b = 0; b < 2; ++b) {
          const index_t q = q00 + a * width + b;
          s[a][b] = alpha[o * positions + q];
          zq[a][b] = z + q * rank + r0;
        }
      T* out = v + t * 16 * cols + j;
      index_t r = 0;
      for (; r + lanes <= run; r += lanes) {
        const T* const at[2][2] = {{zq[0][0] + r, zq[0][1] + r}, {zq[1][0] + r, zq[1][1] + r}};
        winograd_gradient_columns<lanes>(s, at, out + r, cols);
      }
      for (; r < run; ++r) {
        const T* const at[2][2] = {{zq[0][0] + r, zq[0][1] + r}, {zq[1][0] + r, zq[1][1] + r}};
        winograd_gradient_columns<1>(s, at, out + r, cols);
      }
      j += run;
    }
  }
}

/// B^T D B for every channel and tile of one image: u[i][c][t0 + t] for component i = 4 xi + nu,
/// `ld` tiles per row.
template <class T>
void winograd_input_tiles(const conv_dims& g, const T* x, T* u, index_t ld, index_t t0) {
  const index_t H = g.height, W = g.width, C = g.channels, tiles_w = W / 2, plane = C * ld;
  for (index_t c = 0; c < C; ++c)
    for (index_t ty = 0; ty < H / 2; ++ty)
      for (index_t tx = 0; tx < tiles_w; ++tx) {
        T d[4][4];
        for (index_t u0 = 0; u0 < 4; ++u0)
          for (index_t v0 = 0; v0 < 4; ++v0) {
            const index_t y = 2 * ty + u0 - 1, xx = 2 * tx + v0 - 1;
            d[u0][v0] = (y >= 0 && y < H && xx >= 0 && xx < W) ? x[(c * H + y) * W + xx] : T(0);
          }
        T m[4][4];  // B^T d
        for (index_t v0 = 0; v0 < 4; ++v0) {
          m[0][v0] = d[0][v0] - d[2][v0];
          m[1][v0] = d[1][v0] + d[2][v0];
          m[2][v0] = d[2][v0] - d[1][v0];
          m[3][v0] = d[1][v0] - d[3][v0];
        }
        T* at = u + c * ld + t0 + ty * tiles_w + tx;
        for (index_t i = 0; i < 4; ++i) {  // (B^T d) B
          at[(4 * i + 0) * plane] = m[i][0] - m[i][2];
          at[(4 * i + 1) * plane] = m[i][1] + m[i][2];
          at[(4 * i + 2) * plane] = m[i][2] - m[i][1];
          at[(4 * i + 3) * plane] = m[i][1] - m[i][3];
        }
      }
}

}  // namespace detail

/// Scratch elements winograd_weight_gradient() takes for `positions` positions of images of this
/// geometry, gradients of n columns.
template <class T>
constexpr std::size_t winograd_weight_gradient_scratch(const conv_dims& g, index_t positions, index_t n) {
  using coda::detail::aligned_count;
  const index_t tiles = positions / 4, cols = std::min(detail::winograd_columns, n);
  return aligned_count<T>(16 * g.channels * tiles) + 16 * aligned_count<T>(packed_a_size<T>(g.channels, tiles)) +
         aligned_count<T>(16 * tiles * cols) + aligned_count<T>(16 * g.channels * cols) + gemm_packed_a_scratch<T>(cols, tiles);
}

/// dB (C*9 x n, row-major, leading dimension ldb) += the weight gradient of `images` images x
/// [images][C][H][W] for the gradient alpha_o z_r of column n = o R + r: alpha [O][images*P],
/// z_t [images*P][R] (position-major). Requires winograd_weight_gradient_applies(g).
template <class T>
void winograd_weight_gradient(const conv_dims& g, index_t images, const T* x, const T* alpha, const T* z_t, index_t c_out,
                              index_t rank, T* db, index_t ldb, arena<T>& scratch) {
  const index_t C = g.channels, P = g.positions(), NP = images * P, tiles = NP / 4, n = c_out * rank;
  scratch_scope<T> scope(scratch);
  // B^T D B, packed once per component as the A of its products.
  T* u = scratch.allocate(16 * C * tiles);
  for (index_t k = 0; k < images; ++k) detail::winograd_input_tiles(g, x + k * g.image_size(), u, tiles, k * (P / 4));
  const std::size_t packed_size = coda::detail::aligned_count<T>(packed_a_size<T>(C, tiles));
  T* packed_u = scratch.allocate(16 * packed_size);
  for (int i = 0; i < 16; ++i) pack_a<T>(C, tiles, row_major(static_cast<const T*>(u) + i * C * tiles, tiles), packed_u + i * packed_size);
  const index_t block = std::min(detail::winograd_columns, n);
  T* v = scratch.allocate(16 * tiles * block);
  T* m = scratch.allocate(16 * C * block);
  using row = Eigen::Map<Eigen::Array<T, 1, Eigen::Dynamic>>;
  for (index_t n0 = 0; n0 < n; n0 += block) {
    const index_t cols = std::min(block, n - n0);
    detail::winograd_gradient_tiles(alpha, z_t, NP, rank, g.width, P, tiles, n0, cols, v);
    // M[c][i][j], the components side by side as in v.
    for (int i = 0; i < 16; ++i)
      gemm_packed_a<T>(C, cols, tiles, packed_u + i * packed_size, matrix_ref<T>{v + i * cols, 16 * cols, 1}, m + i * cols, 16 * cols,
                       false, scratch);
    // dB[c, ky, kx] += (2G)^T M (2G) / 4: on the columns (nu -> kx, kept in the rows of nu 0, 1
    // and 3, in place and without temporaries), then on the rows (xi -> ky).
    constexpr int kept[3] = {0, 1, 3};
    for (index_t c = 0; c < C; ++c) {
      const auto mi = [&](int i) { return row(m + (c * 16 + i) * cols, cols); };
      for (int xi = 0; xi < 4; ++xi) {
        auto m0 = mi(4 * xi), m1 = mi(4 * xi + 1), m2 = mi(4 * xi + 2), m3 = mi(4 * xi + 3);
        m0 = 2 * m0 + (m1 + m2);
        m3 = (m1 + m2) + 2 * m3;
        m1 = m1 - m2;
      }
      for (int kx = 0; kx < 3; ++kx) {
        const auto y = [&](int xi) { return mi(4 * xi + kept[kx]); };
        const auto out = [&](int ky) { return row(db + (c * 9 + ky * 3 + kx) * ldb + n0, cols); };
        out(0) += T(0.25) * (2 * y(0) + y(1) + y(2));
        out(1) += T(0.25) * (y(1) - y(2));
        out(2) += T(0.25) * (y(1) + y(2) + 2 * y(3));
      }
    }
  }
}

}  // namespace coda::kernels

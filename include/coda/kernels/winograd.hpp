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
//
// The training forward's t = B^T x (winograd_forward_t) is the same convolution forward, with
// C_out*R output channels: Y = A^T [U .* (B^T D B)] A, the 16 components of U = G W G^T formed at
// refresh time (transform_winograd_weights). Its products have depth C_in; what pays for the
// output transform of C_out*R channels is that it runs on a block of rows still in L2, writes
// t's rows as whole vectors, and adds the sums over r of z_r t_r on the way.
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

/// Input channels of a layer whose training forward computes t = B^T x with winograd_forward_t(),
/// or 0: 3x3, stride 1, padding 1, and 32 to KC input channels (the depth of its products, which
/// must lie in one packed block). A training worker's forward of 4 images on an AMD EPYC Zen 4,
/// one thread, per image against the direct product: 32 channels (16x16, 2 images per call)
/// 3.9 -> 3.2 ms, 64 channels (8x8, 4 per call) 3.3 -> 2.2 ms, but 16 channels (one 32x32 image
/// per call, cifar10-9l's second layer) 2.4 -> 2.6 ms.
template <class T>
constexpr index_t winograd_forward_channels(index_t c_in, index_t kernel, index_t stride, index_t pad) {
  return kernel == 3 && stride == 1 && pad == 1 && c_in >= 32 && c_in <= gemm_blocking<T>::kc ? c_in : 0;
}

/// Whether dau_forward computes t with winograd_forward_t() for images of this geometry: the
/// layer qualifies and the sides are even (whole tiles).
template <class T>
constexpr bool winograd_forward_applies(const conv_dims& c) {
  return winograd_forward_channels<T>(c.channels, c.kernel, c.stride, c.pad) > 0 && c.height % 2 == 0 && c.width % 2 == 0;
}

/// Where a layer's transformed weights lie: U = G W G^T, 16 matrices U_k [channels][n], stored
/// packed by pack_a() for both products that read them, the forward's A = U_k^T (n x channels)
/// for every k, then dL/dx's A = U_k (channels x n). Stored raw ([16][C][O*R], 16 MB per layer of
/// cifar10-9l's 8x8 ones), every product packed them again from rows 16 KB apart, a stride the
/// hardware prefetcher does not follow: 78% of the products' own time went to those loads.
template <class T>
struct winograd_weights_layout {
  index_t channels, n;
  constexpr std::size_t forward_stride() const { return coda::detail::aligned_count<T>(packed_a_size<T>(n, channels)); }
  constexpr std::size_t backward_stride() const { return coda::detail::aligned_count<T>(packed_a_size<T>(channels, n)); }
  /// Elements in all: none where the layer has no transformed weights (channels 0).
  constexpr std::size_t size() const { return channels == 0 ? 0 : 16 * (forward_stride() + backward_stride()); }
  constexpr std::size_t forward(int k) const { return k * forward_stride(); }
  constexpr std::size_t backward(int k) const { return 16 * forward_stride() + k * backward_stride(); }
};

/// Elements of the transformed weights of n output channels.
template <class T>
constexpr std::size_t winograd_weights_size(index_t channels, index_t n) {
  return winograd_weights_layout<T>{channels, n}.size();
}

namespace detail {

/// Columns of U that transform_winograd_weights() forms at a time: whole panels of the forward's
/// operand, and the block's 16 components (C x columns each) in L2 while both packings read them.
template <class T>
constexpr index_t winograd_transform_columns = 8 * gemm_blocking<T>::mr;

}  // namespace detail

/// Scratch elements transform_winograd_weights() takes: a block of columns of U unpacked.
template <class T>
constexpr std::size_t winograd_transform_scratch(index_t channels, index_t n) {
  return 16 * coda::detail::aligned_count<T>(channels * std::min(n, detail::winograd_transform_columns<T>));
}

/// U = G W G^T of every kernel W[ky][kx] = b[(c*9 + ky*3 + kx)*n + i] (B's rows j = (c, ky, kx),
/// column i = (o, r)), for component k = 4 a + b, into `out` as winograd_weights_layout says. A
/// block of columns at a time, packed for both products from L2 (U whole, 16 MB for an 8x8 layer
/// of cifar10-9l, was fresh memory to fault in at every optimiser step).
template <class T>
void transform_winograd_weights(index_t channels, index_t n, const T* b, T* out, arena<T>& scratch) {
  using vec = Eigen::Array<T, Eigen::Dynamic, 1>;
  using in = Eigen::Map<const vec>;
  const index_t block = std::min(n, detail::winograd_transform_columns<T>);
  const std::size_t size = coda::detail::aligned_count<T>(channels * block);
  const winograd_weights_layout<T> at{channels, n};
  scratch_scope<T> scope(scratch);
  T* raw = scratch.allocate(16 * size);  // [16][C][cols] of the block
  for (index_t i0 = 0; i0 < n; i0 += block) {
    const index_t cols = std::min(block, n - i0);
    for (index_t c = 0; c < channels; ++c) {
      const auto w = [&](int ky, int kx) { return in(b + (c * 9 + ky * 3 + kx) * n + i0, cols); };
      const auto u = [&](int k) { return Eigen::Map<vec>(raw + k * size + c * cols, cols); };
      for (int kx = 0; kx < 3; ++kx) {  // G W: column kx of it in the rows a = 0..3, as component 4 a + kx
        u(kx) = w(0, kx);
        u(4 + kx) = T(0.5) * (w(0, kx) + w(1, kx) + w(2, kx));
        u(8 + kx) = T(0.5) * (w(0, kx) - w(1, kx) + w(2, kx));
        u(12 + kx) = w(2, kx);
      }
      for (int a = 0; a < 4; ++a) {  // (G W) G^T in place: columns 0, 1, 2 -> components 0, 1, 2, 3
        auto h0 = u(4 * a), h1 = u(4 * a + 1), h2 = u(4 * a + 2), h3 = u(4 * a + 3);
        h3 = h2;
        h2 = T(0.5) * (h0 - h1 + h3);
        h1 = T(0.5) * (h0 + h1 + h3);
      }
    }
    for (int k = 0; k < 16; ++k) {
      const T* uk = raw + k * size;
      pack_a_block<T>(n, channels, i0, cols, 0, channels, transposed(uk, cols), out + at.forward(k));
      pack_a_block<T>(channels, n, 0, channels, i0, cols, row_major(uk, cols), out + at.backward(k));
    }
  }
}

namespace detail {

/// Columns processed per block: the block's 16 components of A E A^T (tiles x columns each) and
/// the 16 products' results (C x columns each) stay in L2. 64 timed best of 32 to 256 (Intel Xeon).
/// A divisor of KC, so that a block's columns of the packed U_k lie in one packed block.
inline constexpr index_t winograd_columns = 64;
static_assert(gemm_blocking<float>::kc % winograd_columns == 0 && gemm_blocking<double>::kc % winograd_columns == 0);

/// The 2x2 tiles of output positions of images side by side, numbered over the images, then
/// rows, then columns: tile t's image and the row and column of its top-left output.
struct tile_grid {
  index_t width, image_tiles;
  struct corner {
    index_t image, y, x;
  };
  corner operator()(index_t t) const {
    const index_t tiles_w = width / 2;
    return {t / image_tiles, 2 * (t % image_tiles / tiles_w), 2 * (t % tiles_w)};
  }
};

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
  const tile_grid grid{width, image_positions / 4};
  for (index_t t = 0; t < tiles; ++t) {
    const tile_grid::corner at = grid(t);
    const index_t q00 = at.image * image_positions + at.y * width + at.x;
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

/// Scratch elements winograd_backward() takes for `positions` positions of images of this
/// geometry, gradients of n columns, with the input gradient or without.
template <class T>
constexpr std::size_t winograd_backward_scratch(const conv_dims& g, index_t positions, index_t n, bool input_gradient) {
  using coda::detail::aligned_count;
  const index_t tiles = positions / 4, cols = std::min(detail::winograd_columns, n), C = g.channels;
  const std::size_t products = std::max(gemm_packed_a_scratch<T>(cols, tiles), input_gradient ? gemm_packed_a_scratch<T>(tiles, cols) : 0);
  return aligned_count<T>(16 * C * tiles) + 16 * aligned_count<T>(packed_a_size<T>(C, tiles)) + aligned_count<T>(16 * tiles * cols) +
         aligned_count<T>(16 * C * cols) + (input_gradient ? aligned_count<T>(16 * C * tiles) : 0) + products;
}

/// The input gradient winograd_backward() adds: dx [images][C][H][W] += the gradient of x
/// through t = B^T x, from the transformed weights u (transform_winograd_weights, of n = O*R
/// columns).
template <class T>
struct winograd_input_gradient {
  const T* u;
  T* dx;
};

namespace detail {

/// dx += B M B^T of every tile's 4x4 window (overlapping its neighbours by 2, the padding
/// dropped), M [16][C][tiles]: the transpose of the forward's input transform.
template <class T>
void winograd_scatter_tiles(const conv_dims& g, index_t images, const T* m, T* dx) {
  const index_t H = g.height, W = g.width, C = g.channels, tiles = images * g.positions() / 4;
  const tile_grid grid{W, g.positions() / 4};
  for (index_t c = 0; c < C; ++c)
    for (index_t t = 0; t < tiles; ++t) {
      const tile_grid::corner at = grid(t);
      T e[4][4];  // B M: rows u0 from the rows xi of M
      for (index_t nu = 0; nu < 4; ++nu) {
        const auto mv = [&](index_t xi) { return m[((4 * xi + nu) * C + c) * tiles + t]; };
        e[0][nu] = mv(0);
        e[1][nu] = mv(1) - mv(2) + mv(3);
        e[2][nu] = mv(1) + mv(2) - mv(0);
        e[3][nu] = -mv(3);
      }
      T* image = dx + (at.image * C + c) * H * W;
      for (index_t u0 = 0; u0 < 4; ++u0) {
        const index_t y = at.y + u0 - 1;
        if (y < 0 || y >= H) continue;
        const T d[4] = {e[u0][0], e[u0][1] - e[u0][2] + e[u0][3], e[u0][1] + e[u0][2] - e[u0][0], -e[u0][3]};  // (B M) B^T
        for (index_t v0 = 0; v0 < 4; ++v0) {
          const index_t xx = at.x + v0 - 1;
          if (xx >= 0 && xx < W) image[y * W + xx] += d[v0];
        }
      }
    }
}

}  // namespace detail

/// dB (C*9 x n, row-major, leading dimension ldb; when not null) += the weight gradient of
/// `images` images x [images][C][H][W] for the gradient alpha_o z_r of column n = o R + r: alpha
/// [O][images*P], z_t [images*P][R] (position-major). Requires winograd_weight_gradient_applies(g).
/// With `input`, also the input gradient through t = B^T x, the transpose of the forward's
/// algorithm,
///   dD = B [sum_n U_n .* (A E_n A^T)] B^T,
/// whose A E A^T are the weight gradient's own: with both, it costs only its products and B M B^T.
/// Its sums do not depend on whether dB is asked for.
template <class T>
void winograd_backward(const conv_dims& g, index_t images, const T* x, const T* alpha, const T* z_t, index_t c_out, index_t rank,
                       T* db, index_t ldb, const winograd_input_gradient<T>* input, arena<T>& scratch) {
  const index_t C = g.channels, P = g.positions(), NP = images * P, tiles = NP / 4, n = c_out * rank;
  scratch_scope<T> scope(scratch);
  // B^T D B, packed once per component as the A of its products.
  const std::size_t packed_size = coda::detail::aligned_count<T>(packed_a_size<T>(C, tiles));
  T* packed_u = db ? scratch.allocate(16 * packed_size) : nullptr;
  if (db) {
    T* u = scratch.allocate(16 * C * tiles);
    for (index_t k = 0; k < images; ++k) detail::winograd_input_tiles(g, x + k * g.image_size(), u, tiles, k * (P / 4));
    for (int i = 0; i < 16; ++i) pack_a<T>(C, tiles, row_major(static_cast<const T*>(u) + i * C * tiles, tiles), packed_u + i * packed_size);
  }
  const index_t block = std::min(detail::winograd_columns, n);
  T* v = scratch.allocate(16 * tiles * block);
  T* m = scratch.allocate(16 * C * block);
  T* mx = input ? scratch.allocate(16 * C * tiles) : nullptr;  // [16][C][tiles], summed over the column blocks
  const winograd_weights_layout<T> u_at{C, n};
  using row = Eigen::Map<Eigen::Array<T, 1, Eigen::Dynamic>>;
  for (index_t n0 = 0; n0 < n; n0 += block) {
    const index_t cols = std::min(block, n - n0);
    detail::winograd_gradient_tiles(alpha, z_t, NP, rank, g.width, P, tiles, n0, cols, v);
    if (input)
      for (int i = 0; i < 16; ++i)
        gemm_packed_a_columns<T>(C, tiles, n0, cols, n, input->u + u_at.backward(i), matrix_ref<T>{v + i * cols, 1, 16 * cols},
                                 mx + i * C * tiles, tiles, n0 > 0, scratch);
    if (!db) continue;
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
  if (input) detail::winograd_scatter_tiles(g, images, mx, input->dx);
}

namespace detail {

/// Rows of t per block of winograd_forward_t(): the block's 16 products (16 x rows x tiles values)
/// stay in L2 (512 KB) for the output transform.
template <class T>
constexpr index_t winograd_forward_rows(index_t tiles) {
  constexpr index_t mr = gemm_blocking<T>::mr;
  return std::clamp<index_t>(index_t(512 * 1024 / sizeof(T)) / (16 * tiles) / mr * mr, mr, gemm_blocking<T>::mc);
}

}  // namespace detail

/// Scratch elements winograd_forward_t() takes for `positions` positions (all images) and n = O*R.
template <class T>
constexpr std::size_t winograd_forward_scratch(const conv_dims& g, index_t positions, index_t n, index_t rank) {
  using coda::detail::aligned_count;
  const index_t tiles = positions / 4, rows = std::min(n, detail::winograd_forward_rows<T>(tiles));
  return aligned_count<T>(16 * g.channels * tiles) + aligned_count<T>(rank * positions) + aligned_count<T>(n / rank * positions) +
         aligned_count<T>(16 * rows * tiles) + 2 * aligned_count<T>(4 * tiles) + gemm_packed_a_scratch<T>(tiles, g.channels);
}

/// t = B^T x of `images` images x [images][C][H][W] by F(2x2, 3x3), into each image's record
/// t_of[k] ([n][P], n = O*R rows (o, r)), from the transformed weights u
/// (transform_winograd_weights); and sums[o][q] += sum_r z[r][q] t[(o, r)][q] for the NP =
/// images*P positions q (z [R][NP], sums [O][NP]), in r order. Requires winograd_forward_applies(g).
template <class T>
void winograd_forward_t(const conv_dims& g, index_t images, const T* x, const T* u, index_t n, index_t rank, const T* z,
                        T* const* t_of, T* sums, arena<T>& scratch) {
  using vec = Eigen::Array<T, Eigen::Dynamic, 1>;
  using in = Eigen::Map<const vec>;
  using out = Eigen::Map<vec>;
  const index_t C = g.channels, W = g.width, P = g.positions(), NP = images * P, tiles = NP / 4, O = n / rank;
  const index_t block = std::min(n, detail::winograd_forward_rows<T>(tiles));
  const detail::tile_grid grid{W, P / 4};
  const auto position = [&](index_t t, index_t ab) {  // of output (a, b) = (ab / 2, ab % 2) of tile t
    const detail::tile_grid::corner c = grid(t);
    return c.image * P + (c.y + ab / 2) * W + c.x + ab % 2;
  };
  const winograd_weights_layout<T> u_at{C, n};
  scratch_scope<T> scope(scratch);
  T* v = scratch.allocate(16 * C * tiles);  // B^T D B: v[i][c][t]
  for (index_t k = 0; k < images; ++k) detail::winograd_input_tiles(g, x + k * g.image_size(), v, tiles, k * (P / 4));
  // z and the sums in tile order, [4][R][tiles] and [O][4][tiles], output (a, b) of a tile as 2 a + b.
  T* zt = scratch.allocate(rank * NP);
  T* st = scratch.allocate(O * NP);
  for (index_t r = 0; r < rank; ++r)
    for (index_t ab = 0; ab < 4; ++ab)
      for (index_t t = 0; t < tiles; ++t) zt[(ab * rank + r) * tiles + t] = z[r * NP + position(t, ab)];
  std::fill(st, st + O * NP, T(0));
  T* m = scratch.allocate(16 * block * tiles);
  T* y = scratch.allocate(4 * tiles);
  T* pairs = scratch.allocate(4 * tiles);
  for (index_t i0 = 0; i0 < n; i0 += block) {
    const index_t rows = std::min(block, n - i0);
    // Rows i0.. of U_i^T start a panel (block is a multiple of MR) of its one K block (C <= KC).
    for (int i = 0; i < 16; ++i)
      gemm_packed_a<T>(rows, tiles, C, u + u_at.forward(i) + i0 * C, row_major(static_cast<const T*>(v) + i * C * tiles, tiles),
                       m + i * block * tiles, tiles, false, scratch);
    for (index_t row = i0; row < i0 + rows; ++row) {
      const auto mi = [&](int i) { return in(m + (i * block + row - i0) * tiles, tiles); };
      const auto yi = [&](index_t ab) { return out(y + ab * tiles, tiles); };
      // A^T M A: on the rows (xi), then on the columns (nu), for the 4 outputs of every tile.
      const auto r0 = [&](int nu) { return mi(nu) + mi(4 + nu) + mi(8 + nu); };
      const auto r1 = [&](int nu) { return mi(4 + nu) - mi(8 + nu) - mi(12 + nu); };
      yi(0) = r0(0) + r0(1) + r0(2);
      yi(1) = r0(1) - r0(2) - r0(3);
      yi(2) = r1(0) + r1(1) + r1(2);
      yi(3) = r1(1) - r1(2) - r1(3);
      const index_t o = row / rank, r = row % rank;
      for (index_t ab = 0; ab < 4; ++ab) out(st + (o * 4 + ab) * tiles, tiles) += in(zt + (ab * rank + r) * tiles, tiles) * yi(ab);
      // Outputs (0, 0) and (0, 1) of consecutive tiles make the even rows of t, (1, 0) and (1, 1)
      // the odd ones: interleaved whole, then copied a row of W at a time.
      for (index_t t = 0; t < tiles; ++t) {
        pairs[2 * t] = y[t];
        pairs[2 * t + 1] = y[tiles + t];
        pairs[2 * tiles + 2 * t] = y[2 * tiles + t];
        pairs[2 * tiles + 2 * t + 1] = y[3 * tiles + t];
      }
      for (index_t line = 0; line < 2 * tiles / W; ++line) {
        const index_t k = line * 2 * W / P, to = row * P + line * 2 * W % P;
        std::copy_n(pairs + line * W, W, t_of[k] + to);
        std::copy_n(pairs + 2 * tiles + line * W, W, t_of[k] + to + W);
      }
    }
  }
  for (index_t o = 0; o < O; ++o)
    for (index_t ab = 0; ab < 4; ++ab)
      for (index_t t = 0; t < tiles; ++t) sums[o * NP + position(t, ab)] += st[(o * 4 + ab) * tiles + t];
}

}  // namespace coda::kernels

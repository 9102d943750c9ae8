// RISE (Petsiuk et al., 2018) as the authors' evaluation code configures it: M random masks,
// each a grid x grid grid of cells kept with probability p, upsampled bilinearly to
// (grid + 1) cells of ceil(side / grid) pixels and cropped at a random shift of less than one
// cell; the image is multiplied by each (soft) mask and
//   saliency_t = sum_i sigmoid(f_t(x * mask_i)) mask_i / (M p).
// Defaults: M = 6000, grid 6, p = 0.1. Maps are [classes][1][H][W].
//
// The masks come from the library's counter-based random stream, so mask i of a seed is the same
// on every machine and thread count, and no mask bank is stored: mask i reads the uniform
// numbers u(i (grid^2 + 2) + j) of the seed, j < grid^2 for the cells (kept when u < p), then
// one number each for the row and column shift (floor(u * cell)). The upsampling is
// skimage.transform.resize(order=1, mode='reflect') as the authors call it: output pixel y
// samples the grid at (y + 0.5) grid / upsampled_side - 0.5, mirrored about the border cells.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "coda/attribution/occlusion.hpp"
#include "coda/detail/random.hpp"

namespace coda {

struct rise_options {
  index_t masks = 6000;
  index_t grid = 6;
  double keep = 0.1;
  std::uint64_t seed = 0;
};

namespace detail {

inline void require_rise_options(const rise_options& o) {
  CODA_REQUIRE(o.masks >= 1 && o.grid >= 1 && o.keep > 0 && o.keep <= 1,
               "coda::rise: needs at least one mask, a grid of at least 1 cell and a keep probability in (0, 1]");
}

/// Bilinear sample at `pos` of a line of n values (mirrored about the end samples).
inline double mirrored_linear(const double* v, index_t n, double pos) {
  const auto mirror = [n](index_t i) {
    if (n == 1) return index_t(0);
    const index_t period = 2 * (n - 1);
    i = ((i % period) + period) % period;
    return i < n ? i : period - i;
  };
  const double f = std::floor(pos), a = pos - f;
  const auto i = static_cast<index_t>(f);
  return (1 - a) * v[mirror(i)] + a * v[mirror(i + 1)];
}

}  // namespace detail

/// Mask `index` of `o` for a height x width image: [height][width] values in [0, 1].
template <class T>
void rise_mask(const rise_options& o, index_t index, index_t height, index_t width, T* mask) {
  detail::require_rise_options(o);
  const index_t s = o.grid, cell_h = (height + s - 1) / s, cell_w = (width + s - 1) / s;
  const index_t up_h = (s + 1) * cell_h, up_w = (s + 1) * cell_w;
  const auto base = static_cast<std::uint64_t>(index) * static_cast<std::uint64_t>(s * s + 2);
  std::vector<double> grid(static_cast<std::size_t>(s * s)), column(static_cast<std::size_t>(s));
  for (index_t j = 0; j < s * s; ++j) grid[std::size_t(j)] = detail::uniform_at(o.seed, base + std::uint64_t(j)) < o.keep ? 1.0 : 0.0;
  const auto shift_y = static_cast<index_t>(detail::uniform_at(o.seed, base + std::uint64_t(s * s)) * double(cell_h));
  const auto shift_x = static_cast<index_t>(detail::uniform_at(o.seed, base + std::uint64_t(s * s) + 1) * double(cell_w));
  // Separable: interpolate each grid row at the output columns, then each output column.
  std::vector<double> rows(static_cast<std::size_t>(s * width));
  for (index_t r = 0; r < s; ++r)
    for (index_t x = 0; x < width; ++x)
      rows[std::size_t(r * width + x)] =
          detail::mirrored_linear(grid.data() + r * s, s, (double(x + shift_x) + 0.5) * double(s) / double(up_w) - 0.5);
  for (index_t x = 0; x < width; ++x) {
    for (index_t r = 0; r < s; ++r) column[std::size_t(r)] = rows[std::size_t(r * width + x)];
    for (index_t y = 0; y < height; ++y)
      mask[y * width + x] = static_cast<T>(detail::mirrored_linear(column.data(), s, (double(y + shift_y) + 0.5) * double(s) / double(up_h) - 0.5));
  }
}

/// RISE maps [classes][1][H][W] of one image. Masks are evaluated in batches of 16.
template <class Net>
std::vector<typename Net::scalar_type> rise(const Net& net, const typename Net::scalar_type* image, const std::vector<index_t>& classes,
                                            const rise_options& o = {}) {
  using T = typename Net::scalar_type;
  using I = typename Net::image_shape;
  using plane = shape<1, I::dim(1), I::dim(2)>;
  constexpr index_t chunk = 16;
  detail::require_attribution_input<Net>(image, classes);
  detail::require_rise_options(o);
  const auto num_classes = static_cast<index_t>(classes.size());
  std::vector<T> maps(static_cast<std::size_t>(num_classes * plane::size), T(0)), masks(static_cast<std::size_t>(chunk * plane::size));
  std::vector<T> inputs(static_cast<std::size_t>(chunk * I::size)), logits(static_cast<std::size_t>(chunk * Net::num_classes));
  const tensor_view<T, plane> saliency(maps.data(), num_classes), mask(masks.data(), chunk);
  const tensor_view<T, I> masked(inputs.data(), chunk);
  const auto x = tensor_view<const T, I>(image, 1).sample_matrix(0).array();  // [C][H*W]
  tape<T> t;
  for (index_t m0 = 0; m0 < o.masks; m0 += chunk) {
    const index_t n = std::min(chunk, o.masks - m0);
    for (index_t b = 0; b < n; ++b) {
      rise_mask(o, m0 + b, I::dim(1), I::dim(2), mask.sample_data(b));
      masked.sample_matrix(b).array() = x.rowwise() * mask.sample_matrix(b).array();
    }
    detail::record_forward(net, inputs.data(), n, record_mode::none, 0, t, logits.data());
    // saliency_t += sum_i sigmoid(f_t(x * mask_i)) mask_i over the masks of this chunk
    const auto f = tensor_view<const T, typename Net::logits_shape>(logits.data(), n).array()(Eigen::all, classes);
    saliency.matrix().noalias() += (T(1) + (-f).exp()).inverse().matrix().transpose() * mask.matrix().topRows(n);
  }
  saliency.array() /= T(double(o.masks) * o.keep);
  return maps;
}

}  // namespace coda

// Occlusion as the paper's evaluation computes it (the authors' own implementation, not
// captum's): a black patch (image value 0, so AddInverse sees (0, 0, 0, 1, 1, 1)) is placed at
// every position of a grid with the given stride, and each pixel of a patch receives the drop of
// the logit, f_t(x) - f_t(x with the patch), divided by the number of pixels of that patch;
// a pixel's value is the sum over the patches that cover it. Maps are [classes][1][H][W].
//
// The patches of size k at grid position (i, j), i < H / stride, j < W / stride, cover
//   odd k:  rows [i s - (k-1)/2, i s + (k-1)/2)          even k: rows [(i+1) s - k, i s + k)
// (likewise for columns), clipped to the image: an odd "k" patch is (k-1) x (k-1) away from the
// borders (occlusion5 uses 4x4 patches, occlusion9 8x8), smaller at the top and left borders.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "coda/attribution/gradients.hpp"
#include "coda/core/diagnostics.hpp"

namespace coda {

/// Patch size and stride of occlusion().
struct occlusion_options {
  index_t size = 9;
  index_t stride = 2;
};

/// The paper's two occlusion configurations.
inline constexpr occlusion_options occlusion5{5, 2};
inline constexpr occlusion_options occlusion9{9, 2};

/// One patch: rows [y0, y1), columns [x0, x1).
struct occlusion_window {
  index_t y0, y1, x0, x1;
  index_t pixels() const { return (y1 - y0) * (x1 - x0); }
  /// The patch's block of an Eigen plane [H][W].
  template <class Plane>
  auto of(Plane&& plane) const { return plane.block(y0, x0, y1 - y0, x1 - x0); }
};

/// The patches of `o` over a height x width image, row-major over the grid positions. The image
/// sides must be multiples of the stride (the authors' requirement), the size at least 2.
inline std::vector<occlusion_window> occlusion_windows(index_t height, index_t width, const occlusion_options& o) {
  CODA_REQUIRE(o.size >= 2 && o.stride >= 1 && height % o.stride == 0 && width % o.stride == 0,
               "coda::occlusion: the patch size must be at least 2 and the image sides (" + std::to_string(height) + "x" +
                   std::to_string(width) + ") multiples of the stride " + std::to_string(o.stride));
  const auto span = [&](index_t i, index_t side) {
    const index_t first = o.size % 2 ? i * o.stride - (o.size - 1) / 2 : (i + 1) * o.stride - o.size;
    const index_t last = o.size % 2 ? i * o.stride + (o.size - 1) / 2 : i * o.stride + o.size;
    return std::pair<index_t, index_t>{std::max<index_t>(first, 0), std::min(last, side)};
  };
  std::vector<occlusion_window> windows;
  for (index_t i = 0; i < height / o.stride; ++i)
    for (index_t j = 0; j < width / o.stride; ++j) {
      const auto [y0, y1] = span(i, height);
      const auto [x0, x1] = span(j, width);
      windows.push_back({y0, y1, x0, x1});
    }
  return windows;
}

/// Occlusion for any model: logits(images, n, out) evaluates n images [n][C][H][W] into logits
/// [n][num_logits]. Writes maps [classes][H][W] of `image` [C][H][W].
template <class T, class Logits>
void occlusion(Logits&& logits, const T* image, index_t channels, index_t height, index_t width, index_t num_logits,
               const std::vector<index_t>& classes, const occlusion_options& o, T* maps) {
  // Images and maps as stacks of planes, [channels * H][W] and [classes * H][W].
  using planes = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
  const index_t plane = height * width, size = channels * plane;
  const auto windows = occlusion_windows(height, width, o);
  constexpr index_t chunk = 16;
  std::vector<T> base(static_cast<std::size_t>(num_logits)), out(static_cast<std::size_t>(chunk * num_logits));
  std::vector<T> inputs(static_cast<std::size_t>(chunk * size));
  planes all_maps(maps, static_cast<index_t>(classes.size()) * height, width);
  all_maps = T(0);
  logits(image, 1, base.data());
  for (std::size_t w0 = 0; w0 < windows.size(); w0 += chunk) {
    const auto n = static_cast<index_t>(std::min<std::size_t>(chunk, windows.size() - w0));
    for (index_t b = 0; b < n; ++b) {
      const occlusion_window& w = windows[w0 + static_cast<std::size_t>(b)];
      planes x(inputs.data() + b * size, channels * height, width);
      x = Eigen::Map<const typename planes::PlainObject>(image, channels * height, width);
      for (index_t c = 0; c < channels; ++c) w.of(x.middleRows(c * height, height)) = T(0);
    }
    logits(inputs.data(), n, out.data());
    for (index_t b = 0; b < n; ++b) {
      const occlusion_window& w = windows[w0 + static_cast<std::size_t>(b)];
      for (std::size_t k = 0; k < classes.size(); ++k) {
        const T share = (base[std::size_t(classes[k])] - out[std::size_t(b * num_logits + classes[k])]) / T(w.pixels());
        w.of(all_maps.middleRows(static_cast<index_t>(k) * height, height)) += share;
      }
    }
  }
}

CODA_BEGIN_EIGEN_REDUCTIONS
/// Logits minus the logit bias, [n][classes], summed in double from the class maps. Occlusion
/// subtracts logits of nearly equal images: at T = 1000 the bias (log 1/9) dominates a float
/// logit, whose rounding would then be of the order of the drop itself.
template <class Net>
void unbiased_logits(const Net& net, const typename Net::scalar_type* images, index_t n, typename Net::scalar_type* out,
                     tape<typename Net::scalar_type>& t) {
  using T = typename Net::scalar_type;
  constexpr index_t positions = Net::output_map_shape::dim(1) * Net::output_map_shape::dim(2);
  detail::record_forward(net, images, n, record_mode::none, 0, t, nullptr);
  const auto maps = tensor_view<const T, shape<positions>>(t.node(Net::depth + 1).input, n * Net::num_classes).array();
  Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(out, n * Net::num_classes) =
      (maps.template cast<double>().rowwise().sum() / double(net.temperature())).template cast<T>();
}
CODA_END_EIGEN_REDUCTIONS

/// Occlusion maps [classes][1][H][W] of one image.
template <class Net>
std::vector<typename Net::scalar_type> occlusion(const Net& net, const typename Net::scalar_type* image, const std::vector<index_t>& classes,
                                                 const occlusion_options& o) {
  using T = typename Net::scalar_type;
  using I = typename Net::image_shape;
  detail::require_attribution_input<Net>(image, classes);
  std::vector<T> maps(classes.size() * static_cast<std::size_t>(I::dim(1) * I::dim(2)));
  tape<T> t;
  occlusion([&](const T* x, index_t n, T* out) { unbiased_logits(net, x, n, out, t); }, image, I::dim(0), I::dim(1), I::dim(2),
            Net::num_classes, classes, o, maps.data());
  return maps;
}

}  // namespace coda

// The pixel-removal metric of the paper: rank the pixels of an image by their attribution to the
// true class (summed over the method's channels) and remove them one at a time (all encoded
// channels set to 0, as the authors mask the AddInverse input), least important first (or most
// important first), up to a quarter of the pixels, recording sigmoid(logit of the true class) at
// 129 evenly spaced points. A good attribution keeps the probability high while the unimportant
// pixels go. Pixels of equal attribution are removed in pixel order least first and in reverse
// pixel order most first (a stable argsort and its reverse; the authors' numpy argsort leaves
// their order unspecified, which matters for maps with flat regions such as Grad-CAM's).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <numeric>
#include <vector>

#include "coda/attribution/methods.hpp"
#include "coda/data/cifar.hpp"
#include "coda/nn/add_inverse.hpp"

namespace coda {

inline constexpr index_t removal_points = 129;
inline constexpr double removal_fraction = 0.25;

/// Pixels removed at point k of a curve over an image of `pixels` pixels.
inline index_t pixels_removed_at(index_t k, index_t pixels) {
  const auto last = static_cast<index_t>(removal_fraction * double(pixels));
  return static_cast<index_t>(std::llround(double(k) * double(last) / double(removal_points - 1)));
}

/// The two curves of one image: sigmoid(logit of `cls`) after removing pixels in ascending
/// (least_first) and descending (most_first) order of `map`.
template <class Net>
void removal_curves(const Net& net, const typename Net::scalar_type* image, index_t cls, const typename Net::scalar_type* map,
                    double* least_first, double* most_first) {
  using T = typename Net::scalar_type;
  using E = typename Net::encoded_shape;
  constexpr index_t C = E::dim(0), plane = E::dim(1) * E::dim(2);
  std::vector<index_t> order(static_cast<std::size_t>(plane));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) { return map[a] < map[b]; });
  std::vector<T> inputs(static_cast<std::size_t>(removal_points * E::size)), logits(static_cast<std::size_t>(removal_points * Net::num_classes));
  tape<T> t;
  for (double* curve : {least_first, most_first}) {
    std::vector<T> x(E::size);
    add_inverse<typename Net::image_shape>::encode(image, x.data(), 1);
    index_t removed = 0;
    for (index_t k = 0; k < removal_points; ++k) {
      for (const index_t target = pixels_removed_at(k, plane); removed < target; ++removed) {
        const index_t p = order[static_cast<std::size_t>(curve == least_first ? removed : plane - 1 - removed)];
        for (index_t c = 0; c < C; ++c) x[static_cast<std::size_t>(c * plane + p)] = T(0);
      }
      std::copy(x.begin(), x.end(), inputs.begin() + k * E::size);
    }
    constexpr index_t chunk = 16;
    for (index_t k0 = 0; k0 < removal_points; k0 += chunk) {
      const index_t n = std::min(chunk, removal_points - k0);
      t.prepare(record_mode::none, Net::workspace_size(n, record_mode::none, 0), Net::tape_nodes);
      const T* out = net.forward_encoded(inputs.data() + k0 * E::size, n, t);
      std::copy(out, out + n * Net::num_classes, logits.begin() + k0 * Net::num_classes);
    }
    for (index_t k = 0; k < removal_points; ++k) curve[k] = 1 / (1 + std::exp(-double(logits[static_cast<std::size_t>(k * Net::num_classes + cls)])));
  }
}

/// The first `count` images of a data set in its file order, as the authors take them from the
/// official release, whose classes are mixed. A data set sorted by class (an image folder) would
/// give `count` images of one or two classes, so there the images are taken round-robin over the
/// classes: the first image of each class, then the second, and so on.
inline std::vector<index_t> removal_images(const std::vector<int>& labels, index_t count) {
  const auto n = static_cast<index_t>(labels.size());
  std::vector<index_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  if (std::is_sorted(labels.begin(), labels.end()) && n > 0) {
    std::vector<index_t> rank(static_cast<std::size_t>(n));  // position of each image within its class
    for (index_t i = 1; i < n; ++i)
      rank[std::size_t(i)] = labels[std::size_t(i)] == labels[std::size_t(i - 1)] ? rank[std::size_t(i - 1)] + 1 : 0;
    std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) { return rank[std::size_t(a)] < rank[std::size_t(b)]; });
  }
  order.resize(static_cast<std::size_t>(std::min(count, n)));
  return order;
}

/// Mean removal curves of `method` over data[images[i]] for their labels: [least_first, most_first],
/// each removal_points long. Images are spread over the worker threads.
template <class Net, class Shape>
std::array<std::vector<double>, 2> pixel_removal(const Net& net, attribution_method method, const image_dataset<Shape>& data,
                                                 const std::vector<index_t>& images, const attribution_options& options = {}) {
  detail::require_dataset_shape<Net, Shape>();
  using T = typename Net::scalar_type;
  std::vector<std::vector<double>> least(images.size(), std::vector<double>(removal_points)), most = least;
  parallel_for(static_cast<long>(images.size()), [&](long i, int) {
    std::vector<T> image(static_cast<std::size_t>(Net::image_shape::size));
    const index_t idx = images[static_cast<std::size_t>(i)];
    data.image_as(idx, image.data());
    const index_t cls = data.labels[static_cast<std::size_t>(idx)];
    const auto map = attribute(net, method, image.data(), {cls}, options).summed(0);
    removal_curves(net, image.data(), cls, map.data(), least[static_cast<std::size_t>(i)].data(), most[static_cast<std::size_t>(i)].data());
  });
  std::array<std::vector<double>, 2> mean{std::vector<double>(removal_points, 0.0), std::vector<double>(removal_points, 0.0)};
  for (std::size_t i = 0; i < images.size(); ++i)
    for (index_t k = 0; k < removal_points; ++k) {
      mean[0][static_cast<std::size_t>(k)] += least[i][static_cast<std::size_t>(k)] / double(images.size());
      mean[1][static_cast<std::size_t>(k)] += most[i][static_cast<std::size_t>(k)] / double(images.size());
    }
  return mean;
}

}  // namespace coda

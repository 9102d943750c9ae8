// Shared helpers of the attribution tests (test_attribution_*.cpp, test_localisation.cpp,
// test_pixel_removal.cpp): small double-precision networks, random images and data sets, and the
// independent reference computations the tests compare the library against. Everything a test
// treats as "expected" is computed here from the definitions, without the library's attribution
// code: the AddInverse encoding is written out ([x, 1 - x]), logits come from forward_encoded on
// that encoding, and gradients are central differences of those logits.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "coda/attribution/methods.hpp"
#include "coda/attribution/contributions.hpp"
#include "coda/data/cifar.hpp"
#include "coda/nn/init.hpp"
#include "support/tolerance.hpp"

namespace coda::test {

namespace attribution_tolerance {
/// Maps built from central differences against the library's autodiff, in double. With the
/// step below the truncation error is ~h^2/6 |f'''| ~ 1e-11 and the rounding ~eps |f| / h ~ 1e-11,
/// relative to gradients of order one; 1e-6 is five orders above that noise and far below any
/// wrong term (a missing factor, a dropped channel, the inverse channel's sign or a wrong class
/// is an O(1) error).
inline constexpr double fd = 1e-6;
/// Two evaluations of the same double-precision maths that may differ only in summation order
/// (batch size or chunking changes the kernels' blocking): a few ulps of the largest partial
/// sum through three layers.
inline constexpr double reorder = tolerance::double_reorder;
/// Results that are the same floating-point operations on the same values in at most another
/// order of a final sum or division (a metric recomputed from the same maps, an average of the
/// same curves): a few ulps.
inline constexpr double same_ops = 1e-14;
/// Completeness of the CoDA contributions: the sum of a few hundred contributions of mixed sign
/// against logit - bias, relative to the sum of their magnitudes (what cancels).
inline constexpr double completeness = 1e-12;
}  // namespace attribution_tolerance

/// Central-difference step for the smooth logits of O(1) inputs: near the optimum
/// (3 eps)^(1/3) ~ 1e-5 of the error h^2/6 |f'''| + eps |f| / h.
inline constexpr double fd_step = 1e-5;

/// Temperature and logit bias of the test networks: T ~ 2 makes the logits vary by O(1) between
/// images and classes (at the paper's T = 1000 they would all sit near the bias).
inline constexpr double test_temperature = 2.0;
inline constexpr double test_logit_bias = -0.4;

// A small network: stride 1 and 2, padding, both norms, a 1x1 last layer, 3 classes. Its 8x8
// images are a multiple of the occlusion stride 2; its class maps A are 3x4x4.
using net8 = network<double, shape<3, 8, 8>, dau_conv<6, 5, 4, 3, 1, 1>, dau_conv<5, 4, 3, 3, 2, 1, l2>,
                     dau_conv<4, 3, 5, 1, 1, 0>>;
// A 3x32x32 network (CIFAR-10's images) with 4 classes, for the data-set based metrics; class
// maps 4x8x8.
using net32 = network<double, shape<3, 32, 32>, dau_conv<6, 5, 4, 3, 2, 1>, dau_conv<5, 4, 3, 3, 2, 1, l2>,
                      dau_conv<4, 4, 5, 1, 1, 0>>;
// The same layers on 3x16x16 images (class maps 4x4x4): the data-set based metrics on images
// that are not CIFAR-10's.
using net16 = net32::with_image<shape<3, 16, 16>>;

template <class Net>
Net make_net(std::uint64_t seed) {
  Net net(test_temperature, test_logit_bias);
  init_uniform(net, seed);
  return net;
}

/// `size` values uniform in [lo, hi).
inline std::vector<double> random_values(index_t size, std::uint32_t seed, double lo = 0.0, double hi = 1.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(static_cast<std::size_t>(size));
  for (auto& e : v) e = u(rng);
  return v;
}

/// An image with values in [0, 1).
inline std::vector<double> random_image(index_t size, std::uint32_t seed) { return random_values(size, seed); }

/// The AddInverse encoding [x, 1 - x] of n images [n][image_shape], written out independently of
/// the library's encoder: [n][encoded_shape].
template <class Net>
std::vector<double> encode(const double* images, index_t n = 1) {
  constexpr index_t size = Net::image_shape::size, plane = Net::image_shape::dim(1) * Net::image_shape::dim(2);
  constexpr index_t C = Net::image_shape::dim(0);
  std::vector<double> e(static_cast<std::size_t>(2 * n * size));
  for (index_t b = 0; b < n; ++b)
    for (index_t c = 0; c < C; ++c)
      for (index_t p = 0; p < plane; ++p) {
        const double x = images[b * size + c * plane + p];
        e[static_cast<std::size_t>(2 * b * size + c * plane + p)] = x;
        e[static_cast<std::size_t>(2 * b * size + (C + c) * plane + p)] = 1.0 - x;
      }
  return e;
}

/// Logits [n][classes] of n encoded inputs, one inference recording (nothing kept).
template <class Net>
std::vector<double> logits_encoded(const Net& net, const double* encoded, index_t n) {
  tape<double> t;
  t.prepare(record_mode::none, Net::workspace_size(n, record_mode::none, 0), Net::tape_nodes);
  const double* l = net.forward_encoded(encoded, n, t);
  return std::vector<double>(l, l + n * Net::num_classes);
}

/// Logits [n][classes] of n RGB images, encoded by encode() above.
template <class Net>
std::vector<double> logits_of_images(const Net& net, const double* images, index_t n = 1) {
  const auto e = encode<Net>(images, n);
  return logits_encoded(net, e.data(), n);
}

/// d f_k / d x_i for every RGB value x_i of `image` and every class k in `classes`, where
/// f_k(x) = logit_k([x, 1 - x]): [classes][image size], by central differences. Perturbing the
/// RGB value moves both of its encoded copies, so this is the image gradient the methods define
/// (g_x - g_(1-x) by the chain rule) without using that identity. One batched pass.
template <class Net>
std::vector<std::vector<double>> fd_image_gradients(const Net& net, const std::vector<double>& image, const std::vector<index_t>& classes) {
  constexpr index_t size = Net::image_shape::size;
  std::vector<double> inputs(static_cast<std::size_t>(2 * size * size));
  for (index_t i = 0; i < size; ++i)
    for (index_t s = 0; s < 2; ++s) {
      double* x = inputs.data() + (2 * i + s) * size;
      std::copy(image.begin(), image.end(), x);
      x[i] += s == 0 ? fd_step : -fd_step;
    }
  const auto l = logits_of_images(net, inputs.data(), 2 * size);
  std::vector<std::vector<double>> g(classes.size(), std::vector<double>(static_cast<std::size_t>(size)));
  for (std::size_t k = 0; k < classes.size(); ++k)
    for (index_t i = 0; i < size; ++i)
      g[k][static_cast<std::size_t>(i)] = (l[static_cast<std::size_t>(2 * i * Net::num_classes + classes[k])] -
                                           l[static_cast<std::size_t>((2 * i + 1) * Net::num_classes + classes[k])]) /
                                          (2 * fd_step);
  return g;
}

/// [channels][plane] summed over the channels into [plane].
inline std::vector<double> channel_sum(const double* v, index_t channels, index_t plane) {
  std::vector<double> out(static_cast<std::size_t>(plane), 0.0);
  for (index_t c = 0; c < channels; ++c)
    for (index_t p = 0; p < plane; ++p) out[static_cast<std::size_t>(p)] += v[c * plane + p];
  return out;
}

/// Error of `a` relative to the scale of `b` (test::relative_error over b.size() values).
inline double rel_err(const double* a, const std::vector<double>& b) { return relative_error(a, b.data(), b.size()); }

inline double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

/// A data set of `count` random byte images with labels label_of(i). Each image draws its own
/// byte range per colour plane, so that images differ in colour and contrast (uniform noise over
/// 0..255 would make every image look alike to the network and get the same class).
template <class Shape = cifar10_image_shape, class LabelOf>
image_dataset<Shape> random_dataset(index_t count, std::uint32_t seed, LabelOf label_of) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> level(0, 255);
  image_dataset<Shape> d;
  std::vector<std::uint8_t> px(static_cast<std::size_t>(Shape::size));
  constexpr index_t plane = Shape::dim(1) * Shape::dim(2);
  for (index_t i = 0; i < count; ++i) {
    for (index_t c = 0; c < Shape::dim(0); ++c) {
      const int a = level(rng), b = level(rng);
      std::uniform_int_distribution<int> byte(std::min(a, b), std::max(a, b));
      for (index_t p = 0; p < plane; ++p) px[static_cast<std::size_t>(c * plane + p)] = static_cast<std::uint8_t>(byte(rng));
    }
    d.append(px.data(), label_of(i));
  }
  return d;
}

/// Image i of a data set as doubles in [0, 1].
template <class Shape>
std::vector<double> dataset_image(const image_dataset<Shape>& d, index_t i) {
  std::vector<double> img(static_cast<std::size_t>(Shape::size));
  d.image_as(i, img.data());
  return img;
}

}  // namespace coda::test

// The attribution methods and the paper's attribution metrics against independent computations:
// grad / ixg / intgrad against central differences of the logits with respect to the encoded
// input, Integrated Gradients' completeness and its step error, occlusion against the closed
// form of a linear model and against a window-by-window evaluation of a network, the CoDA maps
// against contributions(), Grad-CAM against a hand computation at the last layer's input, the
// batched maps against the per-image ones, the grid pointing game (grids, cell scores,
// localisation_scores) and pixel removal (schedule, curves, means), confident_images against
// predict(), and the method names.
//
// coda::image_dataset holds 3x32x32 byte images, and confident_images, localisation_scores and
// pixel_removal read them into buffers of Net::image_shape: their tests use a 3x32x32 network.
#include <catch2/catch.hpp>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "coda/attribution/localisation.hpp"
#include "coda/attribution/methods.hpp"
#include "coda/attribution/pixel_removal.hpp"
#include "coda/nn/init.hpp"
#include "support/tolerance.hpp"

using namespace coda;

namespace {

namespace tol {
/// Maps built from central differences against the library's autodiff, in double. With the
/// step below the truncation error is ~h^2/6 |f'''| ~ 1e-11 and the rounding ~eps |f| / h ~ 1e-11,
/// relative to gradients of order one; 1e-6 is five orders above that noise and far below any
/// wrong term (a missing factor, a dropped channel or a wrong class is an O(1) error).
inline constexpr double fd = 1e-6;
/// Two evaluations of the same double-precision maths that may differ only in summation order
/// (batch size or chunking changes the kernels' blocking): a few ulps of the largest partial
/// sum through three layers.
inline constexpr double reorder = test::tolerance::double_reorder;
/// Completeness of the CoDA contributions: the sum of a few hundred contributions of mixed
/// sign against logit - bias, relative to the sum of their magnitudes (what cancels).
inline constexpr double completeness = 1e-12;
/// Results that are the same floating-point operations on the same values (a metric recomputed
/// from the same maps, an average of the same curves in the same order): only the order of a
/// final division or sum can differ.
inline constexpr double same_ops = 1e-14;
}  // namespace tol

/// Central-difference step for the smooth logits of O(1) encoded inputs: near the optimum
/// (3 eps)^(1/3) ~ 1e-5 of the error h^2/6 |f'''| + eps |f| / h.
inline constexpr double fd_step = 1e-5;

/// Temperature and logit bias of the test networks: T ~ 2 makes the logits vary by O(1) between
/// images and classes (at the paper's T = 1000 they would all sit near the bias).
inline constexpr double temperature = 2.0;
inline constexpr double logit_bias = -0.4;

// The brief's small network: stride 1 and 2, padding, both norms, a 1x1 head layer, 3 classes.
using net8 = network<double, shape<3, 8, 8>, dau_conv<6, 5, 4, 3, 1, 1>, dau_conv<5, 4, 3, 3, 2, 1, l2>,
                     dau_conv<4, 3, 5, 1, 1, 0>>;
// The same layers on 10x10 images: large enough for occlusion9's 9x9 window (see the report:
// on 8x8 images a 9x9 window is placed anyway and writes outside the image).
using net10 = net8::with_image<shape<3, 10, 10>>;
// A 3x32x32 network (the image_dataset format) with 4 classes, for the dataset-based metrics.
using net32 = network<double, shape<3, 32, 32>, dau_conv<6, 5, 4, 3, 2, 1>, dau_conv<5, 4, 3, 3, 2, 1, l2>,
                      dau_conv<4, 4, 5, 1, 1, 0>>;

template <class Net>
Net make_net(std::uint64_t seed) {
  Net net(temperature, logit_bias);
  init_uniform(net, seed);
  return net;
}

std::vector<double> random_image(index_t size, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> v(static_cast<std::size_t>(size));
  for (auto& e : v) e = u(rng);
  return v;
}

/// The AddInverse encoding [x, 1 - x], written out independently of the library's encoder.
template <class Net>
std::vector<double> encode(const std::vector<double>& image) {
  const auto n = static_cast<std::size_t>(Net::image_shape::size);
  std::vector<double> e(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    e[i] = image[i];
    e[i + n] = 1.0 - image[i];
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

template <class Net>
std::vector<double> logits_of_image(const Net& net, const std::vector<double>& image) {
  const auto e = encode<Net>(image);
  return logits_encoded(net, e.data(), 1);
}

/// d logit_k / d e_i by central differences for every encoded value e_i and every class in
/// `classes`: [classes][encoded size]. All perturbed inputs go through one batched pass.
template <class Net>
std::vector<std::vector<double>> fd_gradients(const Net& net, const std::vector<double>& encoded,
                                              const std::vector<index_t>& classes) {
  constexpr index_t size = Net::encoded_shape::size;
  std::vector<double> inputs(static_cast<std::size_t>(2 * size * size));
  for (index_t i = 0; i < size; ++i)
    for (int s = 0; s < 2; ++s) {
      double* x = inputs.data() + (2 * i + s) * size;
      std::copy(encoded.begin(), encoded.end(), x);
      x[i] += s == 0 ? fd_step : -fd_step;
    }
  const auto l = logits_encoded(net, inputs.data(), 2 * size);
  std::vector<std::vector<double>> g(classes.size(), std::vector<double>(static_cast<std::size_t>(size)));
  for (std::size_t k = 0; k < classes.size(); ++k)
    for (index_t i = 0; i < size; ++i)
      g[k][static_cast<std::size_t>(i)] =
          (l[static_cast<std::size_t>(2 * i * Net::num_classes + classes[k])] -
           l[static_cast<std::size_t>((2 * i + 1) * Net::num_classes + classes[k])]) /
          (2 * fd_step);
  return g;
}

/// [channels][plane] summed over channels into [plane].
std::vector<double> channel_sum(const std::vector<double>& v, index_t channels, index_t plane) {
  std::vector<double> out(static_cast<std::size_t>(plane), 0.0);
  for (index_t c = 0; c < channels; ++c)
    for (index_t p = 0; p < plane; ++p) out[static_cast<std::size_t>(p)] += v[static_cast<std::size_t>(c * plane + p)];
  return out;
}

double rel_err(const double* a, const std::vector<double>& b) { return test::relative_error(a, b.data(), b.size()); }

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

/// A dataset of `count` random byte images with labels label_of(i). Each image draws its own
/// byte range per colour plane, so that images differ in colour and contrast (uniform noise
/// over 0..255 would make every image look alike to the network and get the same class).
template <class LabelOf>
image_dataset random_dataset(index_t count, std::uint32_t seed, LabelOf label_of) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> level(0, 255);
  image_dataset d;
  std::vector<std::uint8_t> px(static_cast<std::size_t>(cifar_image_bytes));
  constexpr index_t plane = cifar_image_bytes / 3;
  for (index_t i = 0; i < count; ++i) {
    for (index_t c = 0; c < 3; ++c) {
      const int a = level(rng), b = level(rng);
      std::uniform_int_distribution<int> byte(std::min(a, b), std::max(a, b));
      for (index_t p = 0; p < plane; ++p) px[static_cast<std::size_t>(c * plane + p)] = static_cast<std::uint8_t>(byte(rng));
    }
    d.append(px.data(), label_of(i));
  }
  return d;
}

template <class Net>
std::vector<double> dataset_image(const image_dataset& d, index_t i) {
  std::vector<double> img(static_cast<std::size_t>(cifar_image_bytes));
  d.image_as(i, img.data());
  return img;
}

}  // namespace

// ---- 1. gradient and input x gradient ----------------------------------------------------------

TEST_CASE("grad and ixg are the channel sums of finite-difference input gradients", "[attribution][grad][ixg]") {
  using Net = net8;
  using E = Net::encoded_shape;
  constexpr index_t C = E::dim(0), plane = E::dim(1) * E::dim(2);
  const auto net = make_net<Net>(21);
  const auto image = random_image(Net::image_shape::size, 22);
  const auto encoded = encode<Net>(image);
  const std::vector<index_t> classes{2, 0};
  const auto g = fd_gradients(net, encoded, classes);
  const auto grad = attribute(net, attribution_method::gradient, image.data(), classes);
  const auto ixg = attribute(net, attribution_method::input_x_gradient, image.data(), classes);
  REQUIRE(grad.size() == classes.size() * plane);
  REQUIRE(ixg.size() == classes.size() * plane);
  for (std::size_t k = 0; k < classes.size(); ++k) {
    std::vector<double> xg(g[k].size());
    for (std::size_t i = 0; i < xg.size(); ++i) xg[i] = encoded[i] * g[k][i];
    CHECK(rel_err(grad.data() + k * plane, channel_sum(g[k], C, plane)) < tol::fd);
    CHECK(rel_err(ixg.data() + k * plane, channel_sum(xg, C, plane)) < tol::fd);
  }
  // The two classes really are explained separately.
  CHECK(test::relative_error(grad.data(), grad.data() + plane, plane) > 1e-3);
}

// ---- 2. Integrated Gradients -----------------------------------------------------------------

TEST_CASE("intgrad is the 20-step right Riemann sum of finite-difference gradients times the input",
          "[attribution][intgrad]") {
  using Net = net8;
  using E = Net::encoded_shape;
  constexpr index_t C = E::dim(0), plane = E::dim(1) * E::dim(2);
  REQUIRE(integrated_gradients_steps == 20);
  const auto net = make_net<Net>(23);
  const auto image = random_image(Net::image_shape::size, 24);
  const auto encoded = encode<Net>(image);
  const std::vector<index_t> classes{1, 2};
  std::vector<std::vector<double>> sum(classes.size(), std::vector<double>(encoded.size(), 0.0));
  for (index_t s = 1; s <= integrated_gradients_steps; ++s) {
    std::vector<double> scaled(encoded);
    for (auto& v : scaled) v *= double(s) / double(integrated_gradients_steps);
    const auto g = fd_gradients(net, scaled, classes);
    for (std::size_t k = 0; k < classes.size(); ++k)
      for (std::size_t i = 0; i < encoded.size(); ++i) sum[k][i] += g[k][i] / double(integrated_gradients_steps);
  }
  const auto ig = attribute(net, attribution_method::integrated_gradients, image.data(), classes);
  for (std::size_t k = 0; k < classes.size(); ++k) {
    for (std::size_t i = 0; i < encoded.size(); ++i) sum[k][i] *= encoded[i];
    CHECK(rel_err(ig.data() + k * plane, channel_sum(sum[k], C, plane)) < tol::fd);
  }
}

TEST_CASE("intgrad is complete up to its step error, which shrinks with the steps; logit(0) is the bias",
          "[attribution][intgrad][completeness]") {
  using Net = net8;
  using E = Net::encoded_shape;
  const auto net = make_net<Net>(25);
  const auto image = random_image(Net::image_shape::size, 26);
  const auto encoded = encode<Net>(image);

  // Every DAU maps a zero input to zero, so the logits of the zero baseline are exactly the bias.
  const std::vector<double> zeros(static_cast<std::size_t>(E::size), 0.0);
  const auto at_zero = logits_encoded(net, zeros.data(), 1);
  for (double l : at_zero) CHECK(l == net.logit_bias());

  const auto logits = logits_encoded(net, encoded.data(), 1);
  const std::vector<index_t> classes{0, 1, 2};
  const auto ig = attribute(net, attribution_method::integrated_gradients, image.data(), classes);
  for (std::size_t k = 0; k < classes.size(); ++k) {
    const index_t cls = classes[k];
    // f(a) = d/da logit(a x): the integrand along the straight path, by one central difference.
    const auto f = [&](double a) {
      std::vector<double> in(2 * encoded.size());
      for (std::size_t i = 0; i < encoded.size(); ++i) {
        in[i] = (a + fd_step) * encoded[i];
        in[i + encoded.size()] = (a - fd_step) * encoded[i];
      }
      const auto l = logits_encoded(net, in.data(), 2);
      return (l[static_cast<std::size_t>(cls)] - l[static_cast<std::size_t>(Net::num_classes + cls)]) / (2 * fd_step);
    };
    const auto riemann = [&](index_t steps) {
      double s = 0;
      for (index_t j = 1; j <= steps; ++j) s += f(double(j) / double(steps)) / double(steps);
      return s;
    };
    const double exact = logits[static_cast<std::size_t>(cls)] - at_zero[static_cast<std::size_t>(cls)];
    const double map_sum = std::accumulate(ig.begin() + static_cast<long>(k) * E::dim(1) * E::dim(2),
                                           ig.begin() + static_cast<long>(k + 1) * E::dim(1) * E::dim(2), 0.0);
    // The map's total is the 20-step Riemann sum of the path integrand (sum_i x_i g_i = f).
    const double r20 = riemann(20), r40 = riemann(40), r80 = riemann(80);
    CHECK(std::abs(map_sum - r20) < tol::fd * std::max(1.0, std::abs(r20)));
    // Completeness within the step error. By Euler-Maclaurin a right Riemann sum of a smooth
    // integrand errs by (f(1) - f(0)) / (2N) + O(1/N^2); for these slowly varying integrands
    // the second-order term is well below a quarter of the first (checked by the halving
    // below), so |error| <= 1.25 |f(1) - f(0)| / (2N) + the finite-difference noise.
    const double e20 = map_sum - exact, e40 = r40 - exact, e80 = r80 - exact;
    const double first_order = (f(1.0) - f(0.0)) / 2;
    INFO("class " << cls << ": e20 " << e20 << ", e40 " << e40 << ", e80 " << e80 << ", (f(1)-f(0))/2 " << first_order);
    REQUIRE(std::abs(first_order) > 1e-3);  // otherwise the error's leading term vanishes and the rate check is void
    CHECK(std::abs(e20) <= 1.25 * std::abs(first_order) / 20 + tol::fd);
    // The error shrinks as the steps grow, at the first-order rate: halving with each doubling.
    CHECK(std::abs(e40) < std::abs(e20));
    CHECK(std::abs(e80) < std::abs(e40));
    CHECK(e20 / e40 == Approx(2.0).epsilon(0.2));
    CHECK(e40 / e80 == Approx(2.0).epsilon(0.2));
  }
}

// ---- 3. occlusion --------------------------------------------------------------------------

TEST_CASE("occlusion of a linear model equals the closed form", "[attribution][occlusion]") {
  constexpr index_t C = 2, H = 7, W = 6, plane = H * W, size = C * plane, K = 3;
  std::mt19937 rng(31);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> weight(static_cast<std::size_t>(K * size)), bias(K), x(size);
  for (auto& v : weight) v = u(rng);
  for (auto& v : bias) v = u(rng);
  for (auto& v : x) v = u(rng);
  int calls = 0;
  const auto linear = [&](const double* in, index_t n, double* out) {
    ++calls;
    for (index_t b = 0; b < n; ++b)
      for (index_t k = 0; k < K; ++k) {
        double s = bias[static_cast<std::size_t>(k)];
        for (index_t i = 0; i < size; ++i) s += weight[static_cast<std::size_t>(k * size + i)] * in[b * size + i];
        out[b * K + k] = s;
      }
  };
  const std::vector<index_t> classes{2, 0};
  for (index_t window : {2, 3})
    for (index_t stride : {1, 2}) {
      INFO("window " << window << ", stride " << stride);
      // Closed form: zeroing a window drops logit k by sum over the window of W[k] x; each pixel
      // gets the mean drop over the windows that cover it, 0 when none does.
      std::vector<double> drop_sum(classes.size() * plane, 0.0);
      std::vector<int> covered(plane, 0);
      for (index_t y0 = 0; y0 + window <= H; y0 += stride)
        for (index_t x0 = 0; x0 + window <= W; x0 += stride) {
          for (std::size_t k = 0; k < classes.size(); ++k) {
            double drop = 0;
            for (index_t c = 0; c < C; ++c)
              for (index_t y = y0; y < y0 + window; ++y)
                for (index_t xx = x0; xx < x0 + window; ++xx) {
                  const index_t i = c * plane + y * W + xx;
                  drop += weight[static_cast<std::size_t>(classes[k] * size + i)] * x[static_cast<std::size_t>(i)];
                }
            for (index_t y = y0; y < y0 + window; ++y)
              for (index_t xx = x0; xx < x0 + window; ++xx) drop_sum[k * plane + static_cast<std::size_t>(y * W + xx)] += drop;
          }
          for (index_t y = y0; y < y0 + window; ++y)
            for (index_t xx = x0; xx < x0 + window; ++xx) ++covered[static_cast<std::size_t>(y * W + xx)];
        }
      std::vector<double> maps(classes.size() * plane, -99.0);
      calls = 0;
      occlusion(linear, x.data(), C, H, W, K, classes, window, stride, maps.data());
      CHECK(calls >= 2);  // the unoccluded input, then the windows in chunks
      for (std::size_t k = 0; k < classes.size(); ++k)
        for (index_t p = 0; p < plane; ++p) {
          const int n = covered[static_cast<std::size_t>(p)];
          const double expected = n ? drop_sum[k * plane + static_cast<std::size_t>(p)] / n : 0.0;
          INFO("class " << classes[k] << ", pixel (" << p / W << ", " << p % W << "), covered " << n);
          if (n == 0)
            CHECK(maps[k * plane + static_cast<std::size_t>(p)] == 0.0);
          else
            CHECK(maps[k * plane + static_cast<std::size_t>(p)] == Approx(expected).epsilon(1e-12).margin(1e-12));
        }
      // The stride-2 cases leave pixels uncovered: window 2 the last row, window 3 the last column.
      if (stride == 2 && window == 2)
        for (index_t xx = 0; xx < W; ++xx) CHECK(covered[static_cast<std::size_t>((H - 1) * W + xx)] == 0);
      if (stride == 2 && window == 3)
        for (index_t y = 0; y < H; ++y) CHECK(covered[static_cast<std::size_t>(y * W + W - 1)] == 0);
    }
}

TEST_CASE("occlusion5 and occlusion9 of a network are the logit drops of its 5x5 and 9x9 windows at stride 2",
          "[attribution][occlusion]") {
  using Net = net10;
  using E = Net::encoded_shape;
  constexpr index_t C = E::dim(0), H = E::dim(1), W = E::dim(2), plane = H * W;
  const auto net = make_net<Net>(33);
  const auto image = random_image(Net::image_shape::size, 34);
  const auto encoded = encode<Net>(image);
  const auto base = logits_encoded(net, encoded.data(), 1);
  const std::vector<index_t> classes{0, 2};
  for (auto [method, window] : {std::pair{attribution_method::occlusion5, index_t(5)}, std::pair{attribution_method::occlusion9, index_t(9)}}) {
    INFO(method_name(method));
    std::vector<double> sum(classes.size() * plane, 0.0);
    std::vector<int> covered(plane, 0);
    for (index_t y0 = 0; y0 + window <= H; y0 += occlusion_stride)
      for (index_t x0 = 0; x0 + window <= W; x0 += occlusion_stride) {
        auto x = encoded;
        for (index_t c = 0; c < C; ++c)
          for (index_t y = y0; y < y0 + window; ++y)
            for (index_t xx = x0; xx < x0 + window; ++xx) x[static_cast<std::size_t>(c * plane + y * W + xx)] = 0;
        const auto l = logits_encoded(net, x.data(), 1);
        for (index_t y = y0; y < y0 + window; ++y)
          for (index_t xx = x0; xx < x0 + window; ++xx) {
            ++covered[static_cast<std::size_t>(y * W + xx)];
            for (std::size_t k = 0; k < classes.size(); ++k)
              sum[k * plane + static_cast<std::size_t>(y * W + xx)] +=
                  base[static_cast<std::size_t>(classes[k])] - l[static_cast<std::size_t>(classes[k])];
          }
      }
    std::vector<double> expected(sum.size());
    for (std::size_t k = 0; k < classes.size(); ++k)
      for (index_t p = 0; p < plane; ++p) {
        const int n = covered[static_cast<std::size_t>(p)];
        expected[k * plane + static_cast<std::size_t>(p)] = n ? sum[k * plane + static_cast<std::size_t>(p)] / n : 0.0;
      }
    CHECK(covered[static_cast<std::size_t>(plane - 1)] == 0);  // 10 pixels: the last row and column are never occluded
    const auto maps = attribute(net, method, image.data(), classes);
    CHECK(rel_err(maps.data(), expected) < tol::reorder);
  }
}

// ---- 4. coda and gradcam -----------------------------------------------------------------

TEST_CASE("coda maps are complete and are the channel sums of contributions()", "[attribution][coda][completeness]") {
  using Net = net8;
  using E = Net::encoded_shape;
  constexpr index_t C = E::dim(0), plane = E::dim(1) * E::dim(2);
  const auto net = make_net<Net>(41);
  tensor<double, Net::image_shape> images(1);
  const auto image = random_image(Net::image_shape::size, 42);
  std::copy(image.begin(), image.end(), images.data());
  const auto logits = predict(net, images.view());
  const std::vector<index_t> classes{1, 0, 2};
  const auto maps = attribute(net, attribution_method::coda, image.data(), classes);
  for (std::size_t k = 0; k < classes.size(); ++k) {
    const auto contrib = contributions(net, images.view(), {classes[k]});
    const std::vector<double> c(contrib.data(), contrib.data() + E::size);
    CHECK(rel_err(maps.data() + k * plane, channel_sum(c, C, plane)) < tol::same_ops);
    double sum = 0, mass = 0;
    for (index_t p = 0; p < plane; ++p) {
      sum += maps[k * plane + static_cast<std::size_t>(p)];
      mass += std::abs(maps[k * plane + static_cast<std::size_t>(p)]);
    }
    CHECK(std::abs(sum - (logits(0, classes[k]) - net.logit_bias())) <= tol::completeness * mass);
  }
}

TEST_CASE("gradcam's bilinear upsampling matches a hand implementation with half-pixel centres",
          "[attribution][gradcam]") {
  // One channel with gradient mean 1 makes the coarse map the activation itself (ReLU of a
  // non-negative map): what is left is the upsampling, checked for integer and odd ratios.
  for (const auto& dims : {std::array<index_t, 4>{4, 4, 8, 8}, std::array<index_t, 4>{3, 5, 7, 11}}) {
    const index_t h = dims[0], w = dims[1], H = dims[2], W = dims[3];
    INFO(h << "x" << w << " -> " << H << "x" << W);
    std::mt19937 rng(43);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<double> a(static_cast<std::size_t>(h * w)), g(static_cast<std::size_t>(h * w), 1.0), out(static_cast<std::size_t>(H * W));
    for (auto& v : a) v = u(rng);
    detail::gradcam_map(a.data(), g.data(), 1, h, w, H, W, out.data());
    for (index_t y = 0; y < H; ++y)
      for (index_t x = 0; x < W; ++x) {
        // Source coordinate of the output pixel's centre; neighbours clamped at the border.
        const double sy = (y + 0.5) * double(h) / double(H) - 0.5, sx = (x + 0.5) * double(w) / double(W) - 0.5;
        const double fy0 = std::floor(sy), fx0 = std::floor(sx);
        const double ty = sy - fy0, tx = sx - fx0;
        const auto at = [&](double yy, double xx) {
          const auto iy = std::clamp<index_t>(static_cast<index_t>(yy), 0, h - 1);
          const auto ix = std::clamp<index_t>(static_cast<index_t>(xx), 0, w - 1);
          return a[static_cast<std::size_t>(iy * w + ix)];
        };
        const double v = (1 - ty) * ((1 - tx) * at(fy0, fx0) + tx * at(fy0, fx0 + 1)) + ty * ((1 - tx) * at(fy0 + 1, fx0) + tx * at(fy0 + 1, fx0 + 1));
        CHECK(out[static_cast<std::size_t>(y * W + x)] == Approx(v).epsilon(1e-14).margin(1e-15));
      }
  }
}

TEST_CASE("gradcam is ReLU(sum_k mean(dlogit/dA_k) A_k) at the last layer's input, upsampled",
          "[attribution][gradcam]") {
  using Net = net8;
  constexpr std::size_t last = Net::depth - 1;
  using A = Net::layer_input_shape<last>;
  using E = Net::encoded_shape;
  constexpr index_t H = E::dim(1), W = E::dim(2), plane = H * W;
  constexpr index_t ch = A::dim(0), h = A::dim(1), w = A::dim(2);
  const auto net = make_net<Net>(44);
  const auto image = random_image(Net::image_shape::size, 45);

  // A from a train-mode recording of the whole network (node `depth` is the last layer).
  tape<double> t;
  t.prepare(record_mode::train, Net::workspace_size(1, record_mode::train, 1), Net::tape_nodes);
  const double* net_logits = net.forward(image.data(), 1, t);
  const std::vector<double> logits(net_logits, net_logits + Net::num_classes);
  const std::vector<double> act(t.node(Net::depth).input, t.node(Net::depth).input + A::size);

  // The last layer alone, with the same parameters and head: a network whose encoded input is A.
  static_assert(ch % 2 == 0, "the tail network's AddInverse input needs an even channel count");
  using tail_net = network<double, shape<ch / 2, h, w>, Net::layer<last>>;
  tail_net tail(net.temperature(), net.logit_bias());
  tail.update_parameters([&](double* p, index_t n) {
    REQUIRE(n == Net::layer<last>::parameter_count);
    std::copy(net.parameters() + Net::parameter_offset<last>(), net.parameters() + Net::parameter_offset<last>() + n, p);
  });
  CHECK(test::relative_error(logits_encoded(tail, act.data(), 1).data(), logits.data(), logits.size()) < tol::reorder);

  const std::vector<index_t> classes{0, 1, 2};
  const auto g = fd_gradients(tail, act, classes);
  const auto maps = attribute(net, attribution_method::gradcam, image.data(), classes);
  bool some_positive = false, some_clipped = false;
  for (std::size_t k = 0; k < classes.size(); ++k) {
    INFO("class " << classes[k]);
    std::vector<double> cam(static_cast<std::size_t>(h * w), 0.0);
    for (index_t c = 0; c < ch; ++c) {
      double mean = 0;
      for (index_t i = 0; i < h * w; ++i) mean += g[k][static_cast<std::size_t>(c * h * w + i)] / double(h * w);
      for (index_t i = 0; i < h * w; ++i) cam[static_cast<std::size_t>(i)] += mean * act[static_cast<std::size_t>(c * h * w + i)];
    }
    for (auto& v : cam) {
      some_clipped = some_clipped || v < 0;
      v = std::max(v, 0.0);
    }
    // Bilinear upsampling, half-pixel centres, clamped at the border.
    std::vector<double> expected(static_cast<std::size_t>(plane));
    for (index_t y = 0; y < H; ++y)
      for (index_t x = 0; x < W; ++x) {
        const double sy = std::clamp((y + 0.5) * h / double(H) - 0.5, 0.0, double(h - 1));
        const double sx = std::clamp((x + 0.5) * w / double(W) - 0.5, 0.0, double(w - 1));
        const auto y0 = static_cast<index_t>(sy), x0 = static_cast<index_t>(sx);
        const index_t y1 = std::min(y0 + 1, h - 1), x1 = std::min(x0 + 1, w - 1);
        const double ty = sy - y0, tx = sx - x0;
        expected[static_cast<std::size_t>(y * W + x)] =
            (1 - ty) * ((1 - tx) * cam[static_cast<std::size_t>(y0 * w + x0)] + tx * cam[static_cast<std::size_t>(y0 * w + x1)]) +
            ty * ((1 - tx) * cam[static_cast<std::size_t>(y1 * w + x0)] + tx * cam[static_cast<std::size_t>(y1 * w + x1)]);
      }
    const double* m = maps.data() + k * plane;
    CHECK(rel_err(m, expected) < tol::fd);
    CHECK(*std::min_element(m, m + plane) >= 0.0);
    some_positive = some_positive || *std::max_element(m, m + plane) > 0;
  }
  // The case exercises both branches of the ReLU.
  CHECK(some_positive);
  CHECK(some_clipped);
}

// ---- 5. batched maps -----------------------------------------------------------------------

TEST_CASE("attribution_maps equals attribute() image by image, for every method", "[attribution][batched]") {
  using Net = net10;
  constexpr index_t plane = Net::encoded_shape::dim(1) * Net::encoded_shape::dim(2);
  const auto net = make_net<Net>(51);
  for (index_t batch : {1, 3}) {
    tensor<double, Net::image_shape> images(batch);
    const auto pixels = random_image(batch * Net::image_shape::size, static_cast<std::uint32_t>(52 + batch));
    std::copy(pixels.begin(), pixels.end(), images.data());
    std::vector<index_t> classes;
    for (index_t n = 0; n < batch; ++n) classes.push_back((n + 1) % Net::num_classes);
    for (attribution_method m : all_attribution_methods) {
      INFO(method_name(m) << ", batch " << batch);
      const auto maps = attribution_maps(net, m, images.view(), classes);
      REQUIRE(maps.batch() == batch);
      for (index_t n = 0; n < batch; ++n) {
        const auto one = attribute(net, m, images.sample_data(n), {classes[static_cast<std::size_t>(n)]});
        REQUIRE(one.size() == static_cast<std::size_t>(plane));
        // The same computation on the same thread-independent inputs: identical bits.
        CHECK(std::equal(one.begin(), one.end(), maps.sample_data(n)));
      }
    }
  }
  tensor<double, Net::image_shape> two(2);
  CHECK_THROWS_AS(attribution_maps(net, attribution_method::coda, two.view(), {0}), argument_error);
}

// ---- 6. grids and cell scores ------------------------------------------------------------

TEST_CASE("make_grids draws n^2 distinct candidate classes per grid and cycles through each class's list",
          "[attribution][localisation]") {
  std::vector<std::vector<index_t>> ranked(10);
  ranked[0] = {100};
  ranked[2] = {20, 21};
  ranked[3] = {30, 31, 32};
  ranked[5] = {50, 51, 52, 53, 54};
  ranked[7] = {70, 71};
  ranked[8] = {80, 81, 82, 83};
  const index_t n = 2, count = 25;
  const auto grids = make_grids(ranked, n, count, 7);
  REQUIRE(grids.size() == static_cast<std::size_t>(count));
  std::vector<std::size_t> used(ranked.size(), 0);
  for (const auto& g : grids) {
    REQUIRE(g.classes.size() == static_cast<std::size_t>(n * n));
    REQUIRE(g.images.size() == static_cast<std::size_t>(n * n));
    std::vector<int> sorted = g.classes;
    std::sort(sorted.begin(), sorted.end());
    CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
    for (std::size_t cell = 0; cell < g.classes.size(); ++cell) {
      const auto c = static_cast<std::size_t>(g.classes[cell]);
      REQUIRE(c < ranked.size());
      REQUIRE_FALSE(ranked[c].empty());
      // Cells in grid order then cell order take each class's images in confidence order, cycling.
      CHECK(g.images[cell] == ranked[c][used[c] % ranked[c].size()]);
      ++used[c];
    }
  }
  for (std::size_t c = 0; c < ranked.size(); ++c) {
    INFO("class " << c);
    if (ranked[c].empty()) {
      CHECK(used[c] == 0);
    } else {
      CHECK(used[c] > 0);
    }
  }
  CHECK(*std::max_element(used.begin(), used.end()) > 5);  // some list was cycled through

  const auto same = make_grids(ranked, n, count, 7);
  const auto other = make_grids(ranked, n, count, 8);
  bool identical = true, differs = false;
  for (std::size_t i = 0; i < grids.size(); ++i) {
    identical = identical && same[i].classes == grids[i].classes && same[i].images == grids[i].images;
    differs = differs || other[i].classes != grids[i].classes;
  }
  CHECK(identical);
  CHECK(differs);

  // Fewer candidate classes than cells: rejected. Exactly n^2 is enough.
  std::vector<std::vector<index_t>> three(10);
  three[1] = {1};
  three[4] = {4, 5};
  three[9] = {9};
  CHECK_THROWS_AS(make_grids(three, 2, 1, 0), argument_error);
  three[6] = {6};
  const auto exact = make_grids(three, 2, 3, 0);
  for (const auto& g : exact) {
    std::vector<int> sorted = g.classes;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == std::vector<int>{1, 4, 6, 9});
  }
  CHECK_THROWS_AS(make_grids(ranked, 3, 1, 0), argument_error);  // 6 classes for 9 cells
}

TEST_CASE("localisation_score is the positive mass inside the cell over the total positive mass",
          "[attribution][localisation]") {
  constexpr index_t side = 8, n = 2, cell = 3;  // cell 3: the bottom-right 4x4 block
  const auto inside = [](index_t y, index_t x) { return y >= 4 && x >= 4; };
  std::vector<double> map(side * side);

  // Positive only inside the cell (negative values elsewhere do not count): exactly 1.
  for (index_t y = 0; y < side; ++y)
    for (index_t x = 0; x < side; ++x) map[static_cast<std::size_t>(y * side + x)] = inside(y, x) ? 0.5 + y + x : -3.0 - x;
  CHECK(localisation_score(map.data(), n, side, cell) == 1.0);
  CHECK(localisation_score(map.data(), n, side, 0) == 0.0);

  // Uniform: 1 / n^2, for n = 2 and 3.
  std::fill(map.begin(), map.end(), 0.25);
  for (index_t c = 0; c < n * n; ++c) CHECK(localisation_score(map.data(), n, side, c) == Approx(0.25).epsilon(tol::same_ops));
  std::vector<double> uniform9(36, 2.0);
  for (index_t c = 0; c < 9; ++c) CHECK(localisation_score(uniform9.data(), 3, 6, c) == Approx(1.0 / 9).epsilon(tol::same_ops));

  // No positive mass: 0.
  std::fill(map.begin(), map.end(), 0.0);
  CHECK(localisation_score(map.data(), n, side, cell) == 0.0);
  std::fill(map.begin(), map.end(), -1.0);
  CHECK(localisation_score(map.data(), n, side, cell) == 0.0);

  // Negative values are ignored: 2 on the 16 cell pixels, 1 on 16 pixels of cell 0, -100 on the
  // rest gives 32 / (32 + 16).
  for (index_t y = 0; y < side; ++y)
    for (index_t x = 0; x < side; ++x)
      map[static_cast<std::size_t>(y * side + x)] = inside(y, x) ? 2.0 : (y < 4 && x < 4 ? 1.0 : -100.0);
  CHECK(localisation_score(map.data(), n, side, cell) == Approx(2.0 / 3).epsilon(tol::same_ops));
  CHECK(localisation_score(map.data(), n, side, 0) == Approx(1.0 / 3).epsilon(tol::same_ops));
  CHECK(localisation_score(map.data(), n, side, 1) == 0.0);
}

// ---- 7. localisation scores of a network ---------------------------------------------------

TEST_CASE("localisation_scores<2> are fractions and, for coda, the cell scores of attribute() on the composed grid",
          "[attribution][localisation]") {
  using Net = net32;
  using Grid = Net::with_image<shape<3, 64, 64>>;
  constexpr index_t h = 32, w = 32, side = 64;
  const auto net = make_net<Net>(71);
  const auto data = random_dataset(8, 72, [](index_t i) { return int(i % Net::num_classes); });
  const std::vector<localisation_grid> grids{{{0, 5, 2, 7}, {0, 1, 2, 3}}, {{3, 1, 4, 6}, {3, 1, 0, 2}}};
  for (attribution_method m : all_attribution_methods) {
    INFO(method_name(m));
    const auto scores = localisation_scores<2>(net, m, data, grids);
    REQUIRE(scores.size() == grids.size());
    for (const auto& s : scores) {
      REQUIRE(s.size() == 4);
      for (double v : s) {
        CHECK(v >= 0.0);
        CHECK(v <= 1.0);
      }
    }
    if (m != attribution_method::coda) continue;
    const Grid grid_net(net);
    for (std::size_t g = 0; g < grids.size(); ++g) {
      std::vector<double> image(static_cast<std::size_t>(3 * side * side));
      std::vector<index_t> classes;
      for (index_t k = 0; k < 4; ++k) {
        const auto cell = dataset_image<Net>(data, grids[g].images[static_cast<std::size_t>(k)]);
        classes.push_back(grids[g].classes[static_cast<std::size_t>(k)]);
        const index_t oy = k / 2 * h, ox = k % 2 * w;
        for (index_t c = 0; c < 3; ++c)
          for (index_t y = 0; y < h; ++y)
            for (index_t x = 0; x < w; ++x)
              image[static_cast<std::size_t>((c * side + oy + y) * side + ox + x)] = cell[static_cast<std::size_t>((c * h + y) * w + x)];
      }
      const auto maps = attribute(grid_net, attribution_method::coda, image.data(), classes);
      bool nontrivial = false;
      for (index_t k = 0; k < 4; ++k) {
        const double expected = localisation_score(maps.data() + k * side * side, 2, side, k);
        CHECK(scores[g][static_cast<std::size_t>(k)] == Approx(expected).epsilon(tol::same_ops));
        nontrivial = nontrivial || (expected > 0 && expected < 1);
      }
      CHECK(nontrivial);
    }
  }
}

// ---- 8. pixel removal --------------------------------------------------------------------

TEST_CASE("pixels_removed_at goes from 0 to a quarter of the pixels, evenly and monotonically",
          "[attribution][pixel_removal]") {
  CHECK(removal_points == 129);
  CHECK(pixels_removed_at(0, 1024) == 0);
  CHECK(pixels_removed_at(128, 1024) == 256);
  for (index_t k = 0; k < removal_points; ++k) CHECK(pixels_removed_at(k, 1024) == 2 * k);
  for (index_t pixels : {1024, 100, 64, 10, 1}) {
    INFO(pixels << " pixels");
    CHECK(pixels_removed_at(0, pixels) == 0);
    CHECK(pixels_removed_at(removal_points - 1, pixels) == pixels / 4);
    for (index_t k = 1; k < removal_points; ++k) CHECK(pixels_removed_at(k, pixels) >= pixels_removed_at(k - 1, pixels));
  }
}

TEST_CASE("removal_curves are sigmoid(logit) of the image with the ranked pixels zeroed in every channel",
          "[attribution][pixel_removal]") {
  using Net = net32;
  using E = Net::encoded_shape;
  constexpr index_t C = E::dim(0), plane = E::dim(1) * E::dim(2);
  const auto net = make_net<Net>(81);
  const auto image = random_image(Net::image_shape::size, 82);
  const auto encoded = encode<Net>(image);
  const index_t cls = 2;
  // A hand-made map: a permutation of 0..plane-1, so pixel p has rank map[p] (no ties).
  std::vector<double> map(static_cast<std::size_t>(plane));
  std::iota(map.begin(), map.end(), 0.0);
  std::shuffle(map.begin(), map.end(), std::mt19937(83));
  std::vector<double> least(removal_points), most(removal_points);
  removal_curves(net, image.data(), cls, map.data(), least.data(), most.data());

  const double untouched = sigmoid(logits_of_image(net, image)[cls]);
  CHECK(least[0] == Approx(untouched).epsilon(tol::reorder));
  CHECK(most[0] == Approx(untouched).epsilon(tol::reorder));
  for (index_t k : {index_t(1), index_t(37), removal_points - 1}) {
    const index_t removed = pixels_removed_at(k, plane);
    INFO("point " << k << ", " << removed << " pixels removed");
    auto lo = encoded, hi = encoded;
    for (index_t p = 0; p < plane; ++p)
      for (index_t c = 0; c < C; ++c) {
        if (map[static_cast<std::size_t>(p)] < double(removed)) lo[static_cast<std::size_t>(c * plane + p)] = 0;
        if (map[static_cast<std::size_t>(p)] >= double(plane - removed)) hi[static_cast<std::size_t>(c * plane + p)] = 0;
      }
    CHECK(least[static_cast<std::size_t>(k)] == Approx(sigmoid(logits_encoded(net, lo.data(), 1)[cls])).epsilon(tol::reorder));
    CHECK(most[static_cast<std::size_t>(k)] == Approx(sigmoid(logits_encoded(net, hi.data(), 1)[cls])).epsilon(tol::reorder));
  }
  CHECK(least.back() != Approx(most.back()));  // the two orders remove different pixels
}

TEST_CASE("pixel_removal's curves are the means of the per-image removal_curves", "[attribution][pixel_removal]") {
  using Net = net32;
  const auto net = make_net<Net>(85);
  const auto data = random_dataset(5, 86, [](index_t i) { return int((3 * i) % Net::num_classes); });
  const std::vector<index_t> chosen{4, 1, 3};
  for (attribution_method m : {attribution_method::coda, attribution_method::gradient}) {
    INFO(method_name(m));
    const auto mean = pixel_removal(net, m, data, chosen);
    std::vector<double> least(removal_points, 0.0), most(removal_points, 0.0);
    for (index_t i : chosen) {
      const auto image = dataset_image<Net>(data, i);
      const index_t cls = data.labels[static_cast<std::size_t>(i)];
      const auto map = attribute(net, m, image.data(), {cls});
      std::vector<double> l(removal_points), h(removal_points);
      removal_curves(net, image.data(), cls, map.data(), l.data(), h.data());
      for (index_t k = 0; k < removal_points; ++k) {
        least[static_cast<std::size_t>(k)] += l[static_cast<std::size_t>(k)] / double(chosen.size());
        most[static_cast<std::size_t>(k)] += h[static_cast<std::size_t>(k)] / double(chosen.size());
      }
    }
    REQUIRE(mean[0].size() == static_cast<std::size_t>(removal_points));
    REQUIRE(mean[1].size() == static_cast<std::size_t>(removal_points));
    CHECK(rel_err(mean[0].data(), least) < tol::same_ops);
    CHECK(rel_err(mean[1].data(), most) < tol::same_ops);
  }
}

// ---- 9. confident images -----------------------------------------------------------------

TEST_CASE("confident_images keeps the correctly classified images above the threshold, most confident first",
          "[attribution][localisation]") {
  using Net = net32;
  constexpr index_t K = Net::num_classes, count = 300;  // more than one 256-image chunk
  const auto net = make_net<Net>(91);
  auto data = random_dataset(count, 92, [](index_t) { return 0; });
  tensor<double, Net::image_shape> images(count);
  for (index_t i = 0; i < count; ++i) data.image_as(i, images.sample_data(i));
  const auto logits = predict(net, images.view());
  // Two thirds labelled with the predicted class (correct), one third with another class.
  std::vector<double> correct_conf;
  for (index_t i = 0; i < count; ++i) {
    const double* l = logits.sample_data(i);
    const auto top = static_cast<int>(std::max_element(l, l + K) - l);
    data.labels[static_cast<std::size_t>(i)] = i % 3 == 0 ? (top + 1) % int(K) : top;
    if (i % 3 != 0) correct_conf.push_back(sigmoid(l[top]));
  }
  std::sort(correct_conf.begin(), correct_conf.end());
  const double threshold = correct_conf[correct_conf.size() / 2];  // about half the correct ones pass

  std::vector<std::vector<std::pair<double, index_t>>> expected(K);
  for (index_t i = 0; i < count; ++i) {
    const double* l = logits.sample_data(i);
    const int label = data.labels[static_cast<std::size_t>(i)];
    const double p = sigmoid(l[label]);
    if (std::max_element(l, l + K) - l == label && p > threshold) expected[static_cast<std::size_t>(label)].push_back({p, i});
  }
  const auto ranked = confident_images(net, data, threshold);
  REQUIRE(ranked.size() == static_cast<std::size_t>(K));
  std::size_t total = 0, classes_with_images = 0;
  for (index_t c = 0; c < K; ++c) {
    INFO("class " << c);
    auto e = expected[static_cast<std::size_t>(c)];
    std::stable_sort(e.begin(), e.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<index_t> ids;
    for (const auto& [p, i] : e) ids.push_back(i);
    CHECK(ranked[static_cast<std::size_t>(c)] == ids);
    for (std::size_t j = 1; j < e.size(); ++j) CHECK(e[j - 1].first >= e[j].first);
    for (index_t i : ranked[static_cast<std::size_t>(c)]) {
      CHECK(data.labels[static_cast<std::size_t>(i)] == c);
      CHECK(i % 3 != 0);  // never a misclassified image
    }
    total += ranked[static_cast<std::size_t>(c)].size();
    classes_with_images += !ranked[static_cast<std::size_t>(c)].empty();
  }
  CHECK(total > 0);
  CHECK(total < correct_conf.size());  // the threshold removed some correct images
  CHECK(classes_with_images >= 2);
}

// ---- 10. method names --------------------------------------------------------------------

TEST_CASE("method names round-trip and unknown names are rejected", "[attribution][names]") {
  const std::vector<std::string> names{"coda", "grad", "ixg", "intgrad", "occlusion5", "occlusion9", "gradcam"};
  REQUIRE(all_attribution_methods.size() == names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    const attribution_method m = all_attribution_methods[i];
    CHECK(method_name(m) == names[i]);
    const auto parsed = parse_method(names[i]);
    REQUIRE(parsed.has_value());
    CHECK(*parsed == m);
  }
  for (const char* bad : {"", "Coda", "CODA", "gradient", "occlusion", "occlusion7", "grad ", " ixg", "deeplift", "int-grad"})
    CHECK_FALSE(parse_method(bad).has_value());
}

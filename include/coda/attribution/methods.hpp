// Attribution methods behind one interface: the model's own contributions and the baselines of
// the paper's evaluation, all computed with the library's autodiff. attribute() explains one
// image for several classes at once (what the localisation metric needs: one grid, nine
// classes) and shares whatever can be shared between the classes: one forward pass for the
// contributions of all of them, one recording for all gradient passes, one set of occluded
// inputs for all logits.
//
// Every method works in the encoded space the network computes on (the 6 AddInverse channels)
// and returns maps summed over those channels, [classes][H][W]:
//   coda        contributions: x * dlogit/dx with the dynamic weights frozen (exact, complete)
//   grad        dlogit/dx, ordinary gradient (weights not frozen)
//   ixg         x * dlogit/dx (ordinary gradient)
//   intgrad     Integrated Gradients, zero baseline, 20-step right Riemann sum
//   occlusion5  logit(x) - logit(x with a 5x5 patch of all channels set to 0), stride 2,
//   occlusion9  averaged over the patches covering each pixel (9x9 patches for occlusion9)
//   gradcam     Grad-CAM on the input of the last DAU layer: ReLU(sum_k mean(dlogit/dA_k) A_k),
//               upsampled bilinearly to the image size
#pragma once

#include <algorithm>
#include <array>
#include <optional>
#include <string_view>
#include <vector>

#include "coda/attribution/contributions.hpp"

namespace coda {

enum class attribution_method { coda, gradient, input_x_gradient, integrated_gradients, occlusion5, occlusion9, gradcam };

inline constexpr std::array<attribution_method, 7> all_attribution_methods{
    attribution_method::coda,       attribution_method::gradient,   attribution_method::input_x_gradient,
    attribution_method::integrated_gradients, attribution_method::occlusion5, attribution_method::occlusion9,
    attribution_method::gradcam};

/// The method's name on the command line and in reports.
inline const char* method_name(attribution_method m) {
  constexpr const char* names[] = {"coda", "grad", "ixg", "intgrad", "occlusion5", "occlusion9", "gradcam"};
  return names[static_cast<int>(m)];
}

inline std::optional<attribution_method> parse_method(std::string_view name) {
  for (attribution_method m : all_attribution_methods)
    if (name == method_name(m)) return m;
  return std::nullopt;
}

/// Integrated Gradients steps of attribution_method::integrated_gradients.
inline constexpr index_t integrated_gradients_steps = 20;
/// Patch stride of the occlusion methods.
inline constexpr index_t occlusion_stride = 2;

namespace detail {

/// Sums [channels][H*W] into [H*W].
template <class T>
void sum_channels(const T* x, index_t channels, index_t plane, T* out) {
  std::fill(out, out + plane, T(0));
  for (index_t c = 0; c < channels; ++c)
    for (index_t i = 0; i < plane; ++i) out[i] += x[c * plane + i];
}

/// Ordinary gradients of each of `classes` logits with respect to the input of node `node` of a
/// train-mode recording, handed to f(k, gradient) one class at a time.
template <class Net, class F>
void for_each_class_gradient(tape<typename Net::scalar_type>& t, std::size_t node, const std::vector<index_t>& classes, F&& f) {
  using T = typename Net::scalar_type;
  for (std::size_t k = 0; k < classes.size(); ++k) {
    scratch_scope<T> scope(t.memory());
    T* seed = t.memory().allocate(Net::num_classes);
    std::fill(seed, seed + Net::num_classes, T(0));
    seed[classes[k]] = T(1);
    f(k, run_backward<T>(t, node, Net::depth + 1, backward_mode::input, 1, seed, nullptr));
  }
}

/// Grad-CAM map of one class from an 8x8-like map A [C][h][w] and its gradient G: ReLU of the
/// gradient-weighted sum of the channels, bilinearly upsampled (half-pixel centres) to H x W.
template <class T>
void gradcam_map(const T* a, const T* g, index_t channels, index_t h, index_t w, index_t H, index_t W, T* out) {
  std::vector<T> cam(static_cast<std::size_t>(h * w), T(0));
  for (index_t c = 0; c < channels; ++c) {
    T weight = 0;
    for (index_t i = 0; i < h * w; ++i) weight += g[c * h * w + i];
    weight /= T(h * w);
    for (index_t i = 0; i < h * w; ++i) cam[static_cast<std::size_t>(i)] += weight * a[c * h * w + i];
  }
  for (auto& v : cam) v = std::max(v, T(0));
  const auto sample = [&](T pos, index_t n, index_t& i0, index_t& i1, T& frac) {
    const T p = std::clamp(pos, T(0), T(n - 1));
    i0 = static_cast<index_t>(p);
    i1 = std::min(i0 + 1, n - 1);
    frac = p - T(i0);
  };
  for (index_t y = 0; y < H; ++y)
    for (index_t x = 0; x < W; ++x) {
      index_t y0, y1, x0, x1;
      T fy, fx;
      sample((T(y) + T(0.5)) * T(h) / T(H) - T(0.5), h, y0, y1, fy);
      sample((T(x) + T(0.5)) * T(w) / T(W) - T(0.5), w, x0, x1, fx);
      const T top = cam[static_cast<std::size_t>(y0 * w + x0)] * (1 - fx) + cam[static_cast<std::size_t>(y0 * w + x1)] * fx;
      const T bottom = cam[static_cast<std::size_t>(y1 * w + x0)] * (1 - fx) + cam[static_cast<std::size_t>(y1 * w + x1)] * fx;
      out[y * W + x] = top * (1 - fy) + bottom * fy;
    }
}

}  // namespace detail

/// Occlusion for any model: logits(encoded, n, out) evaluates [n][C][H][W] inputs into [n][K]
/// logits. For every window x window patch (top-left corners every `stride` pixels, windows
/// inside the image), the drop of each class logit when the patch is zeroed in all channels is
/// added to the patch's pixels; each pixel's sum is divided by the number of windows covering it
/// (pixels no window covers get 0). Writes maps [classes][H][W].
template <class T, class Logits>
void occlusion(Logits&& logits, const T* encoded, index_t channels, index_t height, index_t width, index_t num_logits,
               const std::vector<index_t>& classes, index_t window, index_t stride, T* maps) {
  const index_t plane = height * width, size = channels * plane;
  const index_t ny = (height - window) / stride + 1, nx = (width - window) / stride + 1, windows = ny * nx;
  constexpr index_t chunk = 16;
  std::vector<T> base(static_cast<std::size_t>(num_logits)), out(static_cast<std::size_t>(chunk * num_logits));
  std::vector<T> inputs(static_cast<std::size_t>(chunk * size)), sum(classes.size() * static_cast<std::size_t>(plane), T(0));
  std::vector<index_t> count(static_cast<std::size_t>(plane), 0);
  logits(encoded, 1, base.data());
  for (index_t w0 = 0; w0 < windows; w0 += chunk) {
    const index_t n = std::min(chunk, windows - w0);
    for (index_t b = 0; b < n; ++b) {
      T* x = inputs.data() + b * size;
      std::copy(encoded, encoded + size, x);
      const index_t y0 = (w0 + b) / nx * stride, x0 = (w0 + b) % nx * stride;
      for (index_t c = 0; c < channels; ++c)
        for (index_t y = y0; y < y0 + window; ++y) std::fill(x + c * plane + y * width + x0, x + c * plane + y * width + x0 + window, T(0));
    }
    logits(inputs.data(), n, out.data());
    for (index_t b = 0; b < n; ++b) {
      const index_t y0 = (w0 + b) / nx * stride, x0 = (w0 + b) % nx * stride;
      for (index_t y = y0; y < y0 + window; ++y)
        for (index_t x = x0; x < x0 + window; ++x) {
          ++count[static_cast<std::size_t>(y * width + x)];
          for (std::size_t k = 0; k < classes.size(); ++k)
            sum[k * static_cast<std::size_t>(plane) + static_cast<std::size_t>(y * width + x)] +=
                base[static_cast<std::size_t>(classes[k])] - out[static_cast<std::size_t>(b * num_logits + classes[k])];
        }
    }
  }
  for (std::size_t k = 0; k < classes.size(); ++k)
    for (index_t i = 0; i < plane; ++i) {
      const index_t c = count[static_cast<std::size_t>(i)];
      maps[static_cast<index_t>(k) * plane + i] = c ? sum[k * static_cast<std::size_t>(plane) + static_cast<std::size_t>(i)] / T(c) : T(0);
    }
}

/// Logits of encoded inputs (no recording): the model occlusion and pixel removal query.
template <class Net>
void encoded_logits(const Net& net, const typename Net::scalar_type* encoded, index_t n, typename Net::scalar_type* out,
                    tape<typename Net::scalar_type>& t) {
  t.prepare(record_mode::none, Net::workspace_size(n, record_mode::none, 0), Net::tape_nodes);
  const auto* logits = net.forward_encoded(encoded, n, t);
  std::copy(logits, logits + n * Net::num_classes, out);
}

/// Maps [classes.size()][H][W] of `method` for one image of Net::image_shape. Runs on the calling
/// thread; attribution_maps() spreads images over the worker threads.
template <class Net>
std::vector<typename Net::scalar_type> attribute(const Net& net, attribution_method method, const typename Net::scalar_type* image,
                                                 const std::vector<index_t>& classes) {
  using T = typename Net::scalar_type;
  using E = typename Net::encoded_shape;
  constexpr index_t C = E::dim(0), H = E::dim(1), W = E::dim(2), plane = H * W;
  for (index_t c : classes) detail::require_class<Net>(c);
  detail::require_finite(image, 1, Net::image_shape::size, "image");
  const auto K = static_cast<index_t>(classes.size());
  std::vector<T> maps(static_cast<std::size_t>(K * plane), T(0)), encoded(E::size);
  for (index_t i = 0; i < Net::image_shape::size; ++i) {
    encoded[static_cast<std::size_t>(i)] = image[i];
    encoded[static_cast<std::size_t>(i + Net::image_shape::size)] = T(1) - image[i];
  }
  tape<T> t;
  switch (method) {
    case attribution_method::coda: {
      std::vector<T> contrib(static_cast<std::size_t>(K * E::size));
      detail::explain_batch<0>(net, image, 1, K, [&](index_t, index_t k) { return classes[static_cast<std::size_t>(k)]; }, t,
                               contrib.data(), nullptr);
      for (index_t k = 0; k < K; ++k) detail::sum_channels(contrib.data() + k * E::size, C, plane, maps.data() + k * plane);
      break;
    }
    case attribution_method::gradient:
    case attribution_method::input_x_gradient:
    case attribution_method::integrated_gradients: {
      const bool ig = method == attribution_method::integrated_gradients;
      const index_t steps = ig ? integrated_gradients_steps : 1;
      std::vector<T> scaled(E::size), grads(static_cast<std::size_t>(K * E::size), T(0));
      for (index_t s = 1; s <= steps; ++s) {
        for (index_t i = 0; i < E::size; ++i) scaled[static_cast<std::size_t>(i)] = encoded[static_cast<std::size_t>(i)] * T(s) / T(steps);
        t.prepare(record_mode::train, Net::workspace_size(1, record_mode::train, 1), Net::tape_nodes);
        net.forward_encoded(scaled.data(), 1, t);
        detail::for_each_class_gradient<Net>(t, 1, classes, [&](std::size_t k, const T* g) {
          for (index_t i = 0; i < E::size; ++i) grads[k * E::size + static_cast<std::size_t>(i)] += g[i] / T(steps);
        });
      }
      if (method != attribution_method::gradient)
        for (index_t k = 0; k < K; ++k)
          for (index_t i = 0; i < E::size; ++i) grads[static_cast<std::size_t>(k * E::size + i)] *= encoded[static_cast<std::size_t>(i)];
      for (index_t k = 0; k < K; ++k) detail::sum_channels(grads.data() + k * E::size, C, plane, maps.data() + k * plane);
      break;
    }
    case attribution_method::occlusion5:
    case attribution_method::occlusion9: {
      const auto logits = [&](const T* x, index_t n, T* out) { encoded_logits(net, x, n, out, t); };
      occlusion(logits, encoded.data(), C, H, W, Net::num_classes, classes, method == attribution_method::occlusion5 ? 5 : 9,
                occlusion_stride, maps.data());
      break;
    }
    case attribution_method::gradcam: {
      using A = typename Net::template layer_input_shape<Net::depth - 1>;
      t.prepare(record_mode::train, Net::workspace_size(1, record_mode::train, 1), Net::tape_nodes);
      net.forward_encoded(encoded.data(), 1, t);
      const T* activation = t.node(Net::depth).input;
      detail::for_each_class_gradient<Net>(t, Net::depth, classes, [&](std::size_t k, const T* g) {
        detail::gradcam_map(activation, g, A::dim(0), A::dim(1), A::dim(2), H, W, maps.data() + static_cast<index_t>(k) * plane);
      });
      break;
    }
  }
  return maps;
}

/// Maps [N][H][W] of `method` for class classes[n] of image n, images spread over the worker
/// threads.
template <class Net>
tensor<typename Net::scalar_type, shape<Net::encoded_shape::dim(1), Net::encoded_shape::dim(2)>> attribution_maps(
    const Net& net, attribution_method method, tensor_view<const typename Net::scalar_type, typename Net::image_shape> images,
    const std::vector<index_t>& classes) {
  CODA_REQUIRE(static_cast<index_t>(classes.size()) == images.batch(), "coda::attribution_maps: one class index per image is needed");
  tensor<typename Net::scalar_type, shape<Net::encoded_shape::dim(1), Net::encoded_shape::dim(2)>> out(images.batch());
  detail::pool().run(images.batch(), [&](long n, int) {
    const auto m = attribute(net, method, images.sample_data(n), {classes[static_cast<std::size_t>(n)]});
    std::copy(m.begin(), m.end(), out.sample_data(n));
  });
  return out;
}

}  // namespace coda

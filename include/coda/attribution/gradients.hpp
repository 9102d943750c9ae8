// Gradient-based attribution methods with the conventions of the paper's evaluation (the authors
// ran captum on the RGB image, with AddInverse inside the model): every method here is defined
// on the image x in [0, 1]^(C x H x W), and the function differentiated is the logit of a class,
// f_t(x) = logit_t(AddInverse(x)). By the chain rule the image gradient is the gradient of the
// plain channel minus that of its inverted copy, g_x - g_(1-x). Maps are [classes][C][H][W].
//
//   grad      d f_t / d x, signed (captum's Saliency with abs=False)
//   ixg       x * d f_t / d x (captum's InputXGradient)
//   deeplift  (x - x0) * d f_t / d x at x, baseline x0 black by default: captum's DeepLift
//             replaces the gradient of the non-linear modules it knows (ReLU, Sigmoid, Tanh,
//             Softmax, max pooling, ...) by a finite-difference multiplier; a CoDA-Net has none
//             of them (its non-linearity is the DAU's norm, inside the layer), so captum's
//             DeepLift on a CoDA-Net is exactly this, and with the black baseline it equals ixg
//   intgrad   (x - x0) * sum_i w_i d f_t / d x at x0 + a_i (x - x0): Integrated Gradients,
//             baseline black, 20 steps of Gauss-Legendre quadrature by default (captum's
//             defaults), or one of captum's Riemann rules
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include "coda/attribution/contributions.hpp"

namespace coda {

/// Quadrature rules of Integrated Gradients, named as in captum.
enum class quadrature { gauss_legendre, riemann_left, riemann_right, riemann_middle, riemann_trapezoid };

/// Nodes a_i in [0, 1] and weights w_i of `steps`-point quadrature over [0, 1].
struct quadrature_rule {
  std::vector<double> nodes, weights;
};

/// The rule captum uses for `rule` with `steps` points: Gauss-Legendre nodes (x_i + 1) / 2 with
/// weights w_i / 2; Riemann sums with steps of 1/steps at the left ends, right ends or centres;
/// the trapezoid rule over `steps` equally spaced points including both ends.
inline quadrature_rule make_quadrature(quadrature rule, index_t steps) {
  CODA_REQUIRE(steps >= 1 && (rule != quadrature::riemann_trapezoid || steps >= 2),
               "coda::make_quadrature: " + std::to_string(steps) + " steps are too few for this rule");
  const auto n = static_cast<std::size_t>(steps);
  quadrature_rule q{std::vector<double>(n), std::vector<double>(n, 1.0 / double(steps))};
  for (std::size_t i = 0; i < n; ++i) {
    const double k = double(i);
    switch (rule) {
      case quadrature::riemann_left: q.nodes[i] = k / double(steps); break;
      case quadrature::riemann_right: q.nodes[i] = (k + 1) / double(steps); break;
      case quadrature::riemann_middle: q.nodes[i] = (k + 0.5) / double(steps); break;
      case quadrature::riemann_trapezoid:
        q.nodes[i] = k / double(steps - 1);
        q.weights[i] = (i == 0 || i + 1 == n ? 0.5 : 1.0) / double(steps - 1);
        break;
      case quadrature::gauss_legendre: {
        // Root i of the Legendre polynomial P_n by Newton's method from Chebyshev's estimate
        // (ascending order, as numpy's leggauss), weight 2 / ((1 - x^2) P_n'(x)^2).
        constexpr double pi = 3.14159265358979323846;
        double x = -std::cos(pi * (k + 0.75) / (double(steps) + 0.5)), dp = 1;
        for (int it = 0; it < 100; ++it) {
          double p0 = 1, p1 = x;
          for (index_t j = 2; j <= steps; ++j) {
            const double p2 = ((2.0 * double(j) - 1) * x * p1 - (double(j) - 1) * p0) / double(j);
            p0 = p1;
            p1 = p2;
          }
          dp = double(steps) * (x * p1 - p0) / (x * x - 1);
          const double dx = p1 / dp;
          x -= dx;
          if (std::abs(dx) < 1e-16) break;
        }
        q.nodes[i] = (x + 1) / 2;
        q.weights[i] = 1 / ((1 - x * x) * dp * dp);  // half of the weight on [-1, 1]
        break;
      }
    }
  }
  return q;
}

/// Options of intgrad(): captum's defaults.
struct integrated_gradients_options {
  index_t steps = 20;
  quadrature rule = quadrature::gauss_legendre;
};

namespace detail {

/// Seeds of a backward pass from the logits of `batch` images, allocated from the tape's arena
/// (in the caller's scratch scope): 1 for class `c`, 0 for the others.
template <class Net>
const typename Net::scalar_type* class_seeds(tape<typename Net::scalar_type>& t, index_t batch, index_t c) {
  using T = typename Net::scalar_type;
  const tensor_view<T, typename Net::logits_shape> seeds(t.memory().allocate(static_cast<std::size_t>(batch * Net::num_classes)), batch);
  seeds.array() = T(0);
  seeds.array().col(c) = T(1);
  return seeds.data();
}

/// Image gradients of each class logit at each of `batch` images [batch][image_shape]: records
/// one forward pass and runs one backward pass per class, calling f(k, gradients) with the
/// gradients [batch][image_shape] of class classes[k] (valid during the call).
template <class Net, class F>
void image_gradients(const Net& net, const typename Net::scalar_type* images, index_t batch, const std::vector<index_t>& classes,
                     tape<typename Net::scalar_type>& t, F&& f) {
  using T = typename Net::scalar_type;
  t.prepare(record_mode::train, Net::workspace_size(batch, record_mode::train, 1), Net::tape_nodes);
  net.forward(images, batch, t);
  for (std::size_t k = 0; k < classes.size(); ++k) {
    scratch_scope<T> scope(t.memory());
    f(k, run_backward<T>(t, 0, Net::depth + 1, backward_mode::input, 1, class_seeds<Net>(t, batch, classes[k]), nullptr));
  }
}

/// Checks what every attribution method requires of its arguments.
template <class Net>
void require_attribution_input(const typename Net::scalar_type* image, const std::vector<index_t>& classes) {
  for (index_t c : classes) throw_if_failed(check_class<Net>(c));
  throw_if_failed(check_finite(image, 1, Net::image_shape::size, "image"));
}

/// (x - x0) * g for every class's gradient g in `maps` [classes][Shape]; x0 = 0 when null.
template <class Shape, class T>
void times_difference(std::vector<T>& maps, const T* image, const T* baseline) {
  const tensor_view<T, Shape> g(maps.data(), static_cast<index_t>(maps.size()) / Shape::size);
  const auto x = tensor_view<const T, Shape>(image, 1).sample_array(0).transpose();
  if (baseline)
    g.array().rowwise() *= x - tensor_view<const T, Shape>(baseline, 1).sample_array(0).transpose();
  else
    g.array().rowwise() *= x;
}

}  // namespace detail

/// Signed image gradients of the logits of `classes`: [classes][image_shape].
template <class Net>
std::vector<typename Net::scalar_type> grad(const Net& net, const typename Net::scalar_type* image, const std::vector<index_t>& classes) {
  using T = typename Net::scalar_type;
  constexpr index_t size = Net::image_shape::size;
  detail::require_attribution_input<Net>(image, classes);
  std::vector<T> maps(classes.size() * static_cast<std::size_t>(size));
  tape<T> t;
  detail::image_gradients(net, image, 1, classes, t,
                          [&](std::size_t k, const T* g) { std::copy(g, g + size, maps.begin() + long(k) * size); });
  return maps;
}

/// Input x gradient: [classes][image_shape].
template <class Net>
std::vector<typename Net::scalar_type> ixg(const Net& net, const typename Net::scalar_type* image, const std::vector<index_t>& classes) {
  auto maps = grad(net, image, classes);
  detail::times_difference<typename Net::image_shape>(maps, image, static_cast<const typename Net::scalar_type*>(nullptr));
  return maps;
}

/// DeepLIFT as captum computes it on a CoDA-Net (see the top of this file): (x - baseline) times
/// the gradient at x; `baseline` [image_shape], black when null. [classes][image_shape].
template <class Net>
std::vector<typename Net::scalar_type> deeplift(const Net& net, const typename Net::scalar_type* image, const std::vector<index_t>& classes,
                                                const typename Net::scalar_type* baseline = nullptr) {
  if (baseline) detail::throw_if_failed(detail::check_finite(baseline, 1, Net::image_shape::size, "baseline"));
  auto maps = grad(net, image, classes);
  detail::times_difference<typename Net::image_shape>(maps, image, baseline);
  return maps;
}

/// Integrated Gradients from `baseline` ([image_shape], black when null) to the image:
/// [classes][image_shape]. The points of the path are evaluated in batches of up to 16.
template <class Net>
std::vector<typename Net::scalar_type> intgrad(const Net& net, const typename Net::scalar_type* image, const std::vector<index_t>& classes,
                                               const integrated_gradients_options& options = {},
                                               const typename Net::scalar_type* baseline = nullptr) {
  using T = typename Net::scalar_type;
  using I = typename Net::image_shape;
  using row = Eigen::Matrix<T, 1, Eigen::Dynamic>;  // dynamic: an image's size is too large for the stack
  constexpr index_t chunk = 16;
  detail::require_attribution_input<Net>(image, classes);
  if (baseline) detail::throw_if_failed(detail::check_finite(baseline, 1, I::size, "baseline"));
  const quadrature_rule q = make_quadrature(options.rule, options.steps);
  const Eigen::Matrix<T, Eigen::Dynamic, 1> nodes = Eigen::Map<const Eigen::VectorXd>(q.nodes.data(), options.steps).cast<T>();
  const Eigen::Matrix<T, Eigen::Dynamic, 1> weights = Eigen::Map<const Eigen::VectorXd>(q.weights.data(), options.steps).cast<T>();
  const row x0 = baseline ? row(tensor_view<const T, I>(baseline, 1).matrix()) : row::Zero(I::size);
  const row delta = tensor_view<const T, I>(image, 1).matrix() - x0;
  std::vector<T> maps(classes.size() * static_cast<std::size_t>(I::size), T(0)), points(static_cast<std::size_t>(chunk * I::size));
  const tensor_view<T, I> sums(maps.data(), static_cast<index_t>(classes.size()));
  tape<T> t;
  for (index_t s0 = 0; s0 < options.steps; s0 += chunk) {
    const index_t n = std::min(chunk, options.steps - s0);
    // The points x0 + a_s (x - x0) of this chunk, and sum_s w_s (gradient at point s) per class.
    const tensor_view<T, I> path(points.data(), n);
    path.matrix() = (nodes.segment(s0, n) * delta).rowwise() + x0;
    detail::image_gradients(net, points.data(), n, classes, t, [&](std::size_t k, const T* g) {
      sums.matrix().row(static_cast<index_t>(k)).noalias() += weights.segment(s0, n).transpose() * tensor_view<const T, I>(g, n).matrix();
    });
  }
  detail::times_difference<I>(maps, image, baseline);
  return maps;
}

}  // namespace coda

// The gradient-based attribution methods (coda/attribution/gradients.hpp) against independent
// computations on the RGB image, f_t(x) = logit_t([x, 1 - x]): grad against central differences
// of f_t with respect to each RGB value, ixg and deeplift against (x - baseline) times them, the
// quadrature rules against polynomial exactness, numpy's leggauss and captum's Riemann
// definitions, and intgrad against the quadrature sum of finite-difference gradients along the
// path and against completeness, f(x) - f(black).
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "support/attribution_nets.hpp"  // first: see its note on gradcam.hpp
#include "coda/attribution/gradients.hpp"

namespace test_attribution_gradients {

using namespace coda;
using namespace coda::test;
namespace tol = coda::test::attribution_tolerance;

namespace {

/// Quadrature against closed-form integrals and exact nodes and weights: values in [0, 1]
/// accurate to a few ulps of 1, and sums of up to 40 weighted powers in [0, 1] lose a few more.
inline constexpr double quadrature_ulps = 1e-14;

/// Logits of the class `cls` at the points x0 + a (x - x0) of the straight path, one pass.
template <class Net>
std::vector<double> path_logits(const Net& net, const std::vector<double>& x0, const std::vector<double>& x, const std::vector<double>& alphas,
                                index_t cls) {
  const std::size_t size = x.size();
  std::vector<double> points(alphas.size() * size);
  for (std::size_t s = 0; s < alphas.size(); ++s)
    for (std::size_t i = 0; i < size; ++i) points[s * size + i] = x0[i] + alphas[s] * (x[i] - x0[i]);
  const auto l = logits_of_images(net, points.data(), static_cast<index_t>(alphas.size()));
  std::vector<double> out(alphas.size());
  for (std::size_t s = 0; s < alphas.size(); ++s) out[s] = l[s * Net::num_classes + static_cast<std::size_t>(cls)];
  return out;
}

/// Integrated Gradients from its definition: (x - x0) * sum_i w_i g(x0 + a_i (x - x0)) with g the
/// finite-difference image gradient. The nodes and weights are written out by the caller.
template <class Net>
std::vector<std::vector<double>> reference_intgrad(const Net& net, const std::vector<double>& x, const std::vector<double>& x0,
                                                   const std::vector<index_t>& classes, const std::vector<double>& nodes,
                                                   const std::vector<double>& weights) {
  std::vector<std::vector<double>> sum(classes.size(), std::vector<double>(x.size(), 0.0));
  for (std::size_t s = 0; s < nodes.size(); ++s) {
    std::vector<double> point(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) point[i] = x0[i] + nodes[s] * (x[i] - x0[i]);
    const auto g = fd_image_gradients(net, point, classes);
    for (std::size_t k = 0; k < classes.size(); ++k)
      for (std::size_t i = 0; i < x.size(); ++i) sum[k][i] += weights[s] * g[k][i];
  }
  for (auto& m : sum)
    for (std::size_t i = 0; i < x.size(); ++i) m[i] *= x[i] - x0[i];
  return sum;
}

}  // namespace

// ---- grad, ixg, deeplift -------------------------------------------------------------------

TEST_CASE("grad is the central-difference gradient of the logit with respect to each RGB value; ixg is x times it",
          "[attribution][grad][ixg]") {
  using Net = net8;
  constexpr index_t size = Net::image_shape::size;
  const auto net = make_net<Net>(21);
  const auto image = random_image(size, 22);
  const std::vector<index_t> classes{2, 0};
  const auto g = fd_image_gradients(net, image, classes);
  const auto grads = grad(net, image.data(), classes);
  const auto xg = ixg(net, image.data(), classes);
  REQUIRE(grads.size() == classes.size() * size);
  REQUIRE(xg.size() == classes.size() * size);
  for (std::size_t k = 0; k < classes.size(); ++k) {
    INFO("class " << classes[k]);
    std::vector<double> expected_ixg(g[k].size());
    for (std::size_t i = 0; i < g[k].size(); ++i) expected_ixg[i] = image[i] * g[k][i];
    CHECK(rel_err(grads.data() + k * size, g[k]) < tol::fd);
    CHECK(rel_err(xg.data() + k * size, expected_ixg) < tol::fd);
  }
  // The two classes are explained separately, and the maps are signed (captum's abs=False).
  CHECK(relative_error(grads.data(), grads.data() + size, size) > 1e-3);
  CHECK(*std::min_element(grads.begin(), grads.end()) < 0);
  CHECK(*std::max_element(grads.begin(), grads.end()) > 0);
}

TEST_CASE("deeplift is (x - baseline) times the image gradient; without a baseline it is ixg bit for bit",
          "[attribution][deeplift]") {
  using Net = net8;
  constexpr index_t size = Net::image_shape::size;
  const auto net = make_net<Net>(23);
  const auto image = random_image(size, 24);
  const auto baseline = random_image(size, 25);
  const std::vector<index_t> classes{1, 2, 0};

  const auto black = deeplift(net, image.data(), classes);
  const auto xg = ixg(net, image.data(), classes);
  REQUIRE(black.size() == xg.size());
  CHECK(black == xg);  // the black baseline: the same computation as ixg

  const auto g = fd_image_gradients(net, image, classes);
  const auto grads = grad(net, image.data(), classes);
  const auto dl = deeplift(net, image.data(), classes, baseline.data());
  REQUIRE(dl.size() == classes.size() * size);
  for (std::size_t k = 0; k < classes.size(); ++k) {
    INFO("class " << classes[k]);
    std::vector<double> from_fd(size), from_grad(size);
    for (std::size_t i = 0; i < std::size_t(size); ++i) {
      from_fd[i] = (image[i] - baseline[i]) * g[k][i];
      from_grad[i] = (image[i] - baseline[i]) * grads[k * size + i];
    }
    CHECK(rel_err(dl.data() + k * size, from_fd) < tol::fd);
    CHECK(rel_err(dl.data() + k * size, from_grad) < tol::same_ops);
  }
  // The baseline matters (it is not silently ignored).
  CHECK(relative_error(dl.data(), black.data(), black.size()) > 1e-3);

  auto bad = baseline;
  bad[7] = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(deeplift(net, image.data(), classes, bad.data()), argument_error);
}

// ---- quadrature rules ----------------------------------------------------------------------

TEST_CASE("Gauss-Legendre quadrature on [0, 1] integrates polynomials up to degree 2n-1 exactly", "[attribution][quadrature]") {
  for (index_t n : {1, 2, 5, 20}) {
    INFO(n << " points");
    const quadrature_rule q = make_quadrature(quadrature::gauss_legendre, n);
    REQUIRE(q.nodes.size() == static_cast<std::size_t>(n));
    REQUIRE(q.weights.size() == static_cast<std::size_t>(n));
    CHECK(std::accumulate(q.weights.begin(), q.weights.end(), 0.0) == Approx(1.0).epsilon(quadrature_ulps));
    for (std::size_t i = 0; i < q.nodes.size(); ++i) {
      CHECK(q.nodes[i] > 0.0);
      CHECK(q.nodes[i] < 1.0);
      CHECK(q.weights[i] > 0.0);
      if (i > 0) CHECK(q.nodes[i] > q.nodes[i - 1]);
      // Symmetric about 1/2.
      CHECK(q.nodes[i] + q.nodes[q.nodes.size() - 1 - i] == Approx(1.0).epsilon(quadrature_ulps));
      CHECK(q.weights[i] == Approx(q.weights[q.weights.size() - 1 - i]).epsilon(quadrature_ulps));
    }
    const auto integral = [&](index_t degree) {
      double s = 0;
      for (std::size_t i = 0; i < q.nodes.size(); ++i) s += q.weights[i] * std::pow(q.nodes[i], double(degree));
      return s;
    };
    for (index_t d = 0; d <= 2 * n - 1; ++d) {
      INFO("degree " << d);
      CHECK(integral(d) == Approx(1.0 / double(d + 1)).epsilon(quadrature_ulps));
    }
    // Degree 2n is the first one it misses, by (n!)^4 / ((2n+1) ((2n)!)^2): 1/12, 1/180 and
    // 1.4e-6 for 1, 2 and 5 points (for 20 points the miss, 1e-24, is below the rounding).
    if (n <= 5) CHECK(std::abs(integral(2 * n) - 1.0 / double(2 * n + 1)) > 1e-6);
  }
}

TEST_CASE("Gauss-Legendre nodes and weights are numpy's leggauss mapped to [0, 1]", "[attribution][quadrature]") {
  struct golden {
    index_t n;
    std::size_t i;
    double node, weight;
  };
  const auto check = [](const golden& g, double weight_tolerance) {
    INFO(g.n << " points, node " << g.i);
    const quadrature_rule q = make_quadrature(quadrature::gauss_legendre, g.n);
    REQUIRE(g.i < q.nodes.size());
    // Nodes in [0, 1]: an absolute bound (a node near 0 carries the rounding of (x + 1) / 2).
    CHECK(std::abs(q.nodes[g.i] - g.node) < quadrature_ulps);
    CHECK(q.weights[g.i] == Approx(g.weight).epsilon(weight_tolerance));
  };
  // /usr/bin/python3 -c "import numpy as np; x, w = np.polynomial.legendre.leggauss(n);
  //                      print((x + 1) / 2, w / 2)"   (numpy 1.24.2), what captum uses.
  // numpy's weights come from its eigenvalue solver with one Newton step and a renormalisation;
  // against the exact values below they are off by up to 7e-14 relative at 20 points, so they
  // are matched to 1e-13 (the nodes to a few ulps).
  constexpr double numpy_weights = 1e-13;
  for (const golden& g : {golden{1, 0, 0.5, 1.0}, golden{2, 0, 0.21132486540518713, 0.5}, golden{2, 1, 0.7886751345948129, 0.5},
                          golden{5, 0, 0.04691007703066802, 0.11846344252809471}, golden{5, 1, 0.23076534494715845, 0.2393143352496831},
                          golden{5, 2, 0.5, 0.2844444444444445}, golden{5, 4, 0.9530899229693319, 0.11846344252809471},
                          golden{20, 0, 0.0034357004074525577, 0.008807003569576637},
                          golden{20, 1, 0.018014036361043095, 0.02030071490019311},
                          golden{20, 9, 0.46173673943325133, 0.07637669356536289},
                          golden{20, 10, 0.5382632605667487, 0.07637669356536289},
                          golden{20, 19, 0.9965642995925474, 0.008807003569576637}})
    check(g, numpy_weights);
  // The exact values, rounded to double: the roots of P_20 and 1 / ((1 - x^2) P_20'(x)^2) in
  // 40-digit arithmetic (mpmath.findroot / mpmath.diff on mpmath.legendre). These the library
  // must meet to a few ulps.
  for (const golden& g : {golden{20, 0, 0.0034357004074525377, 0.008807003569576059},
                          golden{20, 1, 0.018014036361043106, 0.02030071490019347},
                          golden{20, 9, 0.46173673943325133, 0.07637669356536292},
                          golden{20, 19, 0.9965642995925474, 0.008807003569576059}})
    check(g, quadrature_ulps);
}

TEST_CASE("Riemann and trapezoid rules have captum's nodes and step sizes", "[attribution][quadrature]") {
  // captum.attr._utils.approximation_methods.riemann_builders: step 1/n at the left ends
  // linspace(0, 1 - 1/n, n), right ends linspace(1/n, 1, n), centres linspace(1/(2n), 1 - 1/(2n), n);
  // the trapezoid rule steps 1/(n - 1), halved at both ends, at linspace(0, 1, n). With n a power
  // of two (and n - 1 = 4 for the trapezoid) every value is exact in binary.
  const auto check = [](quadrature rule, index_t n, const std::vector<double>& nodes, const std::vector<double>& weights) {
    const quadrature_rule q = make_quadrature(rule, n);
    CHECK(q.nodes == nodes);
    CHECK(q.weights == weights);
  };
  const std::vector<double> quarter(4, 0.25);
  check(quadrature::riemann_left, 4, {0.0, 0.25, 0.5, 0.75}, quarter);
  check(quadrature::riemann_right, 4, {0.25, 0.5, 0.75, 1.0}, quarter);
  check(quadrature::riemann_middle, 4, {0.125, 0.375, 0.625, 0.875}, quarter);
  check(quadrature::riemann_trapezoid, 5, {0.0, 0.25, 0.5, 0.75, 1.0}, {0.125, 0.25, 0.25, 0.25, 0.125});
  check(quadrature::riemann_trapezoid, 2, {0.0, 1.0}, {0.5, 0.5});

  // 20 steps (the default count): node k of the right rule is (k + 1) / 20 up to rounding.
  const quadrature_rule right = make_quadrature(quadrature::riemann_right, 20);
  REQUIRE(right.nodes.size() == 20);
  for (std::size_t k = 0; k < 20; ++k) {
    CHECK(right.nodes[k] == Approx(double(k + 1) / 20).epsilon(1e-15));
    CHECK(right.weights[k] == Approx(0.05).epsilon(1e-15));
  }

  CHECK_THROWS_AS(make_quadrature(quadrature::gauss_legendre, 0), argument_error);
  CHECK_THROWS_AS(make_quadrature(quadrature::riemann_right, 0), argument_error);
  CHECK_THROWS_AS(make_quadrature(quadrature::riemann_left, -3), argument_error);
  CHECK_THROWS_AS(make_quadrature(quadrature::riemann_trapezoid, 1), argument_error);
}

// ---- Integrated Gradients --------------------------------------------------------------------

TEST_CASE("intgrad is the quadrature sum of finite-difference RGB gradients along the path, times x - baseline",
          "[attribution][intgrad]") {
  using Net = net8;
  constexpr index_t size = Net::image_shape::size;
  const auto net = make_net<Net>(31);
  const auto image = random_image(size, 32);
  const std::vector<double> black(static_cast<std::size_t>(size), 0.0);
  const std::vector<index_t> classes{1, 2};

  SECTION("default: 20-point Gauss-Legendre from black (captum's defaults)") {
    const integrated_gradients_options defaults;
    CHECK(defaults.steps == 20);
    CHECK(defaults.rule == quadrature::gauss_legendre);
    // The default rule's nodes and weights, checked against numpy in the quadrature tests.
    const quadrature_rule q = make_quadrature(quadrature::gauss_legendre, 20);
    const auto expected = reference_intgrad(net, image, black, classes, q.nodes, q.weights);
    const auto ig = intgrad(net, image.data(), classes);
    REQUIRE(ig.size() == classes.size() * size);
    for (std::size_t k = 0; k < classes.size(); ++k) CHECK(rel_err(ig.data() + k * size, expected[k]) < tol::fd);
  }
  SECTION("right Riemann sum, 20 steps: nodes (k + 1) / 20, weights 1/20") {
    std::vector<double> nodes, weights(20, 1.0 / 20);
    for (int k = 1; k <= 20; ++k) nodes.push_back(double(k) / 20);
    const auto expected = reference_intgrad(net, image, black, classes, nodes, weights);
    const auto ig = intgrad(net, image.data(), classes, {20, quadrature::riemann_right});
    for (std::size_t k = 0; k < classes.size(); ++k) CHECK(rel_err(ig.data() + k * size, expected[k]) < tol::fd);
  }
  SECTION("a non-black baseline, 37 middle-Riemann steps (three batches of path points)") {
    const auto baseline = random_image(size, 33);
    std::vector<double> nodes, weights(37, 1.0 / 37);
    for (int k = 0; k < 37; ++k) nodes.push_back((k + 0.5) / 37);
    const auto expected = reference_intgrad(net, image, baseline, classes, nodes, weights);
    const auto ig = intgrad(net, image.data(), classes, {37, quadrature::riemann_middle}, baseline.data());
    for (std::size_t k = 0; k < classes.size(); ++k) CHECK(rel_err(ig.data() + k * size, expected[k]) < tol::fd);
  }
}

TEST_CASE("intgrad is complete, f(x) - f(black), up to a quadrature error far smaller for Gauss-Legendre than for Riemann",
          "[attribution][intgrad][completeness]") {
  using Net = net8;
  constexpr index_t size = Net::image_shape::size;
  const auto net = make_net<Net>(35);
  const auto image = random_image(size, 36);
  const std::vector<double> black(static_cast<std::size_t>(size), 0.0);
  const std::vector<index_t> classes{0, 1, 2};

  // Black encodes to (0, 0, 0, 1, 1, 1), not to zero: f(black) is not the logit bias.
  const auto at_black = logits_of_images(net, black.data());
  const auto at_image = logits_of_images(net, image.data());
  CHECK(std::abs(at_black[0] - net.logit_bias()) > 1e-3);

  const auto gl = intgrad(net, image.data(), classes);
  const auto right = intgrad(net, image.data(), classes, {20, quadrature::riemann_right});
  for (std::size_t k = 0; k < classes.size(); ++k) {
    const auto cls = static_cast<std::size_t>(classes[k]);
    INFO("class " << cls);
    const double exact = at_image[cls] - at_black[cls];
    const auto total = [&](const std::vector<double>& maps) {
      return std::accumulate(maps.begin() + long(k) * size, maps.begin() + long(k + 1) * size, 0.0);
    };
    const double e_gl = total(gl) - exact, e_right = total(right) - exact;
    // The path integrand h(a) = d/da f(a x) at the ends, by central differences (their points
    // a +- h lie just outside [0, 1], where f is defined all the same).
    const auto h = [&](double a) {
      const auto l = path_logits(net, black, image, {a + fd_step, a - fd_step}, classes[k]);
      return (l[0] - l[1]) / (2 * fd_step);
    };
    const double first_order = (h(1.0) - h(0.0)) / (2 * 20);
    INFO("f(x) - f(black) " << exact << ", Gauss-Legendre error " << e_gl << ", right Riemann error " << e_right
                            << ", (h(1) - h(0)) / 40 " << first_order);
    // By Euler-Maclaurin a right Riemann sum of a smooth integrand errs by (h(1) - h(0)) / (2N)
    // + (h'(1) - h'(0)) / (12 N^2) + ...; the second term is (h'(1) - h'(0)) / (6N (h(1) - h(0)))
    // of the first, a few percent at most for these slowly varying integrands, so the error is
    // the first term within 10%. That term must be large enough for the comparison to mean
    // something.
    REQUIRE(std::abs(first_order) > 1e-4);
    CHECK(e_right == Approx(first_order).epsilon(0.1));
    // 20-point Gauss-Legendre is exact to degree 39: for an integrand this smooth its error is at
    // the rounding of the sum, orders of magnitude below the Riemann error and below 1e-9 of the
    // logit difference's scale.
    CHECK(std::abs(e_gl) < 1e-4 * std::abs(e_right));
    CHECK(std::abs(e_gl) < 1e-9 * std::max(1.0, std::abs(exact)));
  }
}

TEST_CASE("intgrad rejects a non-finite baseline, too few steps and out-of-range classes", "[attribution][intgrad]") {
  using Net = net8;
  const auto net = make_net<Net>(37);
  const auto image = random_image(Net::image_shape::size, 38);
  auto bad = image;
  bad[3] = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(intgrad(net, image.data(), {0}, {}, bad.data()), argument_error);
  CHECK_THROWS_AS(intgrad(net, image.data(), {0}, {0, quadrature::gauss_legendre}), argument_error);
  CHECK_THROWS_AS(intgrad(net, image.data(), {0}, {1, quadrature::riemann_trapezoid}), argument_error);
  CHECK_THROWS_AS(intgrad(net, image.data(), {Net::num_classes}), argument_error);
  CHECK_THROWS_AS(grad(net, image.data(), {-1}), argument_error);
  CHECK_THROWS_AS(grad(net, bad.data(), {0}), argument_error);
}

}  // namespace test_attribution_gradients

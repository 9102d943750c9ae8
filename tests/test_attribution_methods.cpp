// attribute() and the method table (coda/attribution/methods.hpp): the dispatcher returns, for
// every method, the direct function's maps with the method's channel count; the options reach
// the methods that have any; summed() sums a map's channels; the names round-trip; every method
// rejects bad classes and non-finite images. Also the model's own method, coda_contributions,
// against contributions() and completeness. The methods themselves are tested against
// independent computations in test_attribution_gradients.cpp, test_attribution_gradcam.cpp and
// test_attribution_perturbation.cpp.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "support/attribution_nets.hpp"  // first: see its note on gradcam.hpp
#include "coda/attribution/methods.hpp"

namespace test_attribution_methods {

using namespace coda;
using namespace coda::test;
namespace tol = coda::test::attribution_tolerance;

namespace {

/// The maps of `m` from the method's own function, with the options attribute() gets.
template <class Net>
std::vector<double> direct(const Net& net, attribution_method m, const double* image, const std::vector<index_t>& classes,
                           const attribution_options& o) {
  switch (m) {
    case attribution_method::coda: return coda_contributions(net, image, classes);
    case attribution_method::grad: return grad(net, image, classes);
    case attribution_method::ixg: return ixg(net, image, classes);
    case attribution_method::intgrad: return intgrad(net, image, classes, o.intgrad);
    case attribution_method::deeplift: return deeplift(net, image, classes);
    case attribution_method::gradcam: return gradcam(net, image, classes);
    case attribution_method::occlusion5: return occlusion(net, image, classes, occlusion_options{5, 2});
    case attribution_method::occlusion9: return occlusion(net, image, classes, occlusion_options{9, 2});
    case attribution_method::rise: return rise(net, image, classes, o.rise);
  }
  return {};
}

}  // namespace

TEST_CASE("method names round-trip and unknown names are rejected", "[attribution][methods][names]") {
  const std::vector<std::string> names{"coda", "grad", "ixg", "intgrad", "deeplift", "gradcam", "occlusion5", "occlusion9", "rise"};
  REQUIRE(all_attribution_methods.size() == names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    const attribution_method m = all_attribution_methods[i];
    CHECK(method_name(m) == names[i]);
    const auto parsed = parse_method(names[i]);
    REQUIRE(parsed.has_value());
    CHECK(*parsed == m);
  }
  for (const char* bad : {"", "Coda", "CODA", "gradient", "input_x_gradient", "integrated_gradients", "occlusion", "occlusion7",
                          "grad ", " ixg", "int-grad", "DeepLIFT", "GradCam", "RISE", "rise5"})
    CHECK_FALSE(parse_method(bad).has_value());
}

TEST_CASE("method_channels: the encoded channels for coda, the image channels for the gradient methods, 1 for the others",
          "[attribution][methods][names]") {
  static_assert(method_channels<net8>(attribution_method::coda) == 6, "coda maps the 6 encoded channels");
  CHECK(method_channels<net8>(attribution_method::coda) == 6);
  for (attribution_method m : {attribution_method::grad, attribution_method::ixg, attribution_method::intgrad, attribution_method::deeplift})
    CHECK(method_channels<net8>(m) == 3);
  for (attribution_method m : {attribution_method::gradcam, attribution_method::occlusion5, attribution_method::occlusion9,
                               attribution_method::rise})
    CHECK(method_channels<net8>(m) == 1);
  // A single-channel network: the gradient methods follow the image's channels.
  using grey = network<double, shape<1, 8, 8>, dau_conv<2, 3, 2, 3, 1, 1>>;
  CHECK(method_channels<grey>(attribution_method::coda) == 2);
  CHECK(method_channels<grey>(attribution_method::grad) == 1);
  CHECK(method_channels<grey>(attribution_method::rise) == 1);
}

TEST_CASE("attribute() returns each method's own maps, channels and plane, with the options passed on",
          "[attribution][methods][dispatch]") {
  using Net = net8;
  constexpr index_t plane = 64;
  const auto net = make_net<Net>(41);
  const auto image = random_image(Net::image_shape::size, 42);
  const std::vector<index_t> classes{2, 0};
  // Options that differ from the defaults, so that dropping them would show; RISE with few
  // masks to stay fast.
  attribution_options options;
  options.intgrad = {7, quadrature::riemann_middle};
  options.rise = {24, 3, 0.4, 5};
  for (attribution_method m : all_attribution_methods) {
    INFO(method_name(m));
    const auto a = attribute(net, m, image.data(), classes, options);
    CHECK(a.channels == method_channels<Net>(m));
    CHECK(a.plane == plane);
    REQUIRE(a.values.size() == classes.size() * static_cast<std::size_t>(a.channels * plane));
    // The same computation on the calling thread: identical bits.
    CHECK(a.values == direct(net, m, image.data(), classes, options));
    // summed(k) is map k's channel sum.
    for (std::size_t k = 0; k < classes.size(); ++k) {
      const auto s = a.summed(k);
      REQUIRE(s.size() == static_cast<std::size_t>(plane));
      CHECK(rel_err(s.data(), channel_sum(a.values.data() + long(k) * a.channels * plane, a.channels, plane)) < tol::same_ops);
    }
  }
  // The options were used: the defaults give other maps.
  CHECK(attribute(net, attribution_method::intgrad, image.data(), classes).values != intgrad(net, image.data(), classes, options.intgrad));
  attribution_options small_rise;
  small_rise.rise = {24, 3, 0.4, 6};  // only the seed differs
  CHECK(attribute(net, attribution_method::rise, image.data(), classes, small_rise).values !=
        rise(net, image.data(), classes, options.rise));
  // The default options are the paper's.
  const attribution_options defaults;
  CHECK(defaults.intgrad.steps == 20);
  CHECK(defaults.intgrad.rule == quadrature::gauss_legendre);
  CHECK(defaults.rise.masks == 6000);
  CHECK(defaults.rise.grid == 6);
  CHECK(defaults.rise.keep == 0.1);
}

TEST_CASE("every method rejects out-of-range classes and non-finite images", "[attribution][methods][dispatch]") {
  using Net = net8;
  const auto net = make_net<Net>(43);
  const auto image = random_image(Net::image_shape::size, 44);
  auto nan_image = image;
  nan_image[100] = std::numeric_limits<double>::quiet_NaN();
  attribution_options o;
  o.rise.masks = 2;
  for (attribution_method m : all_attribution_methods) {
    INFO(method_name(m));
    CHECK_THROWS_AS(attribute(net, m, image.data(), {0, Net::num_classes}, o), argument_error);
    CHECK_THROWS_AS(attribute(net, m, image.data(), {-1}, o), argument_error);
    CHECK_THROWS_AS(attribute(net, m, nan_image.data(), {0}, o), argument_error);
    // No classes: no maps.
    CHECK(attribute(net, m, image.data(), {}, o).values.empty());
  }
}

TEST_CASE("coda_contributions are contributions() of each class, complete: they sum to logit - bias",
          "[attribution][methods][coda][completeness]") {
  using Net = net8;
  using E = Net::encoded_shape;
  const auto net = make_net<Net>(45);
  tensor<double, Net::image_shape> images(1);
  const auto image = random_image(Net::image_shape::size, 46);
  std::copy(image.begin(), image.end(), images.data());
  const auto logits = logits_of_images(net, image.data());
  const std::vector<index_t> classes{1, 0, 2};
  const auto maps = coda_contributions(net, image.data(), classes);
  REQUIRE(maps.size() == classes.size() * static_cast<std::size_t>(E::size));
  for (std::size_t k = 0; k < classes.size(); ++k) {
    INFO("class " << classes[k]);
    const auto contrib = contributions(net, images.view(), {classes[k]});
    const std::vector<double> c(contrib.data(), contrib.data() + E::size);
    CHECK(rel_err(maps.data() + k * E::size, c) < tol::same_ops);
    double sum = 0, mass = 0;
    for (index_t i = 0; i < E::size; ++i) {
      sum += maps[k * E::size + static_cast<std::size_t>(i)];
      mass += std::abs(maps[k * E::size + static_cast<std::size_t>(i)]);
    }
    CHECK(std::abs(sum - (logits[static_cast<std::size_t>(classes[k])] - net.logit_bias())) <= tol::completeness * mass);
  }
}

}  // namespace test_attribution_methods

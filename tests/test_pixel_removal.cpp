// The pixel-removal metric (coda/attribution/pixel_removal.hpp): the removal schedule, the
// choice of images (file order; round-robin over the classes of a data set sorted by class),
// the curves against an independent evaluation of the image with the ranked pixels removed
// from every encoded channel, the tie order, and pixel_removal's means of those curves with the
// pixels ranked by the map summed over the method's channels.
#include <catch2/catch.hpp>
#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "support/attribution_nets.hpp"  // first: see its note on gradcam.hpp
#include "coda/attribution/pixel_removal.hpp"

namespace test_pixel_removal {

using namespace coda;
using namespace coda::test;
namespace tol = coda::test::attribution_tolerance;

namespace {

/// sigmoid(logit of cls) of the image with the given pixels set to 0 in all encoded channels
/// (so the pixel is (0, 0, 0, 0, 0, 0), not black, which would be (0, 0, 0, 1, 1, 1)).
template <class Net>
double removed_probability(const Net& net, const std::vector<double>& image, index_t cls, const std::vector<index_t>& pixels) {
  using E = typename Net::encoded_shape;
  constexpr index_t plane = E::dim(1) * E::dim(2);
  auto e = encode<Net>(image.data());
  for (index_t p : pixels)
    for (index_t c = 0; c < E::dim(0); ++c) e[static_cast<std::size_t>(c * plane + p)] = 0.0;
  return sigmoid(logits_encoded(net, e.data(), 1)[static_cast<std::size_t>(cls)]);
}

}  // namespace

TEST_CASE("pixels_removed_at goes from 0 to a quarter of the pixels, evenly and monotonically", "[attribution][pixel_removal]") {
  CHECK(removal_points == 129);
  CHECK(removal_fraction == 0.25);
  // 32x32, as the authors: 256 pixels at most, every second mask, 129 points.
  for (index_t k = 0; k < removal_points; ++k) CHECK(pixels_removed_at(k, 1024) == 2 * k);
  for (index_t pixels : {1024, 100, 64, 10, 1}) {
    INFO(pixels << " pixels");
    CHECK(pixels_removed_at(0, pixels) == 0);
    CHECK(pixels_removed_at(removal_points - 1, pixels) == pixels / 4);
    for (index_t k = 1; k < removal_points; ++k) CHECK(pixels_removed_at(k, pixels) >= pixels_removed_at(k - 1, pixels));
  }
}

TEST_CASE("removal_images: the first images in file order, or round-robin over the classes when the labels are sorted",
          "[attribution][pixel_removal]") {
  // Mixed labels (the official test set): the first `count` images.
  const std::vector<int> mixed{3, 8, 8, 0, 6, 6, 1, 6, 3, 1};
  CHECK(removal_images(mixed, 4) == std::vector<index_t>{0, 1, 2, 3});
  CHECK(removal_images(mixed, 10) == std::vector<index_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(removal_images(mixed, 25).size() == mixed.size());  // no more than there are
  CHECK(removal_images(mixed, 0).empty());
  // Sorted by class (an image folder): the first of each class, then the second, ...
  const std::vector<int> sorted{0, 0, 0, 1, 1, 2, 2, 2, 2};
  CHECK(removal_images(sorted, 9) == std::vector<index_t>{0, 3, 5, 1, 4, 6, 2, 7, 8});
  CHECK(removal_images(sorted, 5) == std::vector<index_t>{0, 3, 5, 1, 4});
  CHECK(removal_images(sorted, 2) == std::vector<index_t>{0, 3});
  // Sorted with gaps in the class numbers and classes of one image.
  const std::vector<int> gaps{1, 4, 4, 7, 9, 9, 9};
  CHECK(removal_images(gaps, 7) == std::vector<index_t>{0, 1, 3, 4, 2, 5, 6});
  // One class only: file order; no labels: nothing.
  CHECK(removal_images(std::vector<int>(5, 2), 3) == std::vector<index_t>{0, 1, 2});
  CHECK(removal_images({}, 3).empty());
  // Every image: a permutation of all of them.
  auto all = removal_images(sorted, 100);
  std::sort(all.begin(), all.end());
  CHECK(all == std::vector<index_t>{0, 1, 2, 3, 4, 5, 6, 7, 8});
}

TEST_CASE("removal_curves are sigmoid(logit) of the image with the ranked pixels zeroed in every encoded channel",
          "[attribution][pixel_removal]") {
  using Net = net8;
  constexpr index_t plane = 64;
  const auto net = make_net<Net>(81);
  const auto image = random_image(Net::image_shape::size, 82);
  const index_t cls = 2;
  // A hand-made map: a permutation of 0..plane-1, so pixel p has rank map[p] (no ties).
  std::vector<double> map(static_cast<std::size_t>(plane));
  std::iota(map.begin(), map.end(), 0.0);
  std::shuffle(map.begin(), map.end(), std::mt19937(83));
  std::vector<double> least(removal_points), most(removal_points);
  removal_curves(net, image.data(), cls, map.data(), least.data(), most.data());

  const double untouched = removed_probability(net, image, cls, {});
  CHECK(least[0] == Approx(untouched).epsilon(tol::reorder));
  CHECK(most[0] == Approx(untouched).epsilon(tol::reorder));
  for (index_t k : {index_t(1), index_t(37), index_t(64), removal_points - 1}) {
    const index_t removed = pixels_removed_at(k, plane);
    INFO("point " << k << ", " << removed << " pixels removed");
    std::vector<index_t> lowest, highest;
    for (index_t p = 0; p < plane; ++p) {
      if (map[static_cast<std::size_t>(p)] < double(removed)) lowest.push_back(p);
      if (map[static_cast<std::size_t>(p)] >= double(plane - removed)) highest.push_back(p);
    }
    CHECK(least[static_cast<std::size_t>(k)] == Approx(removed_probability(net, image, cls, lowest)).epsilon(tol::reorder));
    CHECK(most[static_cast<std::size_t>(k)] == Approx(removed_probability(net, image, cls, highest)).epsilon(tol::reorder));
  }
  CHECK(least.back() != Approx(most.back()));  // the two orders remove different pixels
}

TEST_CASE("removal_curves remove equal values in pixel order least first, in reverse pixel order most first",
          "[attribution][pixel_removal]") {
  using Net = net8;
  constexpr index_t plane = 64;
  const auto net = make_net<Net>(84);
  const auto image = random_image(Net::image_shape::size, 85);
  const index_t cls = 1;
  // A flat map (Grad-CAM's ReLU makes such plateaus): the order is the stable sort's, which
  // is numpy's argsort(kind="stable") and its reverse [::-1] for the most-first curve.
  const std::vector<double> flat(static_cast<std::size_t>(plane), 0.0);
  std::vector<double> least(removal_points), most(removal_points);
  removal_curves(net, image.data(), cls, flat.data(), least.data(), most.data());
  const index_t removed = pixels_removed_at(removal_points - 1, plane);
  std::vector<index_t> first, last;
  for (index_t p = 0; p < removed; ++p) {
    first.push_back(p);
    last.push_back(plane - 1 - p);
  }
  CHECK(least.back() == Approx(removed_probability(net, image, cls, first)).epsilon(tol::reorder));
  CHECK(most.back() == Approx(removed_probability(net, image, cls, last)).epsilon(tol::reorder));
  CHECK(least.back() != Approx(most.back()));
}

// net16 has smaller images than CIFAR-10's: pixel_removal must read them at their own size.
TEMPLATE_TEST_CASE("pixel_removal's curves are the means of removal_curves ranked by the maps summed over their channels",
                   "[attribution][pixel_removal]", net32, net16) {
  using Net = TestType;
  constexpr index_t plane = Net::image_shape::dim(1) * Net::image_shape::dim(2);
  const auto net = make_net<Net>(86);
  const auto data = random_dataset<typename Net::image_shape>(5, 87, [](index_t i) { return int((3 * i) % Net::num_classes); });
  const std::vector<index_t> chosen{4, 1, 3};
  attribution_options options;
  options.rise.masks = 8;
  for (attribution_method m : {attribution_method::coda, attribution_method::grad, attribution_method::gradcam, attribution_method::rise}) {
    INFO(method_name(m));
    const auto mean = pixel_removal(net, m, data, chosen, options);
    std::vector<double> least(removal_points, 0.0), most(removal_points, 0.0), least_channel0(removal_points, 0.0);
    for (index_t i : chosen) {
      const auto image = dataset_image(data, i);
      const index_t cls = data.labels[static_cast<std::size_t>(i)];
      const auto a = attribute(net, m, image.data(), {cls}, options);
      const auto map = channel_sum(a.values.data(), a.channels, plane);
      std::vector<double> l(removal_points), h(removal_points);
      removal_curves(net, image.data(), cls, map.data(), l.data(), h.data());
      for (index_t k = 0; k < removal_points; ++k) {
        least[static_cast<std::size_t>(k)] += l[static_cast<std::size_t>(k)] / double(chosen.size());
        most[static_cast<std::size_t>(k)] += h[static_cast<std::size_t>(k)] / double(chosen.size());
      }
      // Ranking by the first channel alone gives other curves for the multi-channel maps.
      removal_curves(net, image.data(), cls, a.values.data(), l.data(), h.data());
      for (index_t k = 0; k < removal_points; ++k) least_channel0[static_cast<std::size_t>(k)] += l[static_cast<std::size_t>(k)] / double(chosen.size());
    }
    REQUIRE(mean[0].size() == static_cast<std::size_t>(removal_points));
    REQUIRE(mean[1].size() == static_cast<std::size_t>(removal_points));
    CHECK(rel_err(mean[0].data(), least) < tol::same_ops);
    CHECK(rel_err(mean[1].data(), most) < tol::same_ops);
    if (method_channels<Net>(m) > 1) CHECK(rel_err(mean[0].data(), least_channel0) > 1e-6);
  }
}

}  // namespace test_pixel_removal

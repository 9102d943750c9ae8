// The localisation metric (coda/attribution/localisation.hpp) against the authors' evaluation
// code (CoDA-Nets, interpretability/analyses/localisation.py): numpy's legacy generator against
// numpy's own draws, the grid images (get_sorted_indices) and the grids (make_multi_image's walk)
// against numpy runs of the authors' algorithm, both on hand-made lists and on the fixture
// tests/fixtures/attribution_grids.safetensors; then the layout of a grid (image k at row k % n,
// column k / n) in localisation_score and localisation_scores, and confident_images against
// predict().
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "support/attribution_nets.hpp"  // first: see its note on gradcam.hpp
#include "coda/attribution/localisation.hpp"
#include "coda/io/safetensors.hpp"
#include "support/fixtures.hpp"

namespace test_localisation {

using namespace coda;
using namespace coda::test;
namespace tol = coda::test::attribution_tolerance;

namespace {

std::vector<index_t> image_indices(const std::vector<ranked_image>& list) {
  std::vector<index_t> out;
  for (const ranked_image& r : list) out.push_back(r.image);
  return out;
}

/// The ranked lists of a data set's labels and per-image logits as the authors build them:
/// per class, its images by logit, highest first, equal logits in index order (Python's stable
/// sort), kept while sigmoid(logit) > 0.5.
std::vector<std::vector<ranked_image>> rank_by_logit(const std::vector<int>& labels, const std::vector<double>& logits, int classes) {
  std::vector<std::vector<ranked_image>> ranked(static_cast<std::size_t>(classes));
  for (std::size_t i = 0; i < labels.size(); ++i) ranked[static_cast<std::size_t>(labels[i])].push_back({index_t(i), logits[i]});
  for (auto& list : ranked) {
    std::stable_sort(list.begin(), list.end(), [](const ranked_image& a, const ranked_image& b) { return a.logit > b.logit; });
    list.erase(std::find_if(list.begin(), list.end(), [](const ranked_image& r) { return !(sigmoid(r.logit) > 0.5); }), list.end());
  }
  return ranked;
}

// Hand-made lists: 10 classes, 60 images with random labels, each class's confident images
// (logit > 0) by logit; class 3 has a tie. The expected orders and grids below come from the
// authors' get_sorted_indices and make_multi_image, re-typed from their repository and run with
// numpy 1.24.2 on these lists (with each class's non-confident tail appended, which their mask
// stops at).
const std::vector<std::vector<ranked_image>> hand_ranked{
    {{47, 2.74}, {42, 1.28}, {49, 1.23}, {14, 1.22}, {54, 0.99}, {40, 0.43}},
    {{43, 1.39}, {12, 1.12}, {17, 0.97}, {56, 0.87}, {13, 0.65}, {46, 0.53}, {21, 0.16}},
    {{16, 0.69}, {7, 0.39}, {45, 0.32}},
    {{52, 2.83}, {18, 2.83}, {59, 1.28}, {20, 0.82}, {24, 0.1}},
    {{48, 1.63}, {19, 0.06}},
    {{34, 2.27}, {53, 1.78}, {22, 0.07}},
    {{38, 0.26}},
    {{39, 1.98}, {55, 1.83}, {28, 1.19}, {11, 0.87}, {31, 0.82}, {50, 0.52}, {30, 0.51}},
    {{37, 3.21}, {57, 3.04}, {2, 1.11}, {10, 0.72}, {35, 0.57}, {1, 0.24}},
    {{27, 2.38}, {0, 1.18}, {32, 0.25}, {58, 0.08}},
};
const std::vector<int> hand_labels{9, 8, 8, 0, 3, 4, 0, 2, 9, 6, 8, 7, 1, 1, 0, 0, 2, 1, 3, 4, 3, 1, 5, 4, 3, 3, 5, 9, 7, 4,
                                   7, 7, 9, 5, 5, 8, 8, 8, 6, 7, 0, 8, 0, 1, 5, 2, 1, 0, 4, 0, 7, 3, 3, 5, 0, 7, 1, 8, 9, 3};

}  // namespace

// ---- numpy's legacy generator ----------------------------------------------------------------

TEST_CASE("numpy_legacy_random reproduces np.random.seed(42)'s randint and choice(replace=False)", "[attribution][localisation]") {
  SECTION("interval: RandomState(42).randint(0, m + 1) for successive m") {
    // python3 -c "import numpy as np; rs = np.random.RandomState(42);
    //             print([rs.randint(0, m + 1) for m in [0, 1, 6, 9, 100, 1000, 2**31 - 1, 2**32 - 1, 5]])"
    // m = 0 draws nothing, in numpy and here; 2^32 - 1 takes one draw unmasked.
    detail::numpy_legacy_random r(42);
    const std::vector<std::uint32_t> maxima{0, 1, 6, 9, 100, 1000, 2147483647u, 4294967295u, 5};
    const std::vector<std::uint32_t> expected{0, 0, 3, 7, 60, 20, 670094950u, 1914837113u, 2};
    for (std::size_t i = 0; i < maxima.size(); ++i) {
      INFO("draw " << i << ", max " << maxima[i]);
      CHECK(r.interval(maxima[i]) == expected[i]);
    }
  }
  SECTION("choice: successive draws of RandomState(42).choice(population, size, replace=False)") {
    detail::numpy_legacy_random r(42);
    std::vector<int> ten(10), twenty_five(25), multiples(7);
    for (int i = 0; i < 10; ++i) ten[std::size_t(i)] = i;
    for (int i = 0; i < 25; ++i) twenty_five[std::size_t(i)] = i;
    for (int i = 0; i < 7; ++i) multiples[std::size_t(i)] = 3 * i;
    CHECK(r.choice(ten, 4) == std::vector<int>{8, 1, 5, 0});
    CHECK(r.choice(multiples, 3) == std::vector<int>{12, 3, 0});
    CHECK(r.choice(std::vector<int>{5}, 1) == std::vector<int>{5});
    CHECK(r.choice(twenty_five, 9) == std::vector<int>{24, 13, 10, 3, 16, 6, 22, 12, 8});
    CHECK(r.choice(ten, 10) == std::vector<int>{1, 8, 7, 5, 4, 9, 0, 3, 6, 2});
    detail::numpy_legacy_random seven(7);
    CHECK(seven.choice(ten, 4) == std::vector<int>{8, 5, 0, 2});
  }
}

// ---- the grid images and the grids -------------------------------------------------------------

TEST_CASE("grid_image_order and make_grids reproduce the authors' sampling and walk on hand-made lists", "[attribution][localisation]") {
  SECTION("2x2 grids") {
    const std::vector<index_t> order{37, 43, 34, 47, 42, 12, 57, 53, 27, 16, 49, 38, 17, 2, 39, 7, 56, 22,
                                     48, 0, 45, 32, 55, 52, 18, 19, 28, 14, 54, 58, 59, 10, 13, 35, 20, 40};
    CHECK(image_indices(grid_image_order(hand_ranked, 4)) == order);
    // Their walk: after each grid one entry is skipped, so later grids straddle the blocks and
    // skip an image whose class the grid already has (grids 6 and 7).
    const std::vector<std::vector<index_t>> grids{{37, 43, 34, 47}, {12, 57, 53, 27}, {49, 38, 17, 2}, {7, 56, 22, 48},
                                                  {45, 32, 55, 52}, {19, 28, 14, 58}, {10, 13, 20, 40}};
    const auto got = make_grids(hand_ranked, hand_labels, 2, 100);
    REQUIRE(got.size() == grids.size());
    for (std::size_t g = 0; g < grids.size(); ++g) {
      INFO("grid " << g);
      CHECK(got[g].images == grids[g]);
      std::vector<int> classes;
      for (index_t i : grids[g]) classes.push_back(hand_labels[std::size_t(i)]);
      CHECK(got[g].classes == classes);
    }
    // `count` cuts the list of grids short.
    const auto three = make_grids(hand_ranked, hand_labels, 2, 3);
    REQUIRE(three.size() == 3);
    for (std::size_t g = 0; g < 3; ++g) CHECK(three[g].images == grids[g]);
    CHECK(make_grids(hand_ranked, hand_labels, 2, 0).empty());
  }
  SECTION("3x3 grids: the sampling stops while 9 classes still have images; one grid fits") {
    const std::vector<index_t> order{37, 43, 34, 47, 39, 16, 27, 48, 52, 42, 12, 57, 53, 18, 19, 55, 0, 38};
    CHECK(image_indices(grid_image_order(hand_ranked, 9)) == order);
    const auto got = make_grids(hand_ranked, hand_labels, 3, 10);
    REQUIRE(got.size() == 1);
    CHECK(got[0].images == std::vector<index_t>{37, 43, 34, 47, 39, 16, 27, 48, 52});
  }
  SECTION("the seed matters; the same seed repeats") {
    CHECK(image_indices(grid_image_order(hand_ranked, 4, 42)) == image_indices(grid_image_order(hand_ranked, 4)));
    CHECK(image_indices(grid_image_order(hand_ranked, 4, 43)) != image_indices(grid_image_order(hand_ranked, 4)));
  }
}

TEST_CASE("grid_image_order: blocks of distinct classes, each class in confidence order, until no more than n*n classes are left",
          "[attribution][localisation]") {
  for (index_t cells : {2, 4, 9}) {
    INFO(cells << " cells");
    const auto order = grid_image_order(hand_ranked, cells, 7);
    REQUIRE(order.size() % static_cast<std::size_t>(cells) == 0);
    std::vector<std::size_t> next(hand_ranked.size(), 0);
    for (std::size_t b = 0; b < order.size(); b += static_cast<std::size_t>(cells)) {
      std::vector<int> classes;
      for (std::size_t i = b; i < b + static_cast<std::size_t>(cells); ++i) {
        const int c = hand_labels[static_cast<std::size_t>(order[i].image)];
        classes.push_back(c);
        // Each class's images in its list's order, each once.
        REQUIRE(next[std::size_t(c)] < hand_ranked[std::size_t(c)].size());
        CHECK(order[i].image == hand_ranked[std::size_t(c)][next[std::size_t(c)]].image);
        CHECK(order[i].logit == hand_ranked[std::size_t(c)][next[std::size_t(c)]].logit);
        ++next[std::size_t(c)];
      }
      std::sort(classes.begin(), classes.end());
      CHECK(std::adjacent_find(classes.begin(), classes.end()) == classes.end());
    }
    // It stopped when no more than `cells` classes had images left.
    std::size_t left = 0;
    for (std::size_t c = 0; c < hand_ranked.size(); ++c) left += next[c] < hand_ranked[c].size();
    CHECK(left <= static_cast<std::size_t>(cells));
  }
  // No more than n*n classes with confident images: no grid images, no grids.
  std::vector<std::vector<ranked_image>> four(10);
  four[1] = {{1, 2.0}};
  four[4] = {{4, 2.0}, {5, 1.0}};
  four[6] = {{6, 1.0}};
  four[9] = {{9, 3.0}};
  CHECK(grid_image_order(four, 4).empty());
  CHECK(make_grids(four, std::vector<int>(10, 0), 2, 5).empty());
  four[2] = {{2, 1.0}};  // five classes: one round of four
  CHECK(grid_image_order(four, 4).size() == 4);
}

TEST_CASE("grid_image_order and make_grids reproduce the fixture's numpy runs of the authors' code", "[attribution][localisation][golden]") {
  // tests/fixtures/make_attribution_fixtures.py: labels [N] and per-image logits [N] (quarter
  // steps, so with ties), the authors' sampling (sorted_indices.n) and walk (grids.n).
  const auto file = safetensors_file::read(fixture_path("attribution_grids.safetensors"));
  const auto labels = fixture_values<int>(file, "labels");
  const auto logits = fixture_values<double>(file, "logits");
  REQUIRE(labels.size() == logits.size());
  const auto ranked = rank_by_logit(labels, logits, 10);
  bool ties = false;
  for (const auto& list : ranked)
    for (std::size_t i = 1; i < list.size(); ++i) ties = ties || list[i].logit == list[i - 1].logit;
  CHECK(ties);  // the stable order of equal logits is exercised
  for (index_t n : {3, 2}) {
    INFO(n << "x" << n);
    const std::string suffix = "." + std::to_string(n);
    const auto sorted = fixture_values<index_t>(file, "sorted_indices" + suffix);
    CHECK(image_indices(grid_image_order(ranked, n * n)) == sorted);
    const tensor_entry* e = file.find("grids" + suffix);
    REQUIRE(e != nullptr);
    REQUIRE(e->shape.size() == 2);
    REQUIRE(e->shape[1] == n * n);
    const auto grids = fixture_values<index_t>(file, "grids" + suffix);
    const auto count = static_cast<std::size_t>(e->shape[0]);
    if (n == 2) REQUIRE(count >= 5);
    const auto got = make_grids(ranked, labels, n, 1000);
    REQUIRE(got.size() == count);
    for (std::size_t g = 0; g < count; ++g) {
      INFO("grid " << g);
      CHECK(got[g].images == std::vector<index_t>(grids.begin() + long(g) * n * n, grids.begin() + long(g + 1) * n * n));
      for (std::size_t k = 0; k < got[g].images.size(); ++k)
        CHECK(got[g].classes[k] == labels[static_cast<std::size_t>(got[g].images[k])]);
    }
  }
}

// ---- cell scores and the grid layout -----------------------------------------------------------

TEST_CASE("localisation_score: the positive mass in image k's cell, row k % n, column k / n, over the total",
          "[attribution][localisation]") {
  constexpr index_t side = 8, n = 2;
  std::vector<double> map(side * side);
  // Positive only in the bottom-left 4x4 block (row 1, column 0): image k = 1 of a 2x2 grid.
  const auto bottom_left = [](index_t y, index_t x) { return y >= 4 && x < 4; };
  for (index_t y = 0; y < side; ++y)
    for (index_t x = 0; x < side; ++x) map[static_cast<std::size_t>(y * side + x)] = bottom_left(y, x) ? 0.5 + y + x : -3.0 - x;
  CHECK(localisation_score(map.data(), n, side, 1) == 1.0);
  CHECK(localisation_score(map.data(), n, side, 2) == 0.0);  // top-right: the transposed layout's cell 1
  CHECK(localisation_score(map.data(), n, side, 0) == 0.0);
  CHECK(localisation_score(map.data(), n, side, 3) == 0.0);

  // 3x3 on a 9x9 map: image 5 sits in row 2, column 1.
  std::vector<double> nine(81, 0.0);
  for (index_t y = 6; y < 9; ++y)
    for (index_t x = 3; x < 6; ++x) nine[static_cast<std::size_t>(y * 9 + x)] = 1.0;
  CHECK(localisation_score(nine.data(), 3, 9, 5) == 1.0);
  CHECK(localisation_score(nine.data(), 3, 9, 7) == 0.0);

  // Uniform: 1 / n^2.
  std::fill(map.begin(), map.end(), 0.25);
  for (index_t c = 0; c < n * n; ++c) CHECK(localisation_score(map.data(), n, side, c) == Approx(0.25).epsilon(tol::same_ops));
  std::vector<double> uniform9(36, 2.0);
  for (index_t c = 0; c < 9; ++c) CHECK(localisation_score(uniform9.data(), 3, 6, c) == Approx(1.0 / 9).epsilon(tol::same_ops));

  // No positive mass: 0.
  std::fill(map.begin(), map.end(), 0.0);
  CHECK(localisation_score(map.data(), n, side, 1) == 0.0);
  std::fill(map.begin(), map.end(), -1.0);
  CHECK(localisation_score(map.data(), n, side, 1) == 0.0);

  // Negative values are ignored: 2 on cell 1's 16 pixels, 1 on cell 0's, -100 elsewhere gives
  // 32 / (32 + 16).
  for (index_t y = 0; y < side; ++y)
    for (index_t x = 0; x < side; ++x)
      map[static_cast<std::size_t>(y * side + x)] = bottom_left(y, x) ? 2.0 : (y < 4 && x < 4 ? 1.0 : -100.0);
  CHECK(localisation_score(map.data(), n, side, 1) == Approx(2.0 / 3).epsilon(tol::same_ops));
  CHECK(localisation_score(map.data(), n, side, 0) == Approx(1.0 / 3).epsilon(tol::same_ops));
  CHECK(localisation_score(map.data(), n, side, 2) == 0.0);
}

TEST_CASE("localisation_scores places image k at row k % n, column k / n: a perfect map scores 1, a uniform one 1/n^2",
          "[attribution][localisation]") {
  using Net = net32;
  const auto net = make_net<Net>(71);
  // Image 0 is black; ixg (and deeplift from black) is exactly 0 on black pixels, so the maps
  // of a grid with one non-black image have all their mass in that image's cell.
  auto data = random_dataset(5, 72, [](index_t i) { return int(i % Net::num_classes); });
  std::fill(data.pixels.begin(), data.pixels.begin() + Net::image_shape::size, std::uint8_t(0));
  const std::vector<localisation_grid> grids{{{0, 3, 0, 0}, {0, 1, 2, 3}},   // image 3 at k = 1: row 1, column 0
                                             {{0, 0, 4, 0}, {2, 0, 1, 3}},   // image 4 at k = 2: row 0, column 1
                                             {{2, 0, 0, 0}, {3, 2, 1, 0}}};  // k = 0
  const std::vector<index_t> real{1, 2, 0};
  for (attribution_method m : {attribution_method::ixg, attribution_method::deeplift}) {
    INFO(method_name(m));
    const auto scores = localisation_scores<2>(net, m, data, grids);
    REQUIRE(scores.size() == grids.size());
    for (std::size_t g = 0; g < grids.size(); ++g) {
      INFO("grid " << g);
      REQUIRE(scores[g].size() == 4);
      for (index_t k = 0; k < 4; ++k) CHECK(scores[g][std::size_t(k)] == (k == real[g] ? 1.0 : 0.0));
    }
  }
  // RISE with every cell kept: every mask is 1, each map is sigmoid(f_t(grid)) everywhere.
  attribution_options all_kept;
  all_kept.rise = {3, 6, 1.0, 0};
  const auto uniform = localisation_scores<2>(net, attribution_method::rise, data, grids, all_kept);
  for (const auto& s : uniform)
    for (double v : s) CHECK(v == Approx(0.25).epsilon(1e-12));
}

// net16 has smaller images than CIFAR-10's: the grid must be composed of cells of its own size.
TEMPLATE_TEST_CASE("localisation_scores<2> are the cell scores of attribute() on the independently composed grid",
                   "[attribution][localisation]", net32, net16) {
  using Net = TestType;
  constexpr index_t h = Net::image_shape::dim(1), w = Net::image_shape::dim(2), side = 2 * h;
  static_assert(h == w);
  using Grid = typename Net::template with_image<shape<3, side, side>>;
  const auto net = make_net<Net>(73);
  const auto data = random_dataset<typename Net::image_shape>(8, 74, [](index_t i) { return int(i % Net::num_classes); });
  const std::vector<localisation_grid> grids{{{0, 5, 2, 7}, {0, 1, 2, 3}}, {{3, 1, 4, 6}, {3, 1, 0, 2}}};
  const Grid grid_net(net);
  attribution_options options;
  options.intgrad.steps = 4;
  options.rise.masks = 8;
  for (attribution_method m : {attribution_method::coda, attribution_method::grad, attribution_method::intgrad,
                               attribution_method::gradcam, attribution_method::occlusion5, attribution_method::rise}) {
    INFO(method_name(m));
    const auto scores = localisation_scores<2>(net, m, data, grids, options);
    REQUIRE(scores.size() == grids.size());
    bool nontrivial = false;
    for (std::size_t g = 0; g < grids.size(); ++g) {
      std::vector<double> image(static_cast<std::size_t>(3 * side * side));
      std::vector<index_t> classes;
      for (index_t k = 0; k < 4; ++k) {
        const auto cell = dataset_image(data, grids[g].images[static_cast<std::size_t>(k)]);
        classes.push_back(grids[g].classes[static_cast<std::size_t>(k)]);
        const index_t oy = k % 2 * h, ox = k / 2 * w;
        for (index_t c = 0; c < 3; ++c)
          for (index_t y = 0; y < h; ++y)
            for (index_t x = 0; x < w; ++x)
              image[static_cast<std::size_t>((c * side + oy + y) * side + ox + x)] = cell[static_cast<std::size_t>((c * h + y) * w + x)];
      }
      const auto maps = attribute(grid_net, m, image.data(), classes, options);
      REQUIRE(scores[g].size() == 4);
      for (index_t k = 0; k < 4; ++k) {
        const auto summed = maps.summed(std::size_t(k));
        const double expected = localisation_score(summed.data(), 2, side, k);
        CHECK(scores[g][static_cast<std::size_t>(k)] == Approx(expected).epsilon(tol::same_ops));
        CHECK(scores[g][static_cast<std::size_t>(k)] >= 0.0);
        CHECK(scores[g][static_cast<std::size_t>(k)] <= 1.0);
        nontrivial = nontrivial || (expected > 0 && expected < 1);
      }
    }
    CHECK(nontrivial);
  }
}

// ---- confident images --------------------------------------------------------------------------

TEMPLATE_TEST_CASE("confident_images keeps the correctly classified images above the threshold, highest logit first",
                   "[attribution][localisation]", net32, net16) {
  using Net = TestType;
  constexpr index_t K = Net::num_classes, count = 300;  // more than one 256-image chunk
  const auto net = make_net<Net>(91);
  auto data = random_dataset<typename Net::image_shape>(count, 92, [](index_t) { return 0; });
  tensor<double, typename Net::image_shape> images(count);
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

  std::vector<std::vector<ranked_image>> expected(K);
  for (index_t i = 0; i < count; ++i) {
    const double* l = logits.sample_data(i);
    const int label = data.labels[static_cast<std::size_t>(i)];
    if (std::max_element(l, l + K) - l == label && sigmoid(l[label]) > threshold) expected[std::size_t(label)].push_back({i, l[label]});
  }
  const auto ranked = confident_images(net, data, threshold);
  REQUIRE(ranked.size() == static_cast<std::size_t>(K));
  std::size_t total = 0, classes_with_images = 0;
  for (index_t c = 0; c < K; ++c) {
    INFO("class " << c);
    auto e = expected[std::size_t(c)];
    std::stable_sort(e.begin(), e.end(), [](const ranked_image& a, const ranked_image& b) { return a.logit > b.logit; });
    const auto& got = ranked[std::size_t(c)];
    CHECK(image_indices(got) == image_indices(e));
    REQUIRE(got.size() == e.size());
    for (std::size_t j = 0; j < got.size(); ++j) {
      CHECK(got[j].logit == Approx(e[j].logit).epsilon(tol::reorder));  // the logit of the image's class
      if (j > 0) CHECK(got[j - 1].logit >= got[j].logit);
      CHECK(data.labels[static_cast<std::size_t>(got[j].image)] == c);
      CHECK(got[j].image % 3 != 0);  // never a misclassified image
    }
    total += got.size();
    classes_with_images += !got.empty();
  }
  CHECK(total > 0);
  CHECK(total < correct_conf.size());  // the threshold removed some correct images
  CHECK(classes_with_images >= 2);
}

}  // namespace test_localisation

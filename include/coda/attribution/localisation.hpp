// The localisation metric of the paper (the "grid pointing game"): n x n grids of confidently and
// correctly classified test images of n*n different classes; the network runs fully
// convolutionally on the whole grid, each cell's class is attributed on the grid, and the score
// of a cell is the fraction of the positive attribution (summed over the method's channels)
// that falls inside that cell. A perfect attribution scores 1, a uniform one 1/n^2.
//
// Grids are drawn as the authors' evaluation draws them, so that the same model gives the same
// grids:
//  1. per class, the correctly classified test images sorted by the logit of their class,
//     highest first (ties keep file order); an image is usable while sigmoid(logit) exceeds the
//     minimum confidence (0.5 in the paper);
//  2. with numpy's legacy generator seeded with 42, while MORE than n*n classes still have a
//     usable image: choose n*n of those classes (numpy.random.choice without replacement) and
//     take each one's next image; a class drops out when its next image is not usable or it has
//     none left. No image is used twice;
//  3. the grids are cut from that list in order, n*n images of distinct classes each, and the
//     authors' walk skips one entry of the list after every grid;
//  4. image k of a grid goes to row k mod n, column k / n (the authors' tensor layout).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "coda/attribution/methods.hpp"
#include "coda/data/cifar.hpp"
#include "coda/detail/random.hpp"

namespace coda {

/// The n*n images of one grid (test set indices) and their classes; image k sits in row k % n,
/// column k / n.
struct localisation_grid {
  std::vector<index_t> images;
  std::vector<int> classes;
};

/// An image and the logit of its class.
struct ranked_image {
  index_t image;
  double logit;
};

/// For every class, the images of `data` the network classifies correctly with
/// sigmoid(logit of the label) > min_confidence, highest logit first (ties in file order).
template <class Net, class Shape>
std::vector<std::vector<ranked_image>> confident_images(const Net& net, const image_dataset<Shape>& data, double min_confidence) {
  detail::require_dataset_shape<Net, Shape>();
  using T = typename Net::scalar_type;
  std::vector<std::vector<ranked_image>> ranked(Net::num_classes);
  constexpr index_t chunk = 256;
  tensor<T, typename Net::image_shape> images(chunk);
  for (index_t first = 0; first < data.size(); first += chunk) {
    const index_t n = std::min(chunk, data.size() - first);
    for (index_t b = 0; b < n; ++b) data.image_as(first + b, images.sample_data(b));
    const auto logits = predict(net, tensor_view<const T, typename Net::image_shape>(images.data(), n));
    for (index_t b = 0; b < n; ++b) {
      const T* l = logits.sample_data(b);
      const int label = data.labels[static_cast<std::size_t>(first + b)];
      const double p = 1 / (1 + std::exp(-double(l[label])));
      if (std::max_element(l, l + Net::num_classes) - l == label && p > min_confidence)
        ranked[static_cast<std::size_t>(label)].push_back({first + b, double(l[label])});
    }
  }
  for (auto& list : ranked)
    std::stable_sort(list.begin(), list.end(), [](const ranked_image& a, const ranked_image& b) { return a.logit > b.logit; });
  return ranked;
}

/// The authors' list of grid images (steps 1 and 2 above): blocks of `cells` images of distinct
/// classes, each class's images in confidence order. `ranked` holds only usable images.
inline std::vector<ranked_image> grid_image_order(const std::vector<std::vector<ranked_image>>& ranked, index_t cells,
                                                  std::uint32_t seed = 42) {
  detail::numpy_legacy_random random(seed);
  std::vector<std::size_t> next(ranked.size(), 0);
  const auto usable = [&](std::size_t c) { return next[c] < ranked[c].size(); };
  std::vector<ranked_image> order;
  for (;;) {
    std::vector<int> available;
    for (std::size_t c = 0; c < ranked.size(); ++c)
      if (usable(c)) available.push_back(static_cast<int>(c));
    if (static_cast<index_t>(available.size()) <= cells) break;
    for (const int c : random.choice(available, static_cast<std::size_t>(cells)))
      order.push_back(ranked[std::size_t(c)][next[std::size_t(c)]++]);
  }
  return order;
}

/// Up to `count` grids of n x n cells (steps 3 and 4 above); fewer when the confident images run
/// out first, none when no more than n*n classes have a confident image. `labels` are the
/// classes of the data set's images.
inline std::vector<localisation_grid> make_grids(const std::vector<std::vector<ranked_image>>& ranked, const std::vector<int>& labels,
                                                 index_t n, index_t count, std::uint32_t seed = 42) {
  const auto order = grid_image_order(ranked, n * n, seed);
  std::vector<localisation_grid> grids;
  for (std::size_t at = 0; static_cast<index_t>(grids.size()) < count;) {
    localisation_grid g;
    while (static_cast<index_t>(g.images.size()) < n * n && at < order.size()) {
      const index_t image = order[at++].image;
      const int label = labels[static_cast<std::size_t>(image)];
      if (std::find(g.classes.begin(), g.classes.end(), label) != g.classes.end()) continue;
      g.images.push_back(image);
      g.classes.push_back(label);
    }
    if (static_cast<index_t>(g.images.size()) < n * n) break;
    grids.push_back(std::move(g));
    ++at;  // the authors' walk skips one entry after each grid
  }
  return grids;
}

/// Fraction of the positive part of `map` (side x side, side = n * cell size) inside the cell of
/// grid image k (row k % n, column k / n); 0 when the map has no positive mass.
template <class T>
double localisation_score(const T* map, index_t n, index_t side, index_t k) {
  const index_t size = side / n, cy = k % n, cx = k / n;
  double inside = 0, total = 0;
  for (index_t y = 0; y < side; ++y)
    for (index_t x = 0; x < side; ++x) {
      const double v = std::max(double(map[y * side + x]), 0.0);
      total += v;
      if (y / size == cy && x / size == cx) inside += v;
    }
  return total > 0 ? inside / total : 0.0;
}

/// Scores [grid][image] of `method`: each grid is composed from `data`, and the network runs on it
/// fully convolutionally (Net::with_image for an n-times larger image). Grids are spread over
/// the worker threads.
template <index_t N, class Net, class Shape>
std::vector<std::vector<double>> localisation_scores(const Net& net, attribution_method method, const image_dataset<Shape>& data,
                                                     const std::vector<localisation_grid>& grids, const attribution_options& options = {}) {
  detail::require_dataset_shape<Net, Shape>();
  using T = typename Net::scalar_type;
  using I = typename Net::image_shape;
  constexpr index_t C = I::dim(0), h = I::dim(1), w = I::dim(2);
  using grid_net_t = typename Net::template with_image<shape<C, N * h, N * w>>;
  static_assert(h == w, "coda::localisation_scores: square images only");
  const grid_net_t grid_net(net);
  std::vector<std::vector<double>> scores(grids.size());
  parallel_for(static_cast<long>(grids.size()), [&](long g, int) {
    const localisation_grid& grid = grids[static_cast<std::size_t>(g)];
    std::vector<T> image(static_cast<std::size_t>(C * N * h * N * w)), cell(static_cast<std::size_t>(I::size));
    std::vector<index_t> classes;
    for (index_t k = 0; k < N * N; ++k) {
      data.image_as(grid.images[static_cast<std::size_t>(k)], cell.data());
      classes.push_back(grid.classes[static_cast<std::size_t>(k)]);
      for (index_t c = 0; c < C; ++c)
        for (index_t y = 0; y < h; ++y)
          std::copy(cell.begin() + (c * h + y) * w, cell.begin() + (c * h + y + 1) * w,
                    image.begin() + (c * N * h + k % N * h + y) * N * w + k / N * w);
    }
    const auto maps = attribute(grid_net, method, image.data(), classes, options);
    for (index_t k = 0; k < N * N; ++k)
      scores[static_cast<std::size_t>(g)].push_back(localisation_score(maps.summed(std::size_t(k)).data(), N, N * h, k));
  });
  return scores;
}

}  // namespace coda

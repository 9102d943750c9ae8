// The localisation metric of the paper (the "grid pointing game"): n x n grids of confidently and
// correctly classified test images of n*n different classes; the network runs fully
// convolutionally on the whole grid, each cell's class is attributed on the grid, and the score
// of a cell is the fraction of the positive attribution (summed over channels) that falls inside
// that cell. A perfect attribution scores 1, a uniform one 1/n^2.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "coda/attribution/methods.hpp"
#include "coda/io/cifar.hpp"
#include "coda/nn/init.hpp"

namespace coda {

/// n*n images of distinct classes, cells in row-major order.
struct localisation_grid {
  std::vector<index_t> images;
  std::vector<int> classes;
};

/// For every class, the images of `data` the network classifies correctly with
/// sigmoid(logit of the label) > min_confidence, most confident first.
template <class Net>
std::vector<std::vector<index_t>> confident_images(const Net& net, const image_dataset& data, double min_confidence) {
  using T = typename Net::scalar_type;
  std::vector<std::vector<std::pair<double, index_t>>> ranked(Net::num_classes);
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
        ranked[static_cast<std::size_t>(label)].push_back({p, first + b});
    }
  }
  std::vector<std::vector<index_t>> out(Net::num_classes);
  for (std::size_t c = 0; c < ranked.size(); ++c) {
    std::stable_sort(ranked[c].begin(), ranked[c].end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    for (const auto& [p, i] : ranked[c]) out[c].push_back(i);
  }
  return out;
}

/// `count` grids of n*n cells. For each grid, n*n distinct classes are drawn (seeded) among the
/// classes with candidates, and each class contributes its next image in confidence order
/// (cycling when a class runs out).
inline std::vector<localisation_grid> make_grids(const std::vector<std::vector<index_t>>& ranked, index_t n, index_t count,
                                                 std::uint64_t seed) {
  std::vector<int> available;
  for (std::size_t c = 0; c < ranked.size(); ++c)
    if (!ranked[c].empty()) available.push_back(static_cast<int>(c));
  if (static_cast<index_t>(available.size()) < n * n)
    CODA_THROW(argument_error("coda::make_grids: only " + std::to_string(available.size()) +
                         " classes have confidently classified images, a grid needs " + std::to_string(n * n)));
  std::vector<std::size_t> next(ranked.size(), 0);
  std::vector<localisation_grid> grids(static_cast<std::size_t>(count));
  std::uint64_t draw = 0;
  for (auto& g : grids) {
    std::vector<int> pool = available;
    for (index_t cell = 0; cell < n * n; ++cell) {  // partial Fisher-Yates
      const auto pick = cell + static_cast<index_t>(detail::uniform_at(seed, draw++) * double(static_cast<index_t>(pool.size()) - cell));
      std::swap(pool[static_cast<std::size_t>(cell)], pool[static_cast<std::size_t>(pick)]);
      const int c = pool[static_cast<std::size_t>(cell)];
      const auto& list = ranked[static_cast<std::size_t>(c)];
      g.classes.push_back(c);
      g.images.push_back(list[next[static_cast<std::size_t>(c)]++ % list.size()]);
    }
  }
  return grids;
}

/// Fraction of the positive part of `map` (side x side, side = n * cell size) inside `cell`
/// (row-major); 0 when the map has no positive mass.
template <class T>
double localisation_score(const T* map, index_t n, index_t side, index_t cell) {
  const index_t size = side / n, cy = cell / n, cx = cell % n;
  double inside = 0, total = 0;
  for (index_t y = 0; y < side; ++y)
    for (index_t x = 0; x < side; ++x) {
      const double v = std::max(double(map[y * side + x]), 0.0);
      total += v;
      if (y / size == cy && x / size == cx) inside += v;
    }
  return total > 0 ? inside / total : 0.0;
}

/// Scores [grid][cell] of `method`: each grid is composed from `data`, and the network runs on it
/// fully convolutionally (Net::with_image for an n-times larger image). Grids are spread over
/// the worker threads.
template <index_t N, class Net>
std::vector<std::vector<double>> localisation_scores(const Net& net, attribution_method method, const image_dataset& data,
                                                     const std::vector<localisation_grid>& grids) {
  using T = typename Net::scalar_type;
  using I = typename Net::image_shape;
  constexpr index_t C = I::dim(0), h = I::dim(1), w = I::dim(2);
  using grid_net_t = typename Net::template with_image<shape<C, N * h, N * w>>;
  static_assert(h == w, "coda::localisation_scores: square images only");
  const grid_net_t grid_net(net);
  std::vector<std::vector<double>> scores(grids.size());
  detail::pool().run(static_cast<long>(grids.size()), [&](long g, int) {
    const localisation_grid& grid = grids[static_cast<std::size_t>(g)];
    std::vector<T> image(static_cast<std::size_t>(C * N * h * N * w)), cell(static_cast<std::size_t>(I::size));
    std::vector<index_t> classes;
    for (index_t k = 0; k < N * N; ++k) {
      data.image_as(grid.images[static_cast<std::size_t>(k)], cell.data());
      classes.push_back(grid.classes[static_cast<std::size_t>(k)]);
      for (index_t c = 0; c < C; ++c)
        for (index_t y = 0; y < h; ++y)
          std::copy(cell.begin() + (c * h + y) * w, cell.begin() + (c * h + y + 1) * w,
                    image.begin() + (c * N * h + k / N * h + y) * N * w + k % N * w);
    }
    const auto maps = attribute(grid_net, method, image.data(), classes);
    for (index_t k = 0; k < N * N; ++k)
      scores[static_cast<std::size_t>(g)].push_back(localisation_score(maps.data() + k * N * h * N * w, N, N * h, k));
  });
  return scores;
}

}  // namespace coda

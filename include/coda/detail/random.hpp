// The library's random streams. Two kinds, both reproducible bit for bit outside C++:
//  - counter-based SplitMix64 (element k of the stream of a seed, independent of the order in
//    which elements are drawn): initialisation, shuffling, augmentation and RISE masks, each
//    reproduced in numpy by the fixture scripts;
//  - numpy's legacy generator (MT19937 seeded like np.random.seed), for the one draw that must
//    match the authors' Python evaluation: the localisation grids.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace coda::detail {

/// The SplitMix64 output for counter value `state` (Steele, Lea & Flood, 2014).
constexpr std::uint64_t splitmix64(std::uint64_t state) {
  std::uint64_t z = state;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// Element k of the uniform stream of `seed`, in [0, 1) with 24 random bits (exact in float).
inline double uniform_at(std::uint64_t seed, std::uint64_t k) {
  constexpr std::uint64_t golden_gamma = 0x9E3779B97F4A7C15ull;
  return static_cast<double>(splitmix64(seed + (k + 1) * golden_gamma) >> 40) * 0x1p-24;
}

/// numpy.random.RandomState's legacy generator: MT19937 seeded like np.random.seed(int), and the
/// two draws the grid sampling needs, bit for bit.
class numpy_legacy_random {
 public:
  explicit numpy_legacy_random(std::uint32_t seed) : mt_(seed) {}

  /// Uniform integer in [0, max] by masked rejection (numpy's random_interval).
  std::uint32_t interval(std::uint32_t max) {
    if (max == 0) return 0;
    std::uint32_t mask = max;
    for (int s = 1; s < 32; s *= 2) mask |= mask >> s;
    std::uint32_t v;
    do v = static_cast<std::uint32_t>(mt_()) & mask;
    while (v > max);
    return v;
  }

  /// numpy.random.choice(population, size, replace=False): the first `size` entries of a
  /// Fisher-Yates permutation of the positions (numpy's permutation, then [:size]).
  template <class V>
  std::vector<V> choice(const std::vector<V>& population, std::size_t size) {
    std::vector<std::size_t> order(population.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    for (std::size_t i = order.size(); i-- > 1;) std::swap(order[i], order[interval(static_cast<std::uint32_t>(i))]);
    std::vector<V> out;
    for (std::size_t i = 0; i < size; ++i) out.push_back(population[order[i]]);
    return out;
  }

 private:
  std::mt19937 mt_;
};

}  // namespace coda::detail

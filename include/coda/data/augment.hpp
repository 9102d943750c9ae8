// Mini-batches of a training run: the order of an epoch and the paper's augmentation (random
// horizontal flip, random crop of the image's size out of the image zero-padded by 4 pixels, on
// whatever shape the data set's images have). Randomness is counter-based (SplitMix64 of the run
// seed, the epoch and the position in the epoch), so a run resumed at any mini-batch draws
// exactly what the uninterrupted run drew, whatever thread prepares the batch.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "coda/data/cifar.hpp"
#include "coda/detail/random.hpp"

namespace coda {

namespace detail {

inline constexpr std::uint64_t shuffle_stream = 0x5348554646ull, augment_stream = 0x4155474dull;

/// Key of one random stream of a run: `purpose` of `epoch`.
inline std::uint64_t stream_key(std::uint64_t seed, index_t epoch, std::uint64_t purpose) {
  return splitmix64(splitmix64(seed ^ purpose) + static_cast<std::uint64_t>(epoch));
}

}  // namespace detail

/// Indices of an epoch: 0..n-1 in order, or a permutation drawn from (seed, epoch).
inline std::vector<index_t> epoch_order(index_t n, std::uint64_t seed, index_t epoch, bool shuffle) {
  std::vector<index_t> order(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  if (!shuffle) return order;
  const std::uint64_t key = detail::stream_key(seed, epoch, detail::shuffle_stream);
  for (index_t i = n - 1; i > 0; --i) {  // Fisher-Yates
    const auto j = static_cast<index_t>(detail::uniform_at(key, static_cast<std::uint64_t>(i)) * double(i + 1));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  return order;
}

/// The random key of the sample at `position` of `epoch`: what its augmentation draws from.
inline std::uint64_t augmentation_key(std::uint64_t seed, index_t epoch, index_t position) {
  return detail::splitmix64(detail::stream_key(seed, epoch, detail::augment_stream) + static_cast<std::uint64_t>(position));
}

/// The augmentation drawn for the sample at `position` of `epoch`.
struct augmentation {
  bool flip;
  index_t dy, dx;  ///< shift in [-4, 4]: output pixel (y, x) reads input (y + dy, x + dx)

  static augmentation draw(std::uint64_t seed, index_t epoch, index_t position) {
    const std::uint64_t r = augmentation_key(seed, epoch, position);
    return {(r & 1) != 0, static_cast<index_t>((r >> 8) % 9) - 4, static_cast<index_t>((r >> 16) % 9) - 4};
  }

  /// Applies the crop, then the flip, to a byte image of shape Shape, writing floats in [0, 1].
  template <class Shape = cifar10_image_shape, class T>
  void apply(const std::uint8_t* src, T* out) const {
    constexpr index_t C = Shape::dim(0), H = Shape::dim(1), W = Shape::dim(2), plane = H * W;
    for (index_t c = 0; c < C; ++c)
      for (index_t y = 0; y < H; ++y)
        for (index_t x = 0; x < W; ++x) {
          const index_t sy = y + dy, sx = (flip ? W - 1 - x : x) + dx;
          const bool inside = sy >= 0 && sy < H && sx >= 0 && sx < W;
          out[c * plane + y * W + x] = inside ? T(src[c * plane + sy * W + sx]) / T(255) : T(0);
        }
  }
};

/// Images [n][Shape] in [0, 1] and labels of data[order[first .. first + n)], augmented when
/// `augment` is set.
template <class Shape, class T>
void prepare_batch(const image_dataset<Shape>& data, const std::vector<index_t>& order, index_t first, index_t n, bool augment,
                   std::uint64_t seed, index_t epoch, T* images, int* labels) {
  for (index_t b = 0; b < n; ++b) {
    const index_t pos = first + b, idx = order[static_cast<std::size_t>(pos)];
    labels[b] = data.labels[static_cast<std::size_t>(idx)];
    T* out = images + b * Shape::size;
    if (augment)
      augmentation::draw(seed, epoch, pos).apply<Shape>(data.image(idx), out);
    else
      data.image_as(idx, out);
  }
}

}  // namespace coda

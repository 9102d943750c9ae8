// Images of any size made into a network's input, as the authors' ImageNet configuration does it
// with torchvision: Resize(256) (the shorter side to 256 pixels, the aspect ratio kept), then for
// testing CenterCrop(240), for training RandomCrop(240), RandomHorizontalFlip and RandAugment
// (n = 2, m = 10). For a network of another input size the resize side scales with the crop
// (crop * 256 / 240). Resampling is stb's (Mitchell filter), not PIL's bilinear one, so resized
// pixels differ from torchvision's by a few levels; the geometry (sizes, crop positions) is theirs.
// Randomness is counter-based (a key per image and epoch), as in data/augment.hpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "coda/data/rand_augment.hpp"
#include "coda/detail/random.hpp"
#include "coda/io/image.hpp"

namespace coda {

/// The shorter side resized to `side`, the longer one to side * long / short rounded down
/// (torchvision's Resize with an int).
inline rgb_image resize_short_side(const rgb_image& img, int side) {
  CODA_REQUIRE(side > 0 && img.width > 0 && img.height > 0, "coda::resize_short_side: sizes must be positive");
  const bool wide = img.width >= img.height;
  const int short_side = wide ? img.height : img.width, long_side = wide ? img.width : img.height;
  const int scaled = static_cast<int>(static_cast<std::int64_t>(side) * long_side / short_side);
  return wide ? resize_image(img, scaled, side) : resize_image(img, side, scaled);
}

/// The h x w window whose top-left pixel is (top, left); it must lie inside the image.
inline rgb_image crop(const rgb_image& img, int top, int left, int h, int w) {
  CODA_REQUIRE(top >= 0 && left >= 0 && h > 0 && w > 0 && top + h <= img.height && left + w <= img.width,
               "coda::crop: the window must lie inside the image");
  rgb_image out{w, h, std::vector<std::uint8_t>(static_cast<std::size_t>(3) * w * h)};
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < h; ++y) {
      const auto* row = img.chw.data() + (static_cast<std::size_t>(c) * img.height + top + y) * img.width + left;
      std::copy(row, row + w, out.chw.data() + (static_cast<std::size_t>(c) * h + y) * w);
    }
  return out;
}

/// torchvision's CenterCrop: the offsets round((size - crop) / 2) with Python's round, which
/// takes halves to the even neighbour.
inline rgb_image centre_crop(const rgb_image& img, int h, int w) {
  const auto offset = [](int room) { return room / 2 + (room % 2 == 1 && (room / 2) % 2 == 1); };
  return crop(img, offset(img.height - h), offset(img.width - w), h, w);
}

inline void flip_horizontally(rgb_image& img) {
  for (int row = 0; row < 3 * img.height; ++row) {
    auto* begin = img.chw.data() + static_cast<std::size_t>(row) * img.width;
    std::reverse(begin, begin + img.width);
  }
}

/// The resize side that goes with a crop: 256 for the authors' 240.
constexpr int resize_side_for(int crop_side) { return (crop_side * 256 + 120) / 240; }

/// Test time: resize the shorter side, then the centre crop_side x crop_side.
inline rgb_image test_transform(const rgb_image& img, int crop_side) {
  return centre_crop(resize_short_side(img, resize_side_for(crop_side)), crop_side, crop_side);
}

/// Training: resize, a random crop, a flip with probability 1/2, then RandAugment(n, m), all drawn
/// from `key` (one per image and epoch).
inline rgb_image train_transform(const rgb_image& img, int crop_side, std::uint64_t key, int n = 2, int magnitude = 10) {
  const rgb_image resized = resize_short_side(img, resize_side_for(crop_side));
  const auto offset = [&](std::uint64_t k, int room) { return static_cast<int>(detail::uniform_at(key, k) * (room + 1)); };
  rgb_image out = crop(resized, offset(0, resized.height - crop_side), offset(1, resized.width - crop_side), crop_side, crop_side);
  if (detail::uniform_at(key, 2) < 0.5) flip_horizontally(out);
  rand_augment(out, n, magnitude, detail::splitmix64(key ^ 0x52414e44ull));
  return out;
}

/// Bytes to the network's input: floats in [0, 1], CHW.
template <class T>
void image_to_input(const rgb_image& img, T* out) {
  std::transform(img.chw.begin(), img.chw.end(), out, [](std::uint8_t v) { return static_cast<T>(v) / T(255); });
}

}  // namespace coda

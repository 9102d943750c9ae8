// The explanation picture of coda-cifar10 explain: three panels of the side x side image, enlarged
// (nearest neighbour) by the whole factor that brings a small image closest to 256 pixels, on a
// white background:
//   input | signed contribution map (blue < 0 < red, white at 0, range symmetric about 0)
//         | the paper's view: input pixels weighted by their positive contribution.
// A 32x32 CIFAR-10 image is enlarged 8x: 800 x 272 pixels in all.
#pragma once

#include <cstdint>
#include <vector>

namespace cifar {

inline constexpr int panel_gap = 8;

/// The picture's size for images of side x side pixels.
struct picture_size {
  int scale, panel, width, height;
  explicit constexpr picture_size(int side)
      : scale(side >= 256 ? 1 : 256 / side),
        panel(side * scale),
        width(3 * panel + 4 * panel_gap),
        height(panel + 2 * panel_gap) {}
};

/// `image`: 3 x side x side in [0,1] (CHW); `map`: side x side contributions summed over the
/// encoded channels. Returns interleaved RGB bytes of picture_size(side).
std::vector<std::uint8_t> render_explanation(const float* image, const float* map, int side);

}  // namespace cifar

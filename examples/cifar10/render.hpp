// The explanation picture of coda-cifar10 explain: three panels of the 32x32 image enlarged 8x
// (nearest neighbour) on a white background, 800 x 272 pixels in all:
//   input | signed contribution map (blue < 0 < red, white at 0, range symmetric about 0)
//         | the paper's view: input pixels weighted by their positive contribution.
#pragma once

#include <cstdint>
#include <vector>

namespace cifar {

inline constexpr int panel_scale = 8, panel_side = 32 * panel_scale, panel_gap = 8;
inline constexpr int picture_width = 3 * panel_side + 4 * panel_gap, picture_height = panel_side + 2 * panel_gap;

/// `image`: 3x32x32 in [0,1] (CHW); `map`: 32x32 contributions summed over the 6 encoded
/// channels. Returns interleaved RGB bytes of picture_width x picture_height.
std::vector<std::uint8_t> render_explanation(const float* image, const float* map);

}  // namespace cifar

#include "render.hpp"

#include "diverging.hpp"

#include <algorithm>
#include <cmath>

namespace cifar {

using diverging::byte;
using rgb = diverging::rgb;

std::vector<std::uint8_t> render_explanation(const float* image, const float* map) {
  std::vector<std::uint8_t> out(static_cast<std::size_t>(picture_width) * picture_height * 3, 255);
  float largest = 0, largest_positive = 0;
  for (int i = 0; i < 32 * 32; ++i) {
    largest = std::max(largest, std::abs(map[i]));
    largest_positive = std::max(largest_positive, map[i]);
  }
  const auto panel = [&](int p, auto colour_of) {
    const int x0 = panel_gap + p * (panel_side + panel_gap);
    for (int y = 0; y < panel_side; ++y)
      for (int x = 0; x < panel_side; ++x) {
        const rgb c = colour_of(y / panel_scale * 32 + x / panel_scale);
        std::uint8_t* px = out.data() + (static_cast<std::size_t>(panel_gap + y) * picture_width + x0 + x) * 3;
        px[0] = c[0], px[1] = c[1], px[2] = c[2];
      }
  };
  const auto pixel = [&](int i, float weight) {
    return rgb{byte(image[i] * weight), byte(image[1024 + i] * weight), byte(image[2048 + i] * weight)};
  };
  panel(0, [&](int i) { return pixel(i, 1.f); });
  panel(1, [&](int i) { return diverging::colour(largest > 0 ? map[i] / largest : 0.f); });
  panel(2, [&](int i) { return pixel(i, largest_positive > 0 ? std::max(map[i], 0.f) / largest_positive : 0.f); });
  return out;
}

}  // namespace cifar

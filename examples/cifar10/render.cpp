#include "render.hpp"

#include "diverging.hpp"

#include <algorithm>
#include <cmath>

namespace cifar {

using diverging::byte;
using rgb = diverging::rgb;

std::vector<std::uint8_t> render_explanation(const float* image, const float* map, int side) {
  const picture_size size(side);
  const std::size_t plane = static_cast<std::size_t>(side) * side;
  std::vector<std::uint8_t> out(static_cast<std::size_t>(size.width) * size.height * 3, 255);
  float largest = 0, largest_positive = 0;
  for (std::size_t i = 0; i < plane; ++i) {
    largest = std::max(largest, std::abs(map[i]));
    largest_positive = std::max(largest_positive, map[i]);
  }
  const auto panel = [&](int p, auto colour_of) {
    const int x0 = panel_gap + p * (size.panel + panel_gap);
    for (int y = 0; y < size.panel; ++y)
      for (int x = 0; x < size.panel; ++x) {
        const rgb c = colour_of(static_cast<std::size_t>(y / size.scale) * side + x / size.scale);
        std::uint8_t* px = out.data() + (static_cast<std::size_t>(panel_gap + y) * size.width + x0 + x) * 3;
        px[0] = c[0], px[1] = c[1], px[2] = c[2];
      }
  };
  const auto pixel = [&](std::size_t i, float weight) {
    return rgb{byte(image[i] * weight), byte(image[plane + i] * weight), byte(image[2 * plane + i] * weight)};
  };
  panel(0, [&](std::size_t i) { return pixel(i, 1.f); });
  panel(1, [&](std::size_t i) { return diverging::colour(largest > 0 ? map[i] / largest : 0.f); });
  panel(2, [&](std::size_t i) { return pixel(i, largest_positive > 0 ? std::max(map[i], 0.f) / largest_positive : 0.f); });
  return out;
}

}  // namespace cifar

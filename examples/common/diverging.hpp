// The colours of signed contribution maps in the example programs (coda-cifar10 explain,
// coda-stream): blue < 0 < red, white at 0.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

namespace diverging {

using rgb = std::array<std::uint8_t, 3>;

/// [0, 1] to a byte, clamped.
inline std::uint8_t byte(float v) { return static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.f, 1.f) * 255.f)); }

/// t in [-1, 1] (clamped): blue at -1, white at 0, red at 1.
inline rgb colour(float t) {
  t = std::clamp(t, -1.f, 1.f);
  return t >= 0 ? rgb{255, byte(1 - t), byte(1 - t)} : rgb{byte(1 + t), byte(1 + t), 255};
}

}  // namespace diverging

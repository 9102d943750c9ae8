// A PNG written by the program, read back as RGB bytes (stb).
#pragma once

#include <stb/stb_image.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <string>
#include <vector>

namespace coda::test {

/// An RGB picture read back: width, height and the pixel at (x, y).
struct picture {
  int width = 0, height = 0;
  std::vector<unsigned char> rgb;

  explicit picture(const std::string& path) {
    int channels = 0;
    unsigned char* px = stbi_load(path.c_str(), &width, &height, &channels, 3);
    REQUIRE(px != nullptr);
    rgb.assign(px, px + std::size_t(width) * std::size_t(height) * 3);
    stbi_image_free(px);
  }
  std::vector<unsigned char> at(int x, int y) const {
    const std::size_t i = (std::size_t(y) * std::size_t(width) + std::size_t(x)) * 3;
    return {rgb[i], rgb[i + 1], rgb[i + 2]};
  }
};

}  // namespace coda::test

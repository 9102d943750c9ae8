// Image decoding and encoding through stb (Debian's libstb-dev: link `-lstb`, or compile the stb
// implementations into one translation unit). Images become 3-channel bytes in CHW order:
// greyscale is replicated and alpha dropped, as the CIFAR layout needs.
#pragma once

#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>
#include <stb/stb_image_write.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "coda/core/error.hpp"
#include "coda/detail/posix_file.hpp"
#include "coda/io/atomic_file.hpp"
#include "coda/io/image_checks.hpp"

namespace coda {

/// An 8-bit RGB image in CHW order.
struct rgb_image {
  int width = 0, height = 0;
  std::vector<std::uint8_t> chw;
};

/// Largest width or height decode_image() accepts: bounds the allocation a lying header can cause.
inline constexpr int max_image_side = 8192;

/// Decodes PNG, JPEG or BMP bytes; `origin` names the file in errors.
inline rgb_image decode_image(const std::vector<std::uint8_t>& bytes, const std::string& origin) {
  if (bytes.empty() || bytes.size() > (1u << 30)) CODA_THROW(format_error(origin + ": empty or oversized image file"));
  const auto format = detail::require_supported_format(bytes, origin);
  int w = 0, h = 0, c = 0;
  const auto size = static_cast<int>(bytes.size());
  if (!stbi_info_from_memory(bytes.data(), size, &w, &h, &c))
    CODA_THROW(format_error(origin + ": not a readable image (" + stbi_failure_reason() + ")"));
  if (w <= 0 || h <= 0 || w > max_image_side || h > max_image_side)
    CODA_THROW(format_error(origin + ": image of " + std::to_string(w) + "x" + std::to_string(h) + " pixels is out of range"));
  detail::check_declared_size(format, bytes, w, h, origin);
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(stbi_load_from_memory(bytes.data(), size, &w, &h, &c, 3), stbi_image_free);
  if (!pixels) CODA_THROW(format_error(origin + ": cannot decode image (" + stbi_failure_reason() + ")"));
  rgb_image img{w, h, std::vector<std::uint8_t>(static_cast<std::size_t>(3) * w * h)};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < 3; ++ch)
        img.chw[(static_cast<std::size_t>(ch) * h + y) * w + x] = pixels.get()[(static_cast<std::size_t>(y) * w + x) * 3 + ch];
  return img;
}

inline rgb_image load_image(const std::string& path) { return decode_image(detail::read_file_bytes(path), path); }

/// Resampled to width x height with stb's resizer (Mitchell/cubic filters, sRGB-unaware).
inline rgb_image resize_image(const rgb_image& img, int width, int height) {
  if (img.width == width && img.height == height) return img;
  rgb_image out{width, height, std::vector<std::uint8_t>(static_cast<std::size_t>(3) * width * height)};
  for (int ch = 0; ch < 3; ++ch)
    if (!stbir_resize_uint8(img.chw.data() + static_cast<std::size_t>(ch) * img.width * img.height, img.width, img.height, 0,
                            out.chw.data() + static_cast<std::size_t>(ch) * width * height, width, height, 0, 1))
      CODA_THROW(error("coda::resize_image: stb's resizer failed"));
  return out;
}

/// Writes interleaved RGB bytes (row-major, height x width x 3) as a PNG, atomically.
inline void write_png(const std::string& path, int width, int height, const std::vector<std::uint8_t>& rgb) {
  std::vector<std::uint8_t> encoded;
  const auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<std::uint8_t>*>(context);
    out->insert(out->end(), static_cast<std::uint8_t*>(data), static_cast<std::uint8_t*>(data) + size);
  };
  if (!stbi_write_png_to_func(append, &encoded, width, height, 3, rgb.data(), width * 3))
    CODA_THROW(io_error(path + ": PNG encoding failed"));
  write_file_atomically(path, encoded.data(), encoded.size());
}

}  // namespace coda

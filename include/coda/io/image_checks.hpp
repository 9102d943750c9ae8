// Checks of image bytes before stb decodes them. stb sizes its buffers from what a file declares
// (the image size in the header, a PNG chunk's length) before it finds out whether the data is
// there: a 109-byte PNG made it allocate 2 GB (found by fuzz_image). These checks refuse such
// lies from the bytes alone, allocating nothing, so that what decoding allocates is bounded by a
// constant times the file's size, and they limit decoding to the formats this library needs.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

#include "coda/core/error.hpp"

namespace coda::detail {

enum class image_format { png, jpeg, bmp, other };

inline image_format sniff_image_format(const std::vector<std::uint8_t>& b) {
  static constexpr std::uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (b.size() >= sizeof png_signature && std::equal(std::begin(png_signature), std::end(png_signature), b.begin())) return image_format::png;
  if (b.size() >= 3 && b[0] == 0xff && b[1] == 0xd8 && b[2] == 0xff) return image_format::jpeg;
  if (b.size() >= 2 && b[0] == 'B' && b[1] == 'M') return image_format::bmp;
  return image_format::other;
}

inline std::uint32_t read_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
}

/// The chunk type for messages; a corrupt one may hold any byte.
inline std::string png_chunk_name(const std::uint8_t* type) {
  std::string name;
  for (int i = 0; i < 4; ++i) name += (type[i] >= 0x20 && type[i] < 0x7f) ? static_cast<char>(type[i]) : '?';
  return name;
}

/// Bytes of the filtered scanlines of a w x h image (one filter byte per row), from IHDR's fields;
/// 0 for a colour type PNG does not define (stb then rejects the file itself).
inline std::uint64_t png_raw_bytes(std::uint32_t width, std::uint32_t height, int bit_depth, int colour_type) {
  const int channels = colour_type == 0 ? 1 : colour_type == 2 ? 3 : colour_type == 3 ? 1 : colour_type == 4 ? 2 : colour_type == 6 ? 4 : 0;
  const std::uint64_t row_bits = std::uint64_t{width} * static_cast<std::uint64_t>(channels * bit_depth);
  return std::uint64_t{height} * (1 + (row_bits + 7) / 8);
}

/// PNG: every chunk lies within the file, and the compressed data can hold the declared image.
inline void check_png_chunks(const std::vector<std::uint8_t>& bytes, const std::string& origin) {
  // Deflate's densest code turns 1 byte into at most 1032 (zlib's documented limit); the slack
  // covers the zlib header and Adam7's per-pass filter bytes, which a non-interlaced count omits.
  constexpr std::uint64_t max_deflate_ratio = 1032, slack = 1 << 16;
  std::uint64_t raw_bytes = 0, idat_bytes = 0;
  std::size_t pos = 8;
  while (pos < bytes.size()) {
    if (bytes.size() - pos < 12)
      CODA_THROW(format_error(origin + ": PNG file ends inside the chunk header at byte " + std::to_string(pos)));
    const std::uint32_t length = read_be32(&bytes[pos]);
    const std::uint8_t* type = &bytes[pos + 4];
    const auto is = [type](const char* name) { return std::memcmp(type, name, 4) == 0; };
    if (length > bytes.size() - pos - 12)
      CODA_THROW(format_error(origin + ": PNG chunk '" + png_chunk_name(type) + "' at byte " + std::to_string(pos) + " declares " +
                              std::to_string(length) + " data bytes, but the file has only " +
                              std::to_string(bytes.size() - pos - 12) + " after its header and checksum"));
    if (is("IHDR") && length >= 13)
      raw_bytes = png_raw_bytes(read_be32(type + 4), read_be32(type + 8), type[12], type[13]);
    if (is("IDAT")) idat_bytes += length;
    pos += 12 + std::size_t{length};
    if (is("IEND")) break;
  }
  if (raw_bytes > idat_bytes * max_deflate_ratio + slack)
    CODA_THROW(format_error(origin + ": PNG header declares " + std::to_string(raw_bytes) +
                            " bytes of image data, more than its " + std::to_string(idat_bytes) +
                            " compressed bytes can hold"));
}

/// The format of `bytes`; anything but PNG, JPEG and BMP is refused before stb parses it.
inline image_format require_supported_format(const std::vector<std::uint8_t>& bytes, const std::string& origin) {
  const image_format format = sniff_image_format(bytes);
  if (format == image_format::other)
    CODA_THROW(format_error(origin + ": not a readable image (only PNG, JPEG and BMP files are)"));
  return format;
}

/// Refuses a width x height (from stb's header parse) that the file is too small to encode.
inline void check_declared_size(image_format format, const std::vector<std::uint8_t>& bytes, int width, int height,
                                const std::string& origin) {
  const auto w = static_cast<std::uint64_t>(width), h = static_cast<std::uint64_t>(height), size = std::uint64_t{bytes.size()};
  // JPEG: each 8x8 block of the full-resolution component needs a DC code of at least one bit.
  // BMP: stb reads uncompressed BMPs only, the densest of which has one bit per pixel.
  const bool too_small = (format == image_format::jpeg && (w + 7) / 8 * ((h + 7) / 8) > 8 * size) ||
                         (format == image_format::bmp && w * h > 8 * size);
  if (too_small)
    CODA_THROW(format_error(origin + ": the header declares " + std::to_string(width) + "x" + std::to_string(height) +
                            " pixels, more than its " + std::to_string(size) + " bytes can encode"));
  if (format == image_format::png) check_png_chunks(bytes, origin);
}

}  // namespace coda::detail

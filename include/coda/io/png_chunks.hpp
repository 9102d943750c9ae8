// A structural check of PNG files before stb decodes them. stb trusts a chunk's declared length
// and grows its IDAT buffer to it before reading the bytes, so a 100-byte file can make it
// allocate gigabytes (found by fuzz_image); it also allocates the whole decoded image up front
// from the IHDR size. This check refuses both lies from the bytes alone, allocating nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "coda/core/error.hpp"

namespace coda::detail {

inline bool has_png_signature(const std::vector<std::uint8_t>& bytes) {
  static constexpr std::uint8_t signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (bytes.size() < sizeof signature) return false;
  for (std::size_t i = 0; i < sizeof signature; ++i)
    if (bytes[i] != signature[i]) return false;
  return true;
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

/// Throws format_error (naming `origin`) when a PNG file's chunks overrun the file, or when its
/// compressed data is too short to hold the image its header declares. Non-PNG bytes pass.
inline void check_png_chunks(const std::vector<std::uint8_t>& bytes, const std::string& origin) {
  if (!has_png_signature(bytes)) return;
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
    const std::string name = png_chunk_name(type);
    if (length > bytes.size() - pos - 12)
      CODA_THROW(format_error(origin + ": PNG chunk '" + name + "' at byte " + std::to_string(pos) + " declares " +
                              std::to_string(length) + " data bytes, but the file has only " +
                              std::to_string(bytes.size() - pos - 12) + " after its header and checksum"));
    if (name == "IHDR" && length >= 13)
      raw_bytes = png_raw_bytes(read_be32(type + 4), read_be32(type + 8), type[12], type[13]);
    if (name == "IDAT") idat_bytes += length;
    pos += 12 + std::size_t{length};
    if (name == "IEND") break;
  }
  if (raw_bytes > idat_bytes * max_deflate_ratio + slack)
    CODA_THROW(format_error(origin + ": PNG header declares " + std::to_string(raw_bytes) +
                            " bytes of image data, more than its " + std::to_string(idat_bytes) +
                            " compressed bytes can hold"));
}

}  // namespace coda::detail

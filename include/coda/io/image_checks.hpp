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
#include <utility>
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

/// End of a JPEG scan's entropy-coded data that starts at `pos`: the first marker that is neither
/// byte stuffing (FF 00) nor a restart (FF D0-D7), fill bytes (FF FF ...) skipped, as stb reads it.
inline std::size_t end_of_jpeg_scan(const std::vector<std::uint8_t>& bytes, std::size_t pos) {
  while (pos < bytes.size()) {
    if (bytes[pos] != 0xff) {
      ++pos;
      continue;
    }
    std::size_t next = pos + 1;
    while (next < bytes.size() && bytes[next] == 0xff) ++next;
    if (next < bytes.size() && bytes[next] != 0x00 && (bytes[next] < 0xd0 || bytes[next] > 0xd7)) return pos;
    pos = next + 1;
  }
  return pos;
}

/// JPEG tables that Debian's stb 2.27 trusts (both found by fuzz_image; stb 2.28 refuses the first):
/// a Huffman table declaring more than the 256 codes its arrays hold is written past them, and a
/// scan that uses a Huffman or quantisation table the file never defined decodes with whatever
/// memory stb's unzeroed allocation held. The walk reads the segments as stb does (their lengths,
/// stray bytes between them, a scan's data up to the next marker, bytes past the end as 0), so
/// each table stb builds and each scan it decodes is checked; where stb would stop with an error
/// of its own, the walk stops too and leaves the error to stb.
class jpeg_table_check {
 public:
  jpeg_table_check(const std::vector<std::uint8_t>& bytes, const std::string& origin) : bytes_(bytes), origin_(origin) {}

  void run() {
    std::size_t pos = 2;  // after SOI
    while (pos < bytes_.size()) {
      if (bytes_[pos] != 0xff) {
        ++pos;
        continue;
      }
      while (pos < bytes_.size() && bytes_[pos] == 0xff) ++pos;
      const std::size_t marker = at(pos++);
      if (marker == 0xd9) return;                                                            // EOI
      if (marker == 0x00 || marker == 0x01 || (marker >= 0xd0 && marker <= 0xd8)) continue;  // no length field
      const std::size_t length = at(pos) << 8 | at(pos + 1);
      if (!segment(marker, pos + 2, static_cast<long>(length) - 2)) return;
      pos += length;
      if (marker == 0xda) pos = end_of_jpeg_scan(bytes_, pos);
    }
  }

 private:
  /// False where stb stops reading the file.
  bool segment(std::size_t marker, std::size_t start, long length) {
    switch (marker) {
      case 0xc4: return huffman_tables(start, length);
      case 0xdb: return quantisation_tables(start, length);
      case 0xc0: case 0xc1: case 0xc2: return frame(start, marker == 0xc2);
      case 0xda: return scan(start);
      default: return true;
    }
  }

  bool huffman_tables(std::size_t table, long left) {
    while (left > 0) {
      const std::size_t kind = at(table) >> 4, id = at(table) & 15;
      if (kind > 1 || id > 3) return false;
      std::size_t codes = 0;
      for (std::size_t i = 1; i <= 16; ++i) codes += at(table + i);
      if (codes > 256)
        CODA_THROW(format_error(origin_ + ": JPEG Huffman table at byte " + std::to_string(table) + " declares " +
                                std::to_string(codes) + " codes, more than the 256 a table can hold"));
      (kind == 0 ? dc_ : ac_)[id] = true;
      table += 17 + codes;
      left -= static_cast<long>(17 + codes);
    }
    return left == 0;
  }

  bool quantisation_tables(std::size_t table, long left) {
    while (left > 0) {
      const std::size_t precision = at(table) >> 4, id = at(table) & 15;
      if (precision > 1 || id > 3) return false;
      quantisation_[id] = true;
      const std::size_t size = precision == 0 ? 65 : 129;
      table += size;
      left -= static_cast<long>(size);
    }
    return left == 0;
  }

  bool frame(std::size_t start, bool progressive) {
    const std::size_t count = at(start + 5);
    if (count != 1 && count != 3 && count != 4) return false;
    for (std::size_t c = 0; c < count; ++c) components_.push_back({at(start + 6 + 3 * c), at(start + 8 + 3 * c)});
    progressive_ = progressive;
    return true;
  }

  /// A scan decodes each of its components with a DC table (baseline, or a progressive scan of
  /// first DC bits), an AC table (baseline, or a progressive AC scan) and its quantisation table.
  bool scan(std::size_t start) {
    if (components_.empty()) return false;  // stb reads no scan before the frame header
    const std::size_t count = at(start), selection = start + 1 + 2 * count;
    const std::size_t first = at(selection), high = at(selection + 2) >> 4;
    const bool uses_dc = !progressive_ || (first == 0 && high == 0), uses_ac = !progressive_ || first > 0;
    for (std::size_t c = 0; c < count; ++c) {
      const std::size_t id = at(start + 1 + 2 * c), dc = at(start + 2 + 2 * c) >> 4, ac = at(start + 2 + 2 * c) & 15;
      const auto component = std::find_if(components_.begin(), components_.end(), [id](const auto& k) { return k.first == id; });
      if (component == components_.end() || dc > 3 || ac > 3 || component->second > 3) return false;
      if ((uses_dc && !dc_[dc]) || (uses_ac && !ac_[ac]))
        undefined(start, "Huffman table " + std::string(uses_dc && !dc_[dc] ? "DC " + std::to_string(dc) : "AC " + std::to_string(ac)));
      if (!quantisation_[component->second]) undefined(start, "quantisation table " + std::to_string(component->second));
    }
    return true;
  }

  [[noreturn]] void undefined(std::size_t scan_start, const std::string& table) const {
    CODA_THROW(format_error(origin_ + ": the JPEG scan at byte " + std::to_string(scan_start - 4) + " uses " + table +
                            ", which the file does not define before it"));
  }

  std::size_t at(std::size_t i) const { return i < bytes_.size() ? bytes_[i] : 0; }  // stb reads 0 past the end

  const std::vector<std::uint8_t>& bytes_;
  const std::string& origin_;
  bool dc_[4] = {}, ac_[4] = {}, quantisation_[4] = {}, progressive_ = false;
  std::vector<std::pair<std::size_t, std::size_t>> components_;  // id, quantisation table
};

/// The format of `bytes`; anything but PNG, JPEG and BMP is refused before stb parses it, and so
/// is a JPEG whose tables stb cannot hold or whose scans use tables it does not define.
inline image_format require_supported_format(const std::vector<std::uint8_t>& bytes, const std::string& origin) {
  const image_format format = sniff_image_format(bytes);
  if (format == image_format::other)
    CODA_THROW(format_error(origin + ": not a readable image (only PNG, JPEG and BMP files are)"));
  if (format == image_format::jpeg) jpeg_table_check(bytes, origin).run();  // before stbi_info, which builds the tables
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

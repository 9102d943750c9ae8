// Image decoding: the checks decode_image() runs before stb decodes the bytes, so that a lying
// header or chunk length is an error instead of a huge allocation, and formats other than PNG,
// JPEG and BMP are refused.
#include <stb/stb_image_write.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <iterator>
#include <cstdint>
#include <string>
#include <vector>

#include "coda/io/image.hpp"
#include "support/fixtures.hpp"

namespace test_image_decode {

using namespace coda;

namespace {

using bytes = std::vector<std::uint8_t>;

void append_be32(bytes& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

/// A chunk with a zero CRC: check_png_chunks never reads it, and stb fails later on it if at all.
void append_chunk(bytes& out, const std::string& type, const bytes& data, std::uint32_t declared_length) {
  append_be32(out, declared_length);
  out.insert(out.end(), type.begin(), type.end());
  out.insert(out.end(), data.begin(), data.end());
  append_be32(out, 0);
}

bytes png_start(std::uint32_t width, std::uint32_t height, std::uint8_t colour_type) {
  bytes out = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  bytes ihdr;
  append_be32(ihdr, width);
  append_be32(ihdr, height);
  ihdr.insert(ihdr.end(), {8, colour_type, 0, 0, 0});
  append_chunk(out, "IHDR", ihdr, 13);
  return out;
}

void append_to(void* context, void* data, int size) {
  auto* out = static_cast<bytes*>(context);
  out->insert(out->end(), static_cast<std::uint8_t*>(data), static_cast<std::uint8_t*>(data) + size);
}

bytes encode_png(int w, int h, const bytes& rgb) {
  bytes out;
  REQUIRE(stbi_write_png_to_func(append_to, &out, w, h, 3, rgb.data(), w * 3) != 0);
  return out;
}

bytes small_rgb() {
  bytes rgb(8 * 8 * 3);
  for (std::size_t k = 0; k < rgb.size(); ++k) rgb[k] = static_cast<std::uint8_t>(k * 5);
  return rgb;
}

}  // namespace

TEST_CASE("decode_image: a PNG chunk longer than the rest of the file is refused before decoding", "[image][errors]") {
  bytes png = png_start(4, 4, 6);
  append_chunk(png, "IDAT", bytes(33, 0x78), 33);
  append_chunk(png, "IDAT", bytes(10, 0), 1224736801u);  // fuzz_image's find: stb grew a buffer to 2 GB
  CHECK_THROWS_AS(decode_image(png, "lying.png"), format_error);
  CHECK_THROWS_WITH(decode_image(png, "lying.png"),
                    Catch::Contains("lying.png: PNG chunk 'IDAT' at byte 78 declares 1224736801 data bytes, but the file has only 10"));
}

TEST_CASE("decode_image: a PNG cut inside a chunk header is refused", "[image][errors]") {
  bytes png = png_start(4, 4, 2);
  png.insert(png.end(), {0, 0, 0, 5, 'I', 'D'});
  CHECK_THROWS_WITH(decode_image(png, "cut.png"), Catch::Contains("cut.png: PNG file ends inside the chunk header at byte 33"));
}

TEST_CASE("decode_image: a PNG header larger than its compressed data can hold is refused", "[image][errors]") {
  bytes png = png_start(8000, 8000, 2);
  append_chunk(png, "IDAT", bytes(20, 0), 20);
  append_chunk(png, "IEND", {}, 0);
  // 8000 rows of 1 filter byte + 24000 pixel bytes, against 20 bytes at deflate's 1:1032.
  CHECK_THROWS_WITH(decode_image(png, "thin.png"),
                    Catch::Contains("thin.png: PNG header declares 192008000 bytes of image data, more than its 20 compressed bytes can hold"));
}

TEST_CASE("decode_image: a flat PNG compressed close to deflate's limit still decodes", "[image]") {
  // One colour compresses best of all: the ratio check must leave such real files alone.
  const int w = 1500, h = 1000;
  const bytes rgb(static_cast<std::size_t>(w) * h * 3, 200);
  const bytes png = encode_png(w, h, rgb);
  INFO("compressed to " << png.size() << " bytes");
  const rgb_image img = decode_image(png, "flat.png");
  CHECK(img.width == w);
  CHECK(img.height == h);
  CHECK(img.chw == rgb);
}

TEST_CASE("decode_image: bytes after IEND are ignored, as stb ignores them", "[image]") {
  bytes rgb(2 * 3 * 3);
  for (std::size_t k = 0; k < rgb.size(); ++k) rgb[k] = static_cast<std::uint8_t>(k * 13);
  bytes png = encode_png(3, 2, rgb);
  png.insert(png.end(), {1, 2, 3});
  const rgb_image img = decode_image(png, "trailing.png");
  CHECK(img.chw == bytes({0, 39, 78, 117, 156, 195, 13, 52, 91, 130, 169, 208, 26, 65, 104, 143, 182, 221}));
}

TEST_CASE("decode_image: a JPEG header declaring more blocks than the file has bits is refused", "[image][errors]") {
  bytes jpg;
  REQUIRE(stbi_write_jpg_to_func(append_to, &jpg, 8, 8, 3, small_rgb().data(), 90) != 0);
  REQUIRE(decode_image(jpg, "small.jpg").width == 8);
  // The baseline frame header (FF C0): length, precision, then height and width, big-endian.
  const std::uint8_t marker[] = {0xff, 0xc0};
  const auto sof = std::search(jpg.begin(), jpg.end(), std::begin(marker), std::end(marker));
  REQUIRE(sof != jpg.end());
  const auto at = sof - jpg.begin() + 5;
  for (auto field : {at, at + 2}) {
    jpg[static_cast<std::size_t>(field)] = 8000 >> 8;
    jpg[static_cast<std::size_t>(field) + 1] = 8000 & 255;
  }
  CHECK_THROWS_WITH(decode_image(jpg, "wide.jpg"),
                    Catch::Contains("wide.jpg: the header declares 8000x8000 pixels, more than its " + std::to_string(jpg.size()) +
                                    " bytes can encode"));
}

TEST_CASE("decode_image: a BMP header declaring more pixels than the file holds is refused", "[image][errors]") {
  bytes bmp;
  REQUIRE(stbi_write_bmp_to_func(append_to, &bmp, 8, 8, 3, small_rgb().data()) != 0);
  const rgb_image small = decode_image(bmp, "small.bmp");
  CHECK(small.width == 8);
  // BITMAPINFOHEADER: width and height as little-endian int32 at bytes 18 and 22.
  for (std::size_t at : {std::size_t{18}, std::size_t{22}}) {
    bmp[at] = 0x00;
    bmp[at + 1] = 0x10;  // 4096
  }
  CHECK_THROWS_WITH(decode_image(bmp, "big.bmp"), Catch::Contains("big.bmp: the header declares 4096x4096 pixels, more than its"));
}

TEST_CASE("decode_image: formats other than PNG, JPEG and BMP are refused before decoding", "[image][errors]") {
  // A valid 1x1 GIF, which stb itself would decode.
  const bytes gif = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff,
                     ',', 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, ';'};
  CHECK_THROWS_WITH(decode_image(gif, "dot.gif"), Catch::Contains("dot.gif: not a readable image (only PNG, JPEG and BMP files are)"));
}

namespace {

bytes small_jpeg() {
  bytes jpg;
  REQUIRE(stbi_write_jpg_to_func(append_to, &jpg, 8, 8, 3, small_rgb().data(), 90) != 0);
  return jpg;
}

/// Offset of the first `FF C4` (define Huffman table) marker.
std::size_t first_dht(const bytes& jpg) {
  const std::uint8_t marker[] = {0xff, 0xc4};
  const auto it = std::search(jpg.begin(), jpg.end(), std::begin(marker), std::end(marker));
  REQUIRE(it != jpg.end());
  return static_cast<std::size_t>(it - jpg.begin());
}

}  // namespace

TEST_CASE("decode_image: a JPEG Huffman table declaring more than 256 codes is refused before stb builds it", "[image][errors]") {
  bytes jpg = small_jpeg();
  REQUIRE(decode_image(jpg, "small.jpg").width == 8);
  // DHT: marker, 2-byte length, class/id byte, then 16 code counts. Raising the last count puts
  // the sum over 256, which Debian's stb 2.27 would write past its 256-entry arrays.
  const std::size_t counts = first_dht(jpg) + 5;
  jpg[counts + 15] = 255;
  CHECK_THROWS_WITH(decode_image(jpg, "tables.jpg"),
                    Catch::Contains("tables.jpg: JPEG Huffman table at byte " + std::to_string(counts - 1) + " declares") &&
                        Catch::Contains("more than the 256 a table can hold"));
}

TEST_CASE("decode_image: FF C4 inside a JPEG comment is not taken for a Huffman table", "[image]") {
  bytes jpg = small_jpeg();
  const rgb_image plain = decode_image(jpg, "small.jpg");
  // A COM segment (FF FE, length 20) right after SOI whose payload reads like a table of 16 x 255 codes.
  bytes comment = {0xff, 0xfe, 0, 20, 0xff, 0xc4, 0, 40, 0x10};
  comment.resize(22, 255);
  jpg.insert(jpg.begin() + 2, comment.begin(), comment.end());
  CHECK(decode_image(jpg, "commented.jpg").chw == plain.chw);
}

TEST_CASE("decode_image: a JPEG scan using a Huffman table the file never defines is refused", "[image][errors]") {
  bytes jpg = small_jpeg();
  // stb writes the luminance DC and AC tables, then the chrominance ones (class/id bytes 00, 10,
  // 01, 11). Turning the last into a second DC table 1 leaves AC table 1, which the chrominance
  // components' scan uses, undefined: stb would decode it from uninitialised memory.
  const std::size_t dht = first_dht(jpg);
  std::size_t at = dht + 4;
  for (int table = 0; table < 3; ++table) {
    std::size_t codes = 0;
    for (std::size_t i = 1; i <= 16; ++i) codes += jpg[at + i];
    at += 17 + codes;
  }
  REQUIRE(jpg[at] == 0x11);
  jpg[at] = 0x01;
  CHECK_THROWS_WITH(decode_image(jpg, "tables.jpg"), Catch::Contains("tables.jpg: the JPEG scan at byte") &&
                                                          Catch::Contains("uses Huffman table AC 1, which the file does not define before it"));
}

namespace {

/// The 24x16 picture tests/fixtures/jpeg/ encodes, in CHW order.
rgb_image gradient() {
  rgb_image img{24, 16, bytes(3 * 24 * 16)};
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 24; ++x) {
      const int channel[3] = {x * 10 % 256, y * 15 % 256, (x + y) * 7 % 256};
      for (int c = 0; c < 3; ++c) img.chw[static_cast<std::size_t>((c * 16 + y) * 24 + x)] = static_cast<std::uint8_t>(channel[c]);
    }
  return img;
}

}  // namespace

TEST_CASE("decode_image: progressive JPEGs and JPEGs with restart markers pass the table checks", "[image]") {
  const rgb_image expect = gradient();
  for (const char* name : {"jpeg/progressive.jpg", "jpeg/restart.jpg"}) {
    INFO(name);
    const rgb_image img = load_image(test::fixture_path(name));
    REQUIRE(img.width == 24);
    REQUIRE(img.height == 16);
    // Quality 90 keeps each pixel of this smooth picture close; chroma subsampling costs the most.
    double error = 0;
    for (std::size_t k = 0; k < img.chw.size(); ++k) error += std::abs(int(img.chw[k]) - int(expect.chw[k]));
    CHECK(error / double(img.chw.size()) < 8);
  }
}

}  // namespace test_image_decode

// RandAugment with the authors' convention (ildoonet/pytorch-randaugment on PIL): each operation
// on tiny images against a computation written here from PIL's definition, the values of the
// magnitudes, the direction of rotations, the draws, and odd image sizes. Numbers marked "PIL"
// were worked out with Python's own arithmetic (Python floats, float32 via struct) following
// Pillow's code, where PIL rounds differently from the plain formula.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "coda/data/rand_augment.hpp"
#include "coda/detail/random.hpp"

namespace test_rand_augment {

using namespace coda;
using op = rand_augment_op;

namespace {

template <class F>
rgb_image make_image(int w, int h, F value) {
  rgb_image img{w, h, std::vector<std::uint8_t>(static_cast<std::size_t>(3 * w * h))};
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        img.chw[static_cast<std::size_t>((c * h + y) * w + x)] = static_cast<std::uint8_t>(value(c, x, y));
  return img;
}

int at(const rgb_image& img, int c, int x, int y) {
  return img.chw[static_cast<std::size_t>((c * img.height + y) * img.width + x)];
}

/// Bytes that differ between channels and pixels, none of them 0 (black reads as "outside").
rgb_image varied(int w, int h) {
  return make_image(w, h, [&](int c, int x, int y) { return 1 + (c * 83 + (y * w + x) * 29) % 254; });
}

rgb_image applied(rgb_image img, op o, double value, std::uint64_t key = 0) {
  apply_rand_augment_op(img, o, value, key);
  return img;
}

/// A key whose first draw flips the sign of a geometric operation (> 0.5), or keeps it.
std::uint64_t key_flipping(bool flip) {
  std::uint64_t key = 0;
  while ((detail::uniform_at(key, 0) > 0.5) != flip) ++key;
  return key;
}

/// The image whose pixel (x, y) is input pixel source(x, y), or black where source gives x < 0.
template <class F>
rgb_image resampled(const rgb_image& in, F source) {
  return make_image(in.width, in.height, [&](int c, int x, int y) {
    const std::pair<int, int> s = source(x, y);
    const bool inside = s.first >= 0 && s.first < in.width && s.second >= 0 && s.second < in.height;
    return inside ? at(in, c, s.first, s.second) : 0;
  });
}

int floor_int(double v) { return static_cast<int>(std::floor(v)); }

/// Blend with factor 1.5 or 0.5 (exact in float32): d + f (v - d) clipped and truncated, as
/// twice the value in integers.
int blend_half_steps(int d, int v, int twice_factor) {
  const int twice = 2 * d + twice_factor * (v - d);
  return twice <= 0 ? 0 : twice >= 510 ? 255 : twice / 2;
}

int luma(int r, int g, int b) { return (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16; }

}  // namespace

TEST_CASE("rand_augment_value: the authors' ranges, evaluated as their Python does", "[augment][rand_augment]") {
  // Python: (float(m) / 30) * float(max - min) + min, with these results at m = 10.
  CHECK(rand_augment_value(op::auto_contrast, 10) == 0.3333333333333333);
  CHECK(rand_augment_value(op::rotate, 10) == 10.0);
  CHECK(rand_augment_value(op::posterize, 10) == 1.3333333333333333);  // int(): 1 bit
  CHECK(rand_augment_value(op::solarize, 10) == 85.33333333333333);
  CHECK(rand_augment_value(op::solarize_add, 10) == 36.666666666666664);
  for (op o : {op::color, op::contrast, op::brightness, op::sharpness}) CHECK(rand_augment_value(o, 10) == 0.6999999999999998);
  CHECK(rand_augment_value(op::shear_x, 10) == 0.09999999999999999);
  CHECK(rand_augment_value(op::shear_y, 10) == 0.09999999999999999);
  CHECK(rand_augment_value(op::cutout, 10) == 13.333333333333332);
  CHECK(rand_augment_value(op::translate_x, 10) == 33.33333333333333);
  CHECK(rand_augment_value(op::translate_y, 10) == 33.33333333333333);
  // The ends of the ranges.
  CHECK(rand_augment_value(op::solarize, 30) == 256.0);
  CHECK(rand_augment_value(op::sharpness, 0) == 0.1);
  CHECK(rand_augment_value(op::color, 30) == 1.9);
  CHECK(rand_augment_value(op::cutout, 30) == 40.0);
  CHECK(rand_augment_value(op::translate_y, 0) == 0.0);
  CHECK_THROWS_AS(rand_augment_value(op::rotate, -1), argument_error);
  CHECK_THROWS_AS(rand_augment_value(op::rotate, 31), argument_error);
}

TEST_CASE("RandAugment auto_contrast stretches each channel to [0, 255] as PIL does", "[augment][rand_augment]") {
  // Red spans 26..33 (255 / 7 is inexact), green 10..61 (scale 5), blue is flat.
  const rgb_image img = make_image(4, 2, [](int c, int x, int y) {
    const int i = y * 4 + x;
    return c == 0 ? 26 + i : c == 1 ? 10 + (i * 51) / 7 : 77;
  });
  const rgb_image out = applied(img, op::auto_contrast, 0.5);
  // PIL: int(i * s - 26 * s) with s = 255.0 / 7; the top value lands on 254.9999999999999.
  const int red[8] = {0, 36, 72, 109, 145, 182, 218, 254};
  for (int i = 0; i < 8; ++i) {
    CHECK(at(out, 0, i % 4, i / 4) == red[i]);
    CHECK(at(out, 1, i % 4, i / 4) == (at(img, 1, i % 4, i / 4) - 10) * 5);
    CHECK(at(out, 2, i % 4, i / 4) == 77);
  }
}

TEST_CASE("RandAugment equalize follows PIL's equalize", "[augment][rand_augment]") {
  // PIL's equalize needs 255 pixels besides those of the top value before it changes anything.
  const rgb_image img = make_image(32, 16, [](int c, int x, int y) {
    return c == 0 ? ((x * 7 + y * 13) % 64) * 2 : c == 1 ? x * 8 : 200;
  });
  const rgb_image out = applied(img, op::equalize, 0.5);
  for (int c = 0; c < 3; ++c) {
    std::vector<long> h(256, 0);
    for (int y = 0; y < 16; ++y)
      for (int x = 0; x < 32; ++x) ++h[static_cast<std::size_t>(at(img, c, x, y))];
    long total = 0, last = 0;
    for (int i = 0; i < 256; ++i) {
      total += h[static_cast<std::size_t>(i)];
      if (h[static_cast<std::size_t>(i)] != 0) last = h[static_cast<std::size_t>(i)];
    }
    const long step = (total - last) / 255;
    std::vector<int> lut(256);
    for (long i = 0, n = step / 2; i < 256; n += h[static_cast<std::size_t>(i)], ++i)
      lut[static_cast<std::size_t>(i)] = step == 0 ? static_cast<int>(i) : static_cast<int>(std::min(255L, n / step));
    if (c < 2) CHECK(step > 0);
    for (int y = 0; y < 16; ++y)
      for (int x = 0; x < 32; ++x) CHECK(at(out, c, x, y) == lut[static_cast<std::size_t>(at(img, c, x, y))]);
  }
  CHECK(at(out, 1, 31, 0) == 255);  // the top value of green
  // Fewer than 256 pixels: step is 0 and the image is unchanged.
  const rgb_image small = varied(7, 5);
  CHECK(applied(small, op::equalize, 0.5).chw == small.chw);
}

TEST_CASE("RandAugment invert, posterize, solarize and solarize_add are PIL's lookup tables", "[augment][rand_augment]") {
  const rgb_image img = make_image(4, 3, [](int c, int x, int y) { return (c * 97 + (y * 4 + x) * 23) % 256; });
  const rgb_image thresholds = make_image(4, 1, [](int c, int x, int) { return 84 + x + 0 * c; });  // 84..87
  for (std::size_t i = 0; i < img.chw.size(); ++i) {
    const int v = img.chw[i];
    CHECK(applied(img, op::invert, 0.5).chw[i] == 255 - v);
    CHECK(applied(img, op::posterize, rand_augment_value(op::posterize, 10)).chw[i] == (v & 0x80));  // 1 bit
    CHECK(applied(img, op::posterize, 2.7).chw[i] == (v & 0xc0));
    CHECK(applied(img, op::posterize, 0.5).chw[i] == (v & 0x80));  // the authors' max(1, int(v)): 1 bit
    CHECK(applied(img, op::posterize, 8).chw[i] == v);
    CHECK(applied(img, op::solarize, 0).chw[i] == 255 - v);
    CHECK(applied(img, op::solarize, 256).chw[i] == v);
    const int added = std::min(255, static_cast<int>(v + 36.666666666666664));
    CHECK(applied(img, op::solarize_add, rand_augment_value(op::solarize_add, 10)).chw[i] == (added < 128 ? added : 255 - added));
  }
  // Threshold 85.33 at m = 10: 84 and 85 kept, 86 and 87 inverted.
  const rgb_image solarized = applied(thresholds, op::solarize, rand_augment_value(op::solarize, 10));
  CHECK(std::vector<int>{at(solarized, 0, 0, 0), at(solarized, 0, 1, 0), at(solarized, 0, 2, 0), at(solarized, 0, 3, 0)} ==
        std::vector<int>{84, 85, 169, 168});
  // SolarizeAdd truncates after adding: 91 + 36.67 is 127 (kept), 92 + 36.67 is 128 (inverted).
  const rgb_image added = applied(make_image(3, 1, [](int, int x, int) { return x == 0 ? 91 : x == 1 ? 92 : 250; }),
                                  op::solarize_add, rand_augment_value(op::solarize_add, 10));
  CHECK(std::vector<int>{at(added, 0, 0, 0), at(added, 0, 1, 0), at(added, 0, 2, 0)} == std::vector<int>{127, 127, 0});
}

TEST_CASE("RandAugment color, contrast and brightness blend in float32 and truncate like PIL", "[augment][rand_augment]") {
  const rgb_image img = make_image(4, 3, [](int c, int x, int y) { return (c * 71 + (y * 4 + x) * 37 + 5) % 256; });
  SECTION("color: towards or away from the greyscale image") {
    for (int twice : {1, 3}) {
      const rgb_image out = applied(img, op::color, twice / 2.0);
      for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 4; ++x) {
          const int grey = luma(at(img, 0, x, y), at(img, 1, x, y), at(img, 2, x, y));
          for (int c = 0; c < 3; ++c) CHECK(at(out, c, x, y) == blend_half_steps(grey, at(img, c, x, y), twice));
        }
    }
    // Factor 0 is the degenerate itself; PIL >= 7 rounds the luma: (177, 175, 175) is 176.
    const rgb_image grey = applied(make_image(1, 1, [](int c, int, int) { return c == 0 ? 177 : 175; }), op::color, 0);
    CHECK(grey.chw == std::vector<std::uint8_t>{176, 176, 176});
  }
  SECTION("contrast: around the rounded mean of the greyscale image") {
    int sum = 0;
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x) sum += luma(at(img, 0, x, y), at(img, 1, x, y), at(img, 2, x, y));
    const int mean = (2 * sum + 12) / 24;  // int(sum / 12 + 0.5)
    const rgb_image out = applied(img, op::contrast, 1.5);
    for (std::size_t i = 0; i < img.chw.size(); ++i) CHECK(out.chw[i] == blend_half_steps(mean, img.chw[i], 3));
    // Greys 100 and 101: the mean 100.5 rounds up.
    const rgb_image two = make_image(2, 1, [](int, int x, int) { return 100 + x; });
    CHECK(applied(two, op::contrast, 0).chw == std::vector<std::uint8_t>(6, 101));
    // Greys 5 and 15 around 10, factor 1.6: PIL rounds float(1.6) * -5 to -8 before adding 10,
    // giving 2 (1 if the product and the sum were fused, or computed in double).
    const rgb_image spread = applied(make_image(2, 1, [](int, int x, int) { return 5 + 10 * x; }), op::contrast, 1.6);
    CHECK(at(spread, 0, 0, 0) == 2);
    CHECK(at(spread, 0, 1, 0) == 18);
  }
  SECTION("brightness: towards black, truncated") {
    const rgb_image out = applied(img, op::brightness, 1.5);
    for (std::size_t i = 0; i < img.chw.size(); ++i) CHECK(out.chw[i] == std::min(255, img.chw[i] * 3 / 2));
    CHECK(applied(make_image(1, 1, [](int, int, int) { return 103; }), op::brightness, 0.5).chw[0] == 51);  // 51.5
    // m = 10: float(0.6999999999999998) * 10 is 7 in float32 (6.99... in double).
    const int level[5] = {10, 20, 100, 250, 255};
    const rgb_image levels = make_image(5, 1, [&](int, int x, int) { return level[x]; });
    const rgb_image dim = applied(levels, op::brightness, rand_augment_value(op::brightness, 10));
    CHECK(std::vector<int>{at(dim, 0, 0, 0), at(dim, 0, 1, 0), at(dim, 0, 2, 0), at(dim, 0, 3, 0), at(dim, 0, 4, 0)} ==
          std::vector<int>{7, 14, 70, 175, 178});
  }
}

TEST_CASE("RandAugment sharpness blends with PIL's smoothed image, borders kept", "[augment][rand_augment]") {
  const rgb_image img =
      make_image(5, 5, [](int c, int x, int y) { return (c * 50 + x * x * 31 + y * 57 + (x * y) % 3 * 40) % 256; });
  const auto smooth = [&](int c, int x, int y) {
    if (x == 0 || y == 0 || x == 4 || y == 4) return at(img, c, x, y);
    int s = 4 * at(img, c, x, y);
    for (int dy = -1; dy <= 1; ++dy)
      for (int dx = -1; dx <= 1; ++dx) s += at(img, c, x + dx, y + dy);
    return (2 * s + 13) / 26;  // round(s / 13): never a tie
  };
  for (int twice : {1, 3}) {
    const rgb_image out = applied(img, op::sharpness, twice / 2.0);
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 5; ++y)
        for (int x = 0; x < 5; ++x) CHECK(at(out, c, x, y) == blend_half_steps(smooth(c, x, y), at(img, c, x, y), twice));
  }
  CHECK(applied(img, op::sharpness, 1.0).chw == img.chw);
  // No interior pixel: nothing to smooth, whatever the factor.
  const rgb_image thin = varied(2, 5);
  CHECK(applied(thin, op::sharpness, 1.9).chw == thin.chw);
}

TEST_CASE("RandAugment rotate turns counter-clockwise about the centre, as PIL's rotate", "[augment][rand_augment]") {
  const std::uint64_t keep = key_flipping(false), flip = key_flipping(true);
  SECTION("quarter turns of a square image are transpositions") {
    const rgb_image img = varied(4, 4);
    // +90: the top-right corner comes to the top-left, i.e. out(x, y) = in(w - 1 - y, x).
    CHECK(applied(img, op::rotate, 90, keep).chw == resampled(img, [](int x, int y) { return std::pair{3 - y, x}; }).chw);
    CHECK(applied(img, op::rotate, 90, flip).chw == resampled(img, [](int x, int y) { return std::pair{y, 3 - x}; }).chw);
    CHECK(applied(img, op::rotate, 180, keep).chw == resampled(img, [](int x, int y) { return std::pair{3 - x, 3 - y}; }).chw);
    CHECK(applied(img, op::rotate, 360, keep).chw == img.chw);
    // A lone mark at the top right of a 3x3 image ends at the top left.
    rgb_image mark = make_image(3, 3, [](int, int x, int y) { return x == 2 && y == 0 ? 200 : 0; });
    const rgb_image turned = applied(mark, op::rotate, 90, keep);
    CHECK(at(turned, 0, 0, 0) == 200);
    CHECK(at(turned, 0, 2, 0) == 0);
  }
  SECTION("a quarter turn of a 4x2 image samples through the affine map") {
    // Centre (2, 1): input x = 2.5 - y' and y = x' - 0.5 at centres (x', y') = (x + 0.5, y + 0.5).
    const rgb_image img = varied(4, 2);
    CHECK(applied(img, op::rotate, 90, keep).chw == resampled(img, [](int x, int y) { return std::pair{2 - y, x - 1}; }).chw);
  }
  SECTION("small angles: nearest input of each output centre, black outside") {
    for (auto [w, h] : {std::pair{7, 5}, std::pair{5, 5}, std::pair{8, 6}})
      for (double degrees : {10.0, 30.0}) {
        const rgb_image img = varied(w, h);
        for (std::uint64_t key : {keep, flip}) {
          const double t = (key == flip ? -degrees : degrees) * 3.14159265358979323846 / 180;
          const double cx = w / 2.0, cy = h / 2.0;
          const rgb_image expected = resampled(img, [&](int x, int y) {
            const double u = x + 0.5 - cx, v = y + 0.5 - cy;
            return std::pair{floor_int(std::cos(t) * u - std::sin(t) * v + cx),
                             floor_int(std::sin(t) * u + std::cos(t) * v + cy)};
          });
          CHECK(applied(img, op::rotate, degrees, key).chw == expected.chw);
        }
      }
  }
}

TEST_CASE("RandAugment shears sample at pixel centres in PIL's 16.16 fixed point", "[augment][rand_augment]") {
  const std::uint64_t keep = key_flipping(false), flip = key_flipping(true);
  const double v = rand_augment_value(op::shear_x, 30);  // 0.3
  for (std::uint64_t key : {keep, flip}) {
    const double s = key == flip ? -v : v;
    const rgb_image wide = varied(7, 5), tall = varied(5, 7);
    CHECK(applied(wide, op::shear_x, v, key).chw ==
          resampled(wide, [&](int x, int y) { return std::pair{floor_int(x + 0.5 + s * (y + 0.5)), y}; }).chw);
    CHECK(applied(tall, op::shear_y, v, key).chw ==
          resampled(tall, [&](int x, int y) { return std::pair{x, floor_int(s * (x + 0.5) + y + 0.5)}; }).chw);
  }
  // At m = 10 the shear moves pixels of a 12-pixel-high image by up to one.
  const rgb_image high = varied(6, 12);
  const double m10 = rand_augment_value(op::shear_x, 10);
  CHECK(applied(high, op::shear_x, m10, keep).chw ==
        resampled(high, [&](int x, int y) { return std::pair{floor_int(x + 0.5 + m10 * (y + 0.5)), y}; }).chw);
  // PIL rounds the coefficient to 1/65536: 1 - 2^-20 shears as 1 exactly, so output (0, 0) reads
  // input (1, 0), where exact arithmetic (0.99999952) would read (0, 0).
  const rgb_image small = varied(3, 2);
  const rgb_image sheared = applied(small, op::shear_x, 1.0 - 1.0 / (1 << 20), keep);
  CHECK(sheared.chw == resampled(small, [](int x, int y) { return std::pair{x + y + 1, y}; }).chw);
  CHECK(at(sheared, 0, 0, 0) == at(small, 0, 1, 0));
  // Coordinates beyond 16.16 take PIL's double route; here everything falls outside.
  CHECK(applied(small, op::shear_x, 40000, keep).chw == std::vector<std::uint8_t>(small.chw.size(), 0));
}

TEST_CASE("RandAugment translations read input (x + v, y) or (x, y + v) at pixel centres", "[augment][rand_augment]") {
  const std::uint64_t keep = key_flipping(false), flip = key_flipping(true);
  const rgb_image img = varied(5, 4);
  for (double v : {2.0, 1.5, 0.4}) {
    for (std::uint64_t key : {keep, flip}) {
      const double s = key == flip ? -v : v;
      CHECK(applied(img, op::translate_x, v, key).chw ==
            resampled(img, [&](int x, int y) { return std::pair{floor_int(x + 0.5 + s), y}; }).chw);
      CHECK(applied(img, op::translate_y, v, key).chw ==
            resampled(img, [&](int x, int y) { return std::pair{x, floor_int(y + 0.5 + s)}; }).chw);
    }
  }
  // 1.5 pixels to the left reads x + 2 (centre x + 2.0), to the right x - 1 (centre x - 1.0).
  CHECK(at(applied(img, op::translate_x, 1.5, keep), 1, 0, 0) == at(img, 1, 2, 0));
  CHECK(at(applied(img, op::translate_x, 1.5, flip), 1, 1, 0) == at(img, 1, 0, 0));
  // Translations step in double from the first centre (PIL's ImagingScaleAffine): 0.5 - 2^-20
  // reads input x at x + 0.99999905, where the 16.16 fixed point of shears would round to x + 1.
  const double nearly_half = 0.5 - 1.0 / (1 << 20);
  CHECK(applied(img, op::translate_x, nearly_half, keep).chw == img.chw);
  CHECK(applied(img, op::translate_y, nearly_half, keep).chw == img.chw);
  // m = 10 moves by 33.33 pixels: a 40-pixel-wide image keeps 7 columns, a 5-pixel one none.
  const rgb_image wide = varied(40, 2);
  const rgb_image moved = applied(wide, op::translate_x, rand_augment_value(op::translate_x, 10), keep);
  CHECK(moved.chw == resampled(wide, [](int x, int y) { return std::pair{x + 33, y}; }).chw);
  CHECK(applied(img, op::translate_y, rand_augment_value(op::translate_y, 10), flip).chw ==
        std::vector<std::uint8_t>(img.chw.size(), 0));
}

TEST_CASE("RandAugment cutout paints PIL's inclusive rectangle at numpy's uniform(w) centre", "[augment][rand_augment]") {
  const rgb_image img = varied(32, 20);
  const std::uint8_t grey[3] = {125, 123, 114};
  for (int m : {0, 10, 30})
    for (std::uint64_t key = 0; key < 20; ++key) {
      const double v = rand_augment_value(op::cutout, m);
      // numpy's uniform(w) draws in (1, w]; x0 = int(max(0, x - v / 2)); x1 = min(w, x0 + v).
      const double cx = 32 + (1 - 32) * detail::uniform_at(key, 0), cy = 20 + (1 - 20) * detail::uniform_at(key, 1);
      const int x0 = static_cast<int>(std::max(0.0, cx - v / 2)), y0 = static_cast<int>(std::max(0.0, cy - v / 2));
      // PIL's rectangle truncates x1 and fills x0..x1 inclusive, clipped to the image.
      const int x1 = std::min(31, static_cast<int>(std::min(32.0, x0 + v)));
      const int y1 = std::min(19, static_cast<int>(std::min(20.0, y0 + v)));
      const rgb_image out = applied(img, op::cutout, v, key);
      int painted = 0;
      for (int c = 0; c < 3; ++c)
        for (int y = 0; y < 20; ++y)
          for (int x = 0; x < 32; ++x) {
            const bool inside = x >= x0 && x <= x1 && y >= y0 && y <= y1;
            CHECK(at(out, c, x, y) == (inside ? grey[c] : at(img, c, x, y)));
            painted += inside;
          }
      if (m == 0) CHECK(painted == 3);  // v = 0 still paints the pixel (x0, y0)
      if (m == 10 && x1 < 31 && y1 < 19) CHECK(painted == 3 * 14 * 14);  // 13.33 wide: 14 columns, inclusive
    }
}

TEST_CASE("RandAugment draws: a key gives one result, other keys others", "[augment][rand_augment]") {
  const rgb_image img = varied(16, 16);
  for (int o = 0; o < rand_augment_op_count; ++o) {
    const auto which = static_cast<op>(o);
    const double v = rand_augment_value(which, 20);
    CHECK(applied(img, which, v, 12345).chw == applied(img, which, v, 12345).chw);
  }
  // Operations that draw: their results vary with the key.
  const std::pair<op, double> drawing[] = {{op::rotate, 20},     {op::shear_x, 0.2},    {op::shear_y, 0.2},
                                           {op::cutout, 8},      {op::translate_x, 3}, {op::translate_y, 3}};
  for (auto [which, v] : drawing) {
    std::set<std::vector<std::uint8_t>> results;
    for (std::uint64_t key = 0; key < 8; ++key) results.insert(applied(img, which, v, key).chw);
    CHECK(results.size() > 1);
  }
  rgb_image a = img, b = img, c = img;
  rand_augment(a, 2, 10, 77);
  rand_augment(b, 2, 10, 77);
  rand_augment(c, 2, 10, 78);
  CHECK(a.chw == b.chw);
  CHECK(a.chw != c.chw);
  CHECK(a.chw != img.chw);
}

TEST_CASE("rand_augment applies n operations, each drawn as floor(16 u) from the key", "[augment][rand_augment]") {
  const rgb_image img = make_image(9, 7, [](int c, int x, int y) { return (c * 61 + x * 23 + y * 41 + x * y * 7) % 256; });
  // Keys whose two draws are operations without draws of their own: the expected image needs
  // only the order of the list.
  const auto drawn = [](std::uint64_t key, std::uint64_t i) {
    return static_cast<op>(static_cast<int>(detail::uniform_at(key, i) * 16));
  };
  const auto deterministic = [](op o) {
    return o != op::rotate && o != op::shear_x && o != op::shear_y && o != op::cutout && o != op::translate_x &&
           o != op::translate_y;
  };
  int checked = 0, single_differs = 0;
  for (std::uint64_t key = 0; checked < 12; ++key) {
    const op first = drawn(key, 0), second = drawn(key, 1);
    if (!deterministic(first) || !deterministic(second)) continue;
    ++checked;
    const rgb_image once = applied(img, first, rand_augment_value(first, 10));
    const rgb_image twice = applied(once, second, rand_augment_value(second, 10));
    rgb_image got = img;
    rand_augment(got, 2, 10, key);
    CHECK(got.chw == twice.chw);
    single_differs += once.chw != twice.chw;
    rgb_image one = img;
    rand_augment(one, 1, 10, key);
    CHECK(one.chw == once.chw);
  }
  CHECK(single_differs > 0);  // the second operation shows
  // Any key: each operation gets its own stream.
  for (std::uint64_t key = 0; key < 40; ++key) {
    rgb_image expected = img;
    for (int i = 0; i < 3; ++i) {
      const op o = drawn(key, static_cast<std::uint64_t>(i));
      apply_rand_augment_op(expected, o, rand_augment_value(o, 17), detail::rand_augment_op_key(key, i));
    }
    rgb_image got = img;
    rand_augment(got, 3, 17, key);
    CHECK(got.chw == expected.chw);
  }
  rgb_image none = img;
  rand_augment(none, 0, 10, 5);
  CHECK(none.chw == img.chw);
}

TEST_CASE("RandAugment handles odd and one-pixel images", "[augment][rand_augment]") {
  for (auto [w, h] : {std::pair{7, 5}, std::pair{1, 1}, std::pair{2, 1}, std::pair{1, 3}, std::pair{3, 2}}) {
    const rgb_image img = varied(w, h);
    for (int o = 0; o < rand_augment_op_count; ++o)
      for (int m : {0, 1, 7, 8, 10, 15, 29, 30})
        for (std::uint64_t key = 0; key < 3; ++key) {
          const rgb_image out = applied(img, static_cast<op>(o), rand_augment_value(static_cast<op>(o), m), key);
          CHECK(out.width == w);
          CHECK(out.height == h);
          CHECK(out.chw.size() == img.chw.size());
        }
    for (std::uint64_t key = 0; key < 20; ++key) {
      rgb_image out = img;
      rand_augment(out, 4, 10, key);
      CHECK(out.chw.size() == img.chw.size());
    }
  }
  // One pixel: a rotation keeps its centre, a translation of 33 pixels leaves black.
  const rgb_image dot = make_image(1, 1, [](int c, int, int) { return 40 + c; });
  CHECK(applied(dot, op::rotate, 30, 0).chw == dot.chw);
  CHECK(applied(dot, op::translate_x, 33.3, 0).chw == std::vector<std::uint8_t>{0, 0, 0});
  CHECK(applied(dot, op::invert, 0.5).chw == std::vector<std::uint8_t>{215, 214, 213});
  CHECK(applied(dot, op::auto_contrast, 0.5).chw == dot.chw);  // each channel is flat
}

TEST_CASE("RandAugment rejects malformed images and arguments", "[augment][rand_augment][errors]") {
  rgb_image short_buffer{4, 3, std::vector<std::uint8_t>(35)};
  CHECK_THROWS_AS(apply_rand_augment_op(short_buffer, op::invert, 0, 0), argument_error);
  CHECK_THROWS_AS(rand_augment(short_buffer, 2, 10, 0), argument_error);
  rgb_image empty{0, 0, {}};
  CHECK_THROWS_AS(rand_augment(empty, 2, 10, 0), argument_error);
  rgb_image img = varied(3, 3);
  CHECK_THROWS_AS(rand_augment(img, -1, 10, 0), argument_error);
  CHECK_THROWS_AS(rand_augment(img, 2, 31, 0), argument_error);
  CHECK_THROWS_AS(apply_rand_augment_op(img, op::rotate, std::nan(""), 0), argument_error);
  CHECK_THROWS_AS(apply_rand_augment_op(img, static_cast<op>(16), 1, 0), argument_error);
  CHECK(img.chw == varied(3, 3).chw);
}

}  // namespace test_rand_augment

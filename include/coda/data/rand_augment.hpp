// RandAugment (Cubuk et al., 2020) as the CoDA-Nets authors train with it: the 16 operations of
// ildoonet/pytorch-randaugment (RandAugment/augmentations.py, PIL based), on 8-bit RGB images of
// any size, byte for byte as PIL >= 7 computes them. rand_augment(img, n, m, key) draws n
// operations uniformly with replacement (Python's random.choices) and applies each, in order, at
// the value (m / 30) * (max - min) + min, evaluated in that order as the authors' Python does. The
// authors use n = 2, m = 10.
//
//   operation      (min, max)  PIL's definition, reproduced here
//   auto_contrast  (0, 1)      per channel [lo, hi] to [0, 255]: int(i * s - lo * s), s = 255 / (hi - lo),
//                              clipped; a channel with hi <= lo is unchanged
//   equalize       (0, 1)      per channel: step = (count - h[last non-zero bin]) // 255; none if 0;
//                              lut[i] = min(255, (step // 2 + h[0] + ... + h[i-1]) // step)
//   invert         (0, 1)      255 - v (these three ignore their value)
//   rotate         (0, 30)     degrees, sign flipped with probability 1/2, counter-clockwise about
//                              (w / 2, h / 2), PIL's rotate(angle): see the sampling below
//   posterize      (0, 4)      keeps the top max(1, int(value)) bits, as the authors' file does
//                              (8 or more: unchanged)
//   solarize       (0, 256)    v < value kept, others 255 - v
//   solarize_add   (0, 110)    int(clip(v + value, 0, 255)), then solarize at 128 (numpy, then PIL)
//   color          (0.1, 1.9)  blend with the greyscale image L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16
//   contrast       (0.1, 1.9)  blend with the flat grey int(mean(L) + 0.5)
//   brightness     (0.1, 1.9)  blend with black
//   sharpness      (0.1, 1.9)  blend with the image smoothed by [[1,1,1],[1,5,1],[1,1,1]] / 13, rounded,
//                              on interior pixels (the first and last rows and columns are kept)
//   shear_x/y      (0, 0.3)    random sign; output (x, y) reads input (x + v y, y) / (x, v x + y)
//   cutout         (0, 40)     CutoutAbs: centre (cx, cy) = numpy's uniform(w), uniform(h), i.e.
//                              w + (1 - w) u in (1, w]; x0 = int(max(0, cx - v / 2)), x1 = min(w, x0 + v),
//                              y likewise; PIL fills x0..int(x1), y0..int(y1) inclusive, clipped,
//                              with (125, 123, 114)
//   translate_x/y  (0, 100)    random sign; output (x, y) reads input (x + v, y) / (x, y + v)
//
// Where PIL's C code rounds differently from the plain formulas above, this file follows PIL:
//  - blends (color, contrast, brightness, sharpness: ImageEnhance, i.e. Image.blend) compute
//    d + float(f) * (v - d) in float32 and truncate after clipping to [0, 255]; they do not round;
//  - geometric operations sample the input at output pixel centres (x + 0.5, y + 0.5), take the
//    floor (nearest neighbour) and leave black outside. Translations step in double from the first
//    centre (ImagingScaleAffine); shears and rotations use PIL's 16.16 fixed point (coefficients
//    rounded to 1/65536) whenever PIL does, i.e. when the image corners map within +-32768, and
//    PIL's stepping in double otherwise. Rotations round their matrix to 15 decimals first, as
//    Image.rotate does, and take its exact paths for 0, 180 and (square images) 90 and 270 degrees;
//  - a product is rounded before the sum it enters, as in Python and PIL's builds: the compiler
//    would otherwise fuse them into FMAs where -march allows (GCC's -ffp-contract=fast).
// Not PIL: the draws. Python's random and numpy's generator give way to the library's
// counter-based streams (coda/detail/random.hpp), so that a resumed run draws what the first one
// drew; the distributions are the authors'. rand_augment(key) takes operation i as
// floor(16 uniform_at(key, i)) and gives it the stream detail::rand_augment_op_key(key, i); in an
// operation's stream, draw 0 flips the sign when it exceeds 0.5 (random.random() > 0.5) or is
// cutout's u for x, draw 1 cutout's u for y.
#pragma once

#include <algorithm>
#include <array>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "coda/core/error.hpp"
#include "coda/detail/random.hpp"
#include "coda/io/image.hpp"

namespace coda {

/// One RandAugment operation of the authors' list, in their order.
enum class rand_augment_op { auto_contrast, equalize, invert, rotate, posterize, solarize, solarize_add, color, contrast,
                             brightness, sharpness, shear_x, shear_y, cutout, translate_x, translate_y };
inline constexpr int rand_augment_op_count = 16;

namespace detail {

/// Purpose of the streams rand_augment() gives its operations.
inline constexpr std::uint64_t rand_augment_op_stream = 0x52414f50ull;

/// Key of the draws of the `i`-th operation of rand_augment(..., key).
inline std::uint64_t rand_augment_op_key(std::uint64_t key, int i) {
  return splitmix64(splitmix64(key ^ rand_augment_op_stream) + static_cast<std::uint64_t>(i));
}

/// a * b rounded on its own before it enters a sum: Python and PIL's builds never fuse the two,
/// GCC does (-ffp-contract=fast) when -march offers FMA, and that changes last bits.
inline double unfused(double a, double b) {
  volatile double product = a * b;
  return product;
}
inline float unfused(float a, float b) {
  volatile float product = a * b;
  return product;
}

[[noreturn]] inline void throw_unknown_op(rand_augment_op op) {
  CODA_THROW(argument_error("coda::rand_augment: operation " + std::to_string(static_cast<int>(op)) +
                            " is not one of the 16 (0 to 15)"));
}

struct rand_augment_range {
  double min, max;
};

/// The authors' (min, max) of `op`.
inline rand_augment_range rand_augment_range_of(rand_augment_op op) {
  switch (op) {
    case rand_augment_op::auto_contrast:
    case rand_augment_op::equalize:
    case rand_augment_op::invert: return {0, 1};
    case rand_augment_op::rotate: return {0, 30};
    case rand_augment_op::posterize: return {0, 4};
    case rand_augment_op::solarize: return {0, 256};
    case rand_augment_op::solarize_add: return {0, 110};
    case rand_augment_op::color:
    case rand_augment_op::contrast:
    case rand_augment_op::brightness:
    case rand_augment_op::sharpness: return {0.1, 1.9};
    case rand_augment_op::shear_x:
    case rand_augment_op::shear_y: return {0, 0.3};
    case rand_augment_op::cutout: return {0, 40};
    case rand_augment_op::translate_x:
    case rand_augment_op::translate_y: return {0, 100};
  }
  throw_unknown_op(op);
}

inline void check_rand_augment_image(const rgb_image& img) {
  CODA_REQUIRE(img.width > 0 && img.height > 0 &&
                   img.chw.size() == std::size_t{3} * static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height),
               "coda::rand_augment: an image of " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                   " pixels holds " + std::to_string(img.chw.size()) + " bytes; expected 3 x width x height, both at least 1");
}

inline std::size_t plane_size(const rgb_image& img) {
  return static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height);
}

using byte_lut = std::array<std::uint8_t, 256>;

inline byte_lut identity_lut() {
  byte_lut lut{};
  for (int i = 0; i < 256; ++i) lut[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(i);
  return lut;
}

inline void apply_lut(std::uint8_t* begin, std::size_t n, const byte_lut& lut) {
  for (std::size_t i = 0; i < n; ++i) begin[i] = lut[begin[i]];
}

inline std::array<std::uint64_t, 256> channel_histogram(const std::uint8_t* begin, std::size_t n) {
  std::array<std::uint64_t, 256> h{};
  for (std::size_t i = 0; i < n; ++i) ++h[begin[i]];
  return h;
}

/// ImageOps.autocontrast(cutoff=0) of one channel.
inline byte_lut autocontrast_lut(const std::array<std::uint64_t, 256>& h) {
  int lo = 0, hi = 255;
  while (lo < 255 && h[static_cast<std::size_t>(lo)] == 0) ++lo;
  while (hi > 0 && h[static_cast<std::size_t>(hi)] == 0) --hi;
  byte_lut lut = identity_lut();
  if (hi <= lo) return lut;
  const double scale = 255.0 / (hi - lo), offset = unfused(-static_cast<double>(lo), scale);
  for (int i = 0; i < 256; ++i) {
    const double v = unfused(static_cast<double>(i), scale) + offset;  // Python's int() truncates, then clips
    lut[static_cast<std::size_t>(i)] = v <= 0 ? 0 : v >= 255 ? 255 : static_cast<std::uint8_t>(v);
  }
  return lut;
}

/// ImageOps.equalize of one channel; PIL's point() clips the lut to 255.
inline byte_lut equalize_lut(const std::array<std::uint64_t, 256>& h) {
  std::uint64_t total = 0;
  for (std::uint64_t count : h) total += count;
  int last = 255;
  while (last > 0 && h[static_cast<std::size_t>(last)] == 0) --last;
  const std::uint64_t step = (total - h[static_cast<std::size_t>(last)]) / 255;
  byte_lut lut = identity_lut();
  if (step == 0) return lut;
  std::uint64_t n = step / 2;
  for (std::size_t i = 0; i < 256; ++i) {
    lut[i] = static_cast<std::uint8_t>(std::min<std::uint64_t>(255, n / step));
    n += h[i];
  }
  return lut;
}

/// One lut per channel, each made from the channel's histogram.
template <class MakeLut>
void apply_channel_luts(rgb_image& img, MakeLut make_lut) {
  const std::size_t plane = plane_size(img);
  for (std::size_t c = 0; c < 3; ++c) {
    std::uint8_t* channel = img.chw.data() + c * plane;
    apply_lut(channel, plane, make_lut(channel_histogram(channel, plane)));
  }
}

/// ImageOps.posterize(img, max(1, int(value))): i & ~(2^(8 - bits) - 1).
inline void posterize(rgb_image& img, double value) {
  const int bits = value >= 8 ? 8 : value < 1 ? 1 : static_cast<int>(value);
  const auto mask = static_cast<std::uint8_t>(~((1u << (8 - bits)) - 1u) & 0xffu);
  for (auto& v : img.chw) v = static_cast<std::uint8_t>(v & mask);
}

inline std::uint8_t solarized(int v, double threshold) { return static_cast<std::uint8_t>(v < threshold ? v : 255 - v); }

inline void solarize(rgb_image& img, double threshold) {
  byte_lut lut{};
  for (int i = 0; i < 256; ++i) lut[static_cast<std::size_t>(i)] = solarized(i, threshold);
  apply_lut(img.chw.data(), img.chw.size(), lut);
}

/// The authors' SolarizeAdd: in numpy, v + value clipped to [0, 255] and truncated to uint8; then
/// solarize at 128.
inline void solarize_add(rgb_image& img, double value) {
  byte_lut lut{};
  for (int i = 0; i < 256; ++i)
    lut[static_cast<std::size_t>(i)] = solarized(static_cast<int>(std::clamp(i + value, 0.0, 255.0)), 128);
  apply_lut(img.chw.data(), img.chw.size(), lut);
}

/// Image.blend(degenerate, img, factor) as ImagingBlend computes it: in float32, clipped, truncated.
inline void blend(rgb_image& img, const std::vector<std::uint8_t>& degenerate, double factor) {
  // Python's float goes to C's float; the clamp only keeps an absurd factor finite.
  const auto alpha = static_cast<float>(std::clamp(factor, -static_cast<double>(FLT_MAX), static_cast<double>(FLT_MAX)));
  for (std::size_t i = 0; i < img.chw.size(); ++i) {
    const int d = degenerate[i];
    const float v = static_cast<float>(d) + unfused(alpha, static_cast<float>(img.chw[i] - d));
    img.chw[i] = v <= 0.0f ? 0 : v >= 255.0f ? 255 : static_cast<std::uint8_t>(v);
  }
}

/// img.convert("L"): ITU-R 601 luma in 16-bit fixed point, rounded (PIL >= 7).
inline std::vector<std::uint8_t> greyscale(const rgb_image& img) {
  const std::size_t plane = plane_size(img);
  std::vector<std::uint8_t> grey(plane);
  const std::uint8_t *r = img.chw.data(), *g = r + plane, *b = g + plane;
  for (std::size_t i = 0; i < plane; ++i)
    grey[i] = static_cast<std::uint8_t>((r[i] * 19595u + g[i] * 38470u + b[i] * 7471u + 0x8000u) >> 16);
  return grey;
}

/// ImageEnhance.Color's degenerate: the greyscale image as RGB.
inline std::vector<std::uint8_t> colourless(const rgb_image& img) {
  const std::vector<std::uint8_t> grey = greyscale(img);
  std::vector<std::uint8_t> out;
  out.reserve(img.chw.size());
  for (int c = 0; c < 3; ++c) out.insert(out.end(), grey.begin(), grey.end());
  return out;
}

/// ImageEnhance.Contrast's degenerate: flat at int(mean of the greyscale image + 0.5), the mean
/// as ImageStat computes it (exact sum over count, in double).
inline std::vector<std::uint8_t> mean_grey(const rgb_image& img) {
  const std::vector<std::uint8_t> grey = greyscale(img);
  std::uint64_t sum = 0;
  for (std::uint8_t v : grey) sum += v;
  const double mean = static_cast<double>(sum) / static_cast<double>(grey.size());
  return std::vector<std::uint8_t>(img.chw.size(), static_cast<std::uint8_t>(mean + 0.5));
}

/// ImageEnhance.Sharpness's degenerate: ImageFilter.SMOOTH on interior pixels, the border kept.
/// PIL sums in float32 with weights w / 13 and adds 0.5 before truncating; the exact value
/// S / 13 + 0.5 (S the integer weighted sum) is never within 1/26 of an integer, far beyond
/// float32's error, so rounding S / 13 in integers gives PIL's bytes.
inline std::vector<std::uint8_t> smoothed(const rgb_image& img) {
  std::vector<std::uint8_t> out = img.chw;
  const std::size_t w = static_cast<std::size_t>(img.width), plane = plane_size(img);
  for (std::size_t c = 0; c < 3; ++c)
    for (std::size_t y = 1; y + 1 < static_cast<std::size_t>(img.height); ++y)
      for (std::size_t x = 1; x + 1 < w; ++x) {
        const std::uint8_t* above = img.chw.data() + c * plane + (y - 1) * w + x;
        const std::uint8_t *row = above + w, *below = row + w;
        const unsigned sum = above[-1] + above[0] + above[1] + row[-1] + 5u * row[0] + row[1] + below[-1] + below[0] + below[1];
        out[c * plane + y * w + x] = static_cast<std::uint8_t>((2 * sum + 13) / 26);
      }
  return out;
}

/// Inverse affine map of PIL's AFFINE transform: input = (a0 x + a1 y + a2, a3 x + a4 y + a5).
using affine_coefficients = std::array<double, 6>;

/// PIL's COORD with the range check that follows it: the pixel index of a coordinate, -1 outside.
inline int nearest_index(double v, int size) { return v >= 0 && v < size ? static_cast<int>(v) : -1; }

/// The same for a 16.16 fixed-point coordinate.
inline int fixed_index(std::int64_t v, int size) {
  return v >= 0 && (v >> 16) < size ? static_cast<int>(v >> 16) : -1;
}

/// PIL's FIX: round to 1/65536 (half up).
inline std::int64_t fix16(double v) { return static_cast<std::int64_t>(std::floor(v * 65536.0 + 0.5)); }

/// PIL's check_fixed at the four corners: whether it uses 16.16 fixed point.
inline bool fits_fixed_point(const affine_coefficients& a, int w, int h) {
  const auto near = [&](double x, double y) {
    return std::fabs(unfused(x, a[0]) + unfused(y, a[1]) + a[2]) < 32768.0 &&
           std::fabs(unfused(x, a[3]) + unfused(y, a[4]) + a[5]) < 32768.0;
  };
  return near(0, 0) && near(w, h) && near(0, h) && near(w, 0);
}

/// img.transform(img.size, AFFINE, a, NEAREST) by the route PIL's ImagingTransformAffine takes.
inline void affine_nearest(rgb_image& img, const affine_coefficients& a) {
  const int w = img.width, h = img.height;
  const std::size_t plane = plane_size(img);
  std::vector<std::uint8_t> out(img.chw.size(), 0);
  const auto copy = [&](int x, int y, int xin, int yin) {
    if (xin < 0 || yin < 0) return;
    const std::size_t to = static_cast<std::size_t>(y) * w + x, from = static_cast<std::size_t>(yin) * w + xin;
    for (std::size_t c = 0; c < 3; ++c) out[c * plane + to] = img.chw[c * plane + from];
  };
  if (a[1] == 0 && a[3] == 0) {  // ImagingScaleAffine: double, stepping from the first centre
    std::vector<int> column(static_cast<std::size_t>(w));
    double xo = a[2] + a[0] * 0.5;
    for (int x = 0; x < w; ++x, xo += a[0]) column[static_cast<std::size_t>(x)] = nearest_index(xo, w);
    double yo = a[5] + a[4] * 0.5;
    for (int y = 0; y < h; ++y, yo += a[4])
      for (int x = 0; x < w; ++x) copy(x, y, column[static_cast<std::size_t>(x)], nearest_index(yo, h));
  } else if (fits_fixed_point(a, w, h)) {  // affine_fixed
    const std::int64_t a0 = fix16(a[0]), a1 = fix16(a[1]), a3 = fix16(a[3]), a4 = fix16(a[4]);
    const std::int64_t a2 = fix16(a[2] + a[0] * 0.5 + a[1] * 0.5), a5 = fix16(a[5] + a[3] * 0.5 + a[4] * 0.5);
    for (int y = 0; y < h; ++y) {
      std::int64_t xx = a2 + y * a1, yy = a5 + y * a4;
      for (int x = 0; x < w; ++x, xx += a0, yy += a3) copy(x, y, fixed_index(xx, w), fixed_index(yy, h));
    }
  } else {  // the double route, for coordinates beyond 16.16
    double xo = a[2] + a[1] * 0.5 + a[0] * 0.5, yo = a[5] + a[4] * 0.5 + a[3] * 0.5;
    for (int y = 0; y < h; ++y, xo += a[1], yo += a[4]) {
      double xx = xo, yy = yo;
      for (int x = 0; x < w; ++x, xx += a[0], yy += a[3]) copy(x, y, nearest_index(xx, w), nearest_index(yy, h));
    }
  }
  img.chw.swap(out);
}

/// Image.rotate's exact paths: `quarters` counter-clockwise quarter turns (1 and 3 on square
/// images only, as PIL takes them).
inline void rotate_quarters(rgb_image& img, int quarters) {
  const int w = img.width, h = img.height;
  const std::size_t plane = plane_size(img);
  std::vector<std::uint8_t> out(img.chw.size());
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const int xin = quarters == 1 ? w - 1 - y : quarters == 2 ? w - 1 - x : y;
      const int yin = quarters == 1 ? x : quarters == 2 ? h - 1 - y : h - 1 - x;
      for (std::size_t c = 0; c < 3; ++c)
        out[c * plane + static_cast<std::size_t>(y) * w + x] = img.chw[c * plane + static_cast<std::size_t>(yin) * w + xin];
    }
  img.chw.swap(out);
}

/// Python's a % b for floats: the sign of b.
inline double python_mod(double a, double b) {
  double r = std::fmod(a, b);
  if (r == 0) return std::copysign(0.0, b);
  if ((r < 0) != (b < 0)) r += b;
  return r;
}

/// Python's round(v, 15) for |v| <= 1: the correctly rounded decimal, read back.
inline double round_15_decimals(double v) {
  char text[40];
  std::snprintf(text, sizeof text, "%.15f", v);
  return std::strtod(text, nullptr);
}

/// img.rotate(degrees): counter-clockwise about the image centre, nearest, black outside.
inline void rotate(rgb_image& img, double degrees) {
  const double angle = python_mod(degrees, 360.0);
  if (angle == 0) return;
  if (angle == 180) return rotate_quarters(img, 2);
  if ((angle == 90 || angle == 270) && img.width == img.height) return rotate_quarters(img, angle == 90 ? 1 : 3);
  constexpr double radians_per_degree = 3.14159265358979323846 / 180.0;  // math.radians
  const double radians = -(angle * radians_per_degree);
  const double cos_a = round_15_decimals(std::cos(radians)), sin_a = round_15_decimals(std::sin(radians));
  affine_coefficients a{cos_a, sin_a, 0.0, round_15_decimals(-std::sin(radians)), cos_a, 0.0};
  const double cx = img.width / 2.0, cy = img.height / 2.0;
  const double c = unfused(a[0], -cx) + unfused(a[1], -cy) + a[2], f = unfused(a[3], -cx) + unfused(a[4], -cy) + a[5];
  a[2] = c + cx;
  a[5] = f + cy;
  affine_nearest(img, a);
}

/// The authors' random sign of geometric operations: flipped when random.random() > 0.5.
inline double random_sign(double v, std::uint64_t key) { return uniform_at(key, 0) > 0.5 ? -v : v; }

/// The authors' CutoutAbs: a square of side v filled with (125, 123, 114).
inline void cutout(rgb_image& img, double v, std::uint64_t key) {
  if (v < 0) return;
  const double w = img.width, h = img.height;
  // numpy's uniform(w) is uniform(low=w, high=1.0): w + (1 - w) u, in (1, w].
  const double cx = w + unfused(1.0 - w, uniform_at(key, 0)), cy = h + unfused(1.0 - h, uniform_at(key, 1));
  const double x0 = std::floor(std::max(0.0, cx - v / 2.0)), y0 = std::floor(std::max(0.0, cy - v / 2.0));
  const double x1 = std::min(w, x0 + v), y1 = std::min(h, y0 + v);
  // ImageDraw.rectangle truncates the corners to int and fills inclusively, clipped to the image.
  const int left = static_cast<int>(x0), right = std::min(img.width - 1, static_cast<int>(x1));
  const int top = static_cast<int>(y0), bottom = std::min(img.height - 1, static_cast<int>(y1));
  const std::size_t plane = plane_size(img);
  constexpr std::uint8_t colour[3] = {125, 123, 114};
  for (std::size_t c = 0; c < 3; ++c)
    for (int y = top; y <= bottom; ++y)
      for (int x = left; x <= right; ++x) img.chw[c * plane + static_cast<std::size_t>(y) * img.width + x] = colour[c];
}

}  // namespace detail

/// The op's value at magnitude m (0..30): min + (max - min) * m / 30, with the ranges of the
/// header's table, evaluated as the authors' Python does: (m / 30) * (max - min) + min.
inline double rand_augment_value(rand_augment_op op, int magnitude) {
  CODA_REQUIRE(magnitude >= 0 && magnitude <= 30,
               "coda::rand_augment: magnitude " + std::to_string(magnitude) + " is outside 0..30");
  const detail::rand_augment_range range = detail::rand_augment_range_of(op);
  return detail::unfused(magnitude / 30.0, range.max - range.min) + range.min;
}

namespace detail {

/// apply_rand_augment_op once the image and the value have been checked.
inline void apply_rand_augment_op_checked(rgb_image& img, rand_augment_op op, double value, std::uint64_t key) {
  switch (op) {
    case rand_augment_op::auto_contrast: return apply_channel_luts(img, autocontrast_lut);
    case rand_augment_op::equalize: return apply_channel_luts(img, equalize_lut);
    case rand_augment_op::invert:
      for (auto& v : img.chw) v = static_cast<std::uint8_t>(255 - v);
      return;
    case rand_augment_op::rotate: return rotate(img, random_sign(value, key));
    case rand_augment_op::posterize: return posterize(img, value);
    case rand_augment_op::solarize: return solarize(img, value);
    case rand_augment_op::solarize_add: return solarize_add(img, value);
    case rand_augment_op::color: return blend(img, colourless(img), value);
    case rand_augment_op::contrast: return blend(img, mean_grey(img), value);
    case rand_augment_op::brightness: return blend(img, std::vector<std::uint8_t>(img.chw.size(), 0), value);
    case rand_augment_op::sharpness: return blend(img, smoothed(img), value);
    case rand_augment_op::shear_x: return affine_nearest(img, {1, random_sign(value, key), 0, 0, 1, 0});
    case rand_augment_op::shear_y: return affine_nearest(img, {1, 0, 0, random_sign(value, key), 1, 0});
    case rand_augment_op::cutout: return cutout(img, value, key);
    case rand_augment_op::translate_x: return affine_nearest(img, {1, 0, random_sign(value, key), 0, 1, 0});
    case rand_augment_op::translate_y: return affine_nearest(img, {1, 0, 0, 0, 1, random_sign(value, key)});
  }
  throw_unknown_op(op);
}

}  // namespace detail

/// Applies `op` with `value`; `key` is a stream for the op's own draws (sign of geometric ops,
/// cutout position).
inline void apply_rand_augment_op(rgb_image& img, rand_augment_op op, double value, std::uint64_t key) {
  detail::check_rand_augment_image(img);
  CODA_REQUIRE(std::isfinite(value), "coda::rand_augment: the value of an operation must be finite");
  detail::apply_rand_augment_op_checked(img, op, value, key);
}

/// n ops drawn uniformly with replacement from the 16, each at magnitude m, from stream `key`.
inline void rand_augment(rgb_image& img, int n, int magnitude, std::uint64_t key) {
  CODA_REQUIRE(n >= 0, "coda::rand_augment: the number of operations must not be negative");
  CODA_REQUIRE(magnitude >= 0 && magnitude <= 30,
               "coda::rand_augment: magnitude " + std::to_string(magnitude) + " is outside 0..30");
  detail::check_rand_augment_image(img);
  for (int i = 0; i < n; ++i) {
    // random.choices: population[floor(random() * 16)]
    const int drawn = std::min(rand_augment_op_count - 1,
                               static_cast<int>(detail::uniform_at(key, static_cast<std::uint64_t>(i)) * rand_augment_op_count));
    const auto op = static_cast<rand_augment_op>(drawn);
    detail::apply_rand_augment_op_checked(img, op, rand_augment_value(op, magnitude), detail::rand_augment_op_key(key, i));
  }
}

}  // namespace coda

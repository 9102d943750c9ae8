// The perturbation methods (coda/attribution/occlusion.hpp, rise.hpp) against independent
// computations: the occlusion windows against the authors' formula and hand-listed cases, the
// model-agnostic occlusion against the closed form of a linear model, occlusion of a network
// against a window-by-window evaluation of the masked RGB image; the RISE masks against their
// documented construction (resize then crop, as the authors' code does) and against the
// reference masks of the attribution fixture, and RISE of a network against the accumulation
// sum_i sigmoid(f_t(x * mask_i)) mask_i / (M p).
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <tuple>
#include <utility>
#include <vector>

#include "support/attribution_nets.hpp"  // first: see its note on gradcam.hpp
#include "coda/attribution/occlusion.hpp"
#include "coda/attribution/rise.hpp"
#include "coda/io/safetensors.hpp"
#include "support/fixtures.hpp"

namespace test_attribution_perturbation {

using namespace coda;
using namespace coda::test;
namespace tol = coda::test::attribution_tolerance;

namespace {

/// The authors' span of grid position i (their Occlusion.make_masks): odd size k occludes
/// [i s - (k-1)/2, i s + (k-1)/2), even size [(i+1) s - k, i s + k), clipped to [0, side) as
/// numpy slicing clips.
std::pair<index_t, index_t> authors_span(index_t i, index_t stride, index_t size, index_t side) {
  index_t first, last;
  if (size % 2 == 1) {
    const index_t half = (size - 1) / 2;
    first = i * stride - half;
    last = i * stride + half;
  } else {
    first = (i + 1) * stride - size;
    last = i * stride + size;
  }
  return {std::max<index_t>(0, first), std::min(last, side)};
}

struct window {
  index_t y0, y1, x0, x1;
};

/// The windows in row-major order of their grid positions.
std::vector<window> authors_windows(index_t height, index_t width, index_t size, index_t stride) {
  std::vector<window> w;
  for (index_t i = 0; i < height / stride; ++i)
    for (index_t j = 0; j < width / stride; ++j) {
      const auto [y0, y1] = authors_span(i, stride, size, height);
      const auto [x0, x1] = authors_span(j, stride, size, width);
      w.push_back({y0, y1, x0, x1});
    }
  return w;
}

/// Occlusion maps [classes][H][W] of a network from their definition: for every window, the
/// RGB image with the window black in every channel goes through encode() and the network one
/// at a time, and the window's logit drop is shared evenly by its pixels.
template <class Net>
std::vector<double> reference_occlusion(const Net& net, const std::vector<double>& image, const std::vector<index_t>& classes, index_t size,
                                        index_t stride) {
  using I = typename Net::image_shape;
  constexpr index_t C = I::dim(0), H = I::dim(1), W = I::dim(2), plane = H * W;
  const auto base = logits_of_images(net, image.data());
  std::vector<double> maps(classes.size() * plane, 0.0);
  for (const window& w : authors_windows(H, W, size, stride)) {
    auto x = image;
    for (index_t c = 0; c < C; ++c)
      for (index_t y = w.y0; y < w.y1; ++y)
        for (index_t xx = w.x0; xx < w.x1; ++xx) x[static_cast<std::size_t>(c * plane + y * W + xx)] = 0.0;
    const auto l = logits_of_images(net, x.data());
    const double pixels = double((w.y1 - w.y0) * (w.x1 - w.x0));
    for (std::size_t k = 0; k < classes.size(); ++k) {
      const auto cls = static_cast<std::size_t>(classes[k]);
      for (index_t y = w.y0; y < w.y1; ++y)
        for (index_t xx = w.x0; xx < w.x1; ++xx) maps[k * plane + static_cast<std::size_t>(y * W + xx)] += (base[cls] - l[cls]) / pixels;
    }
  }
  return maps;
}

/// RISE mask `index` as documented and as the authors build it: the grid x grid cells of
/// uniform numbers u(index (grid^2 + 2) + j) < keep, resized bilinearly to (grid + 1) cells of
/// ceil(side / grid) pixels with pixel-centre sampling mirrored about the edge cells
/// (skimage.transform.resize(order=1, mode='reflect')), then cropped at the shift drawn by the
/// next two numbers (row, then column). Written as a full 2-D resize followed by the crop.
std::vector<double> documented_rise_mask(const rise_options& o, index_t index, index_t height, index_t width) {
  const index_t s = o.grid, cell_h = (height + s - 1) / s, cell_w = (width + s - 1) / s;
  const index_t up_h = (s + 1) * cell_h, up_w = (s + 1) * cell_w;
  const auto first = static_cast<std::uint64_t>(index * (s * s + 2));
  std::vector<double> cells(static_cast<std::size_t>(s * s));
  for (index_t j = 0; j < s * s; ++j) cells[std::size_t(j)] = detail::uniform_at(o.seed, first + std::uint64_t(j)) < o.keep ? 1.0 : 0.0;
  const auto shift_y = static_cast<index_t>(std::floor(detail::uniform_at(o.seed, first + std::uint64_t(s * s)) * double(cell_h)));
  const auto shift_x = static_cast<index_t>(std::floor(detail::uniform_at(o.seed, first + std::uint64_t(s * s + 1)) * double(cell_w)));
  // Source taps of output coordinate `out` of `n_out` over `n_in` cells, mirrored.
  const auto taps = [](index_t out, index_t n_out, index_t n_in) {
    const double src = (double(out) + 0.5) * double(n_in) / double(n_out) - 0.5;
    const double lo = std::floor(src);
    const auto mirror = [n_in](index_t i) {
      if (n_in == 1) return index_t(0);  // a single cell: its mirror images are itself
      i = i < 0 ? -i : i;
      return i > n_in - 1 ? 2 * (n_in - 1) - i : i;
    };
    const auto i0 = static_cast<index_t>(lo);
    return std::tuple<index_t, index_t, double>{mirror(i0), mirror(i0 + 1), src - lo};
  };
  std::vector<double> up(static_cast<std::size_t>(up_h * up_w));
  for (index_t y = 0; y < up_h; ++y)
    for (index_t x = 0; x < up_w; ++x) {
      const auto [r0, r1, fy] = taps(y, up_h, s);
      const auto [c0, c1, fx] = taps(x, up_w, s);
      const auto at = [&](index_t r, index_t c) { return cells[std::size_t(r * s + c)]; };
      up[std::size_t(y * up_w + x)] = (1 - fy) * ((1 - fx) * at(r0, c0) + fx * at(r0, c1)) + fy * ((1 - fx) * at(r1, c0) + fx * at(r1, c1));
    }
  std::vector<double> mask(static_cast<std::size_t>(height * width));
  for (index_t y = 0; y < height; ++y)
    for (index_t x = 0; x < width; ++x) mask[std::size_t(y * width + x)] = up[std::size_t((y + shift_y) * up_w + x + shift_x)];
  return mask;
}

std::vector<double> library_rise_mask(const rise_options& o, index_t index, index_t height, index_t width) {
  std::vector<double> m(static_cast<std::size_t>(height * width), -1.0);
  rise_mask(o, index, height, width, m.data());
  return m;
}

/// Bilinear weights are products of (1 - f) and f with f a multiple of 1/(2 up) for the exact
/// ratios here; a mask value is a sum of four such products of 0/1 cells, computed in another
/// order (separably in the library, in 2-D here): a few ulps of 1.
inline constexpr double mask_ulps = 1e-15;

}  // namespace

// ---- occlusion windows --------------------------------------------------------------------

TEST_CASE("occlusion_windows of the paper's configurations on 32x32 images", "[attribution][occlusion]") {
  SECTION("occlusion5: 4x4 windows [2i - 2, 2i + 2), clipped") {
    const auto w = occlusion_windows(32, 32, occlusion5);
    REQUIRE(w.size() == 256);
    // Grid position 0: rows and columns [max(0, -2), 2).
    CHECK(w[0].y0 == 0);
    CHECK(w[0].y1 == 2);
    CHECK(w[0].x0 == 0);
    CHECK(w[0].x1 == 2);
    CHECK(w[0].pixels() == 4);
    // Row-major over the grid: window 1 moves right, window 16 moves down.
    CHECK((w[1].y0 == 0 && w[1].y1 == 2 && w[1].x0 == 0 && w[1].x1 == 4));
    CHECK((w[16].y0 == 0 && w[16].y1 == 4 && w[16].x0 == 0 && w[16].x1 == 2));
    // Inside: 4x4 windows starting two pixels before the grid point.
    const occlusion_window& inner = w[5 * 16 + 7];
    CHECK((inner.y0 == 8 && inner.y1 == 12 && inner.x0 == 12 && inner.x1 == 16));
    CHECK(inner.pixels() == 16);
    // The last grid position reaches the border exactly: [28, 32).
    CHECK((w[255].y0 == 28 && w[255].y1 == 32 && w[255].x0 == 28 && w[255].x1 == 32));
    for (index_t i = 0; i < 16; ++i) {
      INFO("grid row " << i);
      CHECK(w[std::size_t(i * 16)].y0 == std::max<index_t>(0, 2 * i - 2));
      CHECK(w[std::size_t(i * 16)].y1 == 2 * i + 2);
    }
  }
  SECTION("occlusion9: 8x8 windows [2i - 4, 2i + 4), clipped at both ends") {
    const auto w = occlusion_windows(32, 32, occlusion9);
    REQUIRE(w.size() == 256);
    CHECK((w[0].y0 == 0 && w[0].y1 == 4 && w[0].x0 == 0 && w[0].x1 == 4));
    const occlusion_window& inner = w[6 * 16 + 9];
    CHECK((inner.y0 == 8 && inner.y1 == 16 && inner.x0 == 14 && inner.x1 == 22));
    CHECK(inner.pixels() == 64);
    // Grid row 15: [26, 34) clipped to [26, 32).
    CHECK((w[255].y0 == 26 && w[255].y1 == 32 && w[255].x0 == 26 && w[255].x1 == 32));
    CHECK(w[255].pixels() == 36);
    for (index_t i = 0; i < 16; ++i) {
      INFO("grid row " << i);
      CHECK(w[std::size_t(i * 16)].y0 == std::max<index_t>(0, 2 * i - 4));
      CHECK(w[std::size_t(i * 16)].y1 == std::min<index_t>(32, 2 * i + 4));
    }
  }
  CHECK(occlusion5.size == 5);
  CHECK(occlusion5.stride == 2);
  CHECK(occlusion9.size == 9);
  CHECK(occlusion9.stride == 2);
}

TEST_CASE("occlusion_windows follow the authors' formula for odd and even sizes, strides and non-square images",
          "[attribution][occlusion]") {
  // Even size 4, stride 2: [(i+1) 2 - 4, 2i + 4) = [2i - 2, 2i + 4).
  const auto even = occlusion_windows(8, 8, {4, 2});
  REQUIRE(even.size() == 16);
  CHECK((even[0].y0 == 0 && even[0].y1 == 4));
  CHECK((even[5].y0 == 0 && even[5].y1 == 6 && even[5].x0 == 0 && even[5].x1 == 6));
  CHECK((even[15].y0 == 4 && even[15].y1 == 8));
  // A non-square image: rows come from the grid row (index / (W / s)), columns from the column.
  const auto wide = occlusion_windows(6, 12, {3, 3});
  REQUIRE(wide.size() == 2 * 4);
  CHECK((wide[1].y0 == 0 && wide[1].y1 == 1 && wide[1].x0 == 2 && wide[1].x1 == 4));
  CHECK((wide[4].y0 == 2 && wide[4].y1 == 4 && wide[4].x0 == 0 && wide[4].x1 == 1));
  for (index_t stride : {1, 2, 3, 4})
    for (index_t size : {2, 3, 4, 5, 6, 7, 8, 9, 13}) {
      INFO("size " << size << ", stride " << stride);
      const index_t H = 12, W = 24;
      const auto got = occlusion_windows(H, W, {size, stride});
      const auto expected = authors_windows(H, W, size, stride);
      REQUIRE(got.size() == expected.size());
      for (std::size_t i = 0; i < got.size(); ++i) {
        INFO("window " << i);
        CHECK(got[i].y0 == expected[i].y0);
        CHECK(got[i].y1 == expected[i].y1);
        CHECK(got[i].x0 == expected[i].x0);
        CHECK(got[i].x1 == expected[i].x1);
      }
    }
}

TEST_CASE("occlusion_windows reject sides that are not multiples of the stride and sizes below 2", "[attribution][occlusion]") {
  CHECK_THROWS_AS(occlusion_windows(31, 32, occlusion5), argument_error);
  CHECK_THROWS_AS(occlusion_windows(32, 33, occlusion9), argument_error);
  CHECK_THROWS_AS(occlusion_windows(32, 32, {1, 2}), argument_error);
  CHECK_THROWS_AS(occlusion_windows(32, 32, {0, 2}), argument_error);
  CHECK_THROWS_AS(occlusion_windows(32, 32, {5, 0}), argument_error);
  CHECK_THROWS_AS(occlusion_windows(32, 32, {5, 3}), argument_error);
  CHECK_NOTHROW(occlusion_windows(33, 33, {5, 3}));
  CHECK_NOTHROW(occlusion_windows(8, 8, {2, 1}));
  // Through the network overload too: 8x8 images with stride 3.
  const auto net = make_net<net8>(50);
  const auto image = random_image(net8::image_shape::size, 51);
  CHECK_THROWS_AS(occlusion(net, image.data(), {0}, occlusion_options{5, 3}), argument_error);
}

// ---- occlusion ------------------------------------------------------------------------------

TEST_CASE("occlusion of a linear model equals the closed form", "[attribution][occlusion]") {
  constexpr index_t C = 2, H = 6, W = 8, plane = H * W, size = C * plane, K = 3;
  std::mt19937 rng(52);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> weight(static_cast<std::size_t>(K * size)), bias(K), x(size);
  for (auto& v : weight) v = u(rng);
  for (auto& v : bias) v = u(rng);
  for (auto& v : x) v = u(rng);
  int calls = 0;
  index_t evaluated = 0;
  const auto linear = [&](const double* in, index_t n, double* out) {
    ++calls;
    evaluated += n;
    for (index_t b = 0; b < n; ++b)
      for (index_t k = 0; k < K; ++k) {
        double s = bias[static_cast<std::size_t>(k)];
        for (index_t i = 0; i < size; ++i) s += weight[static_cast<std::size_t>(k * size + i)] * in[b * size + i];
        out[b * K + k] = s;
      }
  };
  const std::vector<index_t> classes{2, 0};
  for (const occlusion_options o : {occlusion_options{3, 2}, occlusion_options{4, 2}, occlusion_options{5, 2}, occlusion_options{2, 1}}) {
    INFO("size " << o.size << ", stride " << o.stride);
    // Zeroing a window in every channel drops logit k by sum over the window of W[k] x; each
    // pixel receives that drop over the window's pixel count from every window covering it.
    std::vector<double> expected(classes.size() * plane, 0.0);
    std::vector<int> covered(plane, 0);
    const auto windows = authors_windows(H, W, o.size, o.stride);
    for (const window& w : windows) {
      const double pixels = double((w.y1 - w.y0) * (w.x1 - w.x0));
      for (std::size_t k = 0; k < classes.size(); ++k) {
        double drop = 0;
        for (index_t c = 0; c < C; ++c)
          for (index_t y = w.y0; y < w.y1; ++y)
            for (index_t xx = w.x0; xx < w.x1; ++xx) {
              const index_t i = c * plane + y * W + xx;
              drop += weight[static_cast<std::size_t>(classes[k] * size + i)] * x[static_cast<std::size_t>(i)];
            }
        for (index_t y = w.y0; y < w.y1; ++y)
          for (index_t xx = w.x0; xx < w.x1; ++xx) expected[k * plane + static_cast<std::size_t>(y * W + xx)] += drop / pixels;
      }
      for (index_t y = w.y0; y < w.y1; ++y)
        for (index_t xx = w.x0; xx < w.x1; ++xx) ++covered[static_cast<std::size_t>(y * W + xx)];
    }
    std::vector<double> maps(classes.size() * plane, -99.0);  // every value must be written
    calls = 0;
    evaluated = 0;
    occlusion(linear, x.data(), C, H, W, K, classes, o, maps.data());
    // The unoccluded input once, then the windows in batches of at most 16.
    CHECK(evaluated == 1 + static_cast<index_t>(windows.size()));
    CHECK(calls == 1 + static_cast<int>((windows.size() + 15) / 16));
    for (std::size_t k = 0; k < classes.size(); ++k)
      for (index_t p = 0; p < plane; ++p) {
        const int n = covered[static_cast<std::size_t>(p)];
        INFO("class " << classes[k] << ", pixel (" << p / W << ", " << p % W << "), covered " << n);
        if (n == 0)
          CHECK(maps[k * plane + static_cast<std::size_t>(p)] == 0.0);
        else
          CHECK(maps[k * plane + static_cast<std::size_t>(p)] == Approx(expected[k * plane + static_cast<std::size_t>(p)]).epsilon(1e-12).margin(1e-12));
      }
    // Size 3 at stride 2 leaves the last row and column uncovered ([2i - 1, 2i + 1) ends at
    // side - 1): the zero branch above is exercised.
    if (o.size == 3 && o.stride == 2) CHECK(covered[static_cast<std::size_t>(plane - 1)] == 0);
  }
}

TEST_CASE("occlusion of a network is the window-by-window logit drop of the image with the window black",
          "[attribution][occlusion]") {
  using Net = net8;
  constexpr index_t plane = 64;
  const auto net = make_net<Net>(53);
  const auto image = random_image(Net::image_shape::size, 54);
  const std::vector<index_t> classes{0, 2};
  for (const occlusion_options o : {occlusion5, occlusion9, occlusion_options{4, 2}}) {
    INFO("size " << o.size << ", stride " << o.stride);
    const auto expected = reference_occlusion(net, image, classes, o.size, o.stride);
    const auto maps = occlusion(net, image.data(), classes, o);
    REQUIRE(maps.size() == classes.size() * plane);
    CHECK(rel_err(maps.data(), expected) < tol::reorder);
  }
}

// ---- RISE -----------------------------------------------------------------------------------

TEST_CASE("rise_mask: values in [0, 1], the keep probability, determinism per seed and index", "[attribution][rise]") {
  const rise_options o;  // the paper's: grid 6, keep 0.1, seed 0
  CHECK(o.masks == 6000);
  CHECK(o.grid == 6);
  CHECK(o.keep == 0.1);
  CHECK(o.seed == 0);
  double sum = 0, lo = 1, hi = 0;
  constexpr index_t count = 200;
  for (index_t i = 0; i < count; ++i) {
    const auto m = library_rise_mask(o, i, 32, 32);
    for (double v : m) {
      CHECK((v >= 0.0 && v <= 1.0));
      sum += v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  CHECK(lo == 0.0);
  CHECK(hi > 0.5);
  // A mask pixel is a convex combination of cells kept with probability p, so its expectation
  // is p: over 200 masks (7200 cells) the mean is 0.1 within a few of its ~0.004 standard
  // deviations. A keep test the wrong way round (u >= p) would give 0.9.
  CHECK(std::abs(sum / double(count * 1024) - 0.1) < 0.02);

  // The same seed and index: the same mask; another seed or index: another mask.
  CHECK(library_rise_mask(o, 7, 32, 32) == library_rise_mask(o, 7, 32, 32));
  CHECK(library_rise_mask(o, 7, 32, 32) != library_rise_mask(o, 8, 32, 32));
  rise_options other = o;
  other.seed = 1;
  CHECK(library_rise_mask(o, 7, 32, 32) != library_rise_mask(other, 7, 32, 32));

  // keep = 1: every cell is kept and every mask is all ones (up to the rounding of
  // (1 - f) + f).
  rise_options all = o;
  all.keep = 1.0;
  for (index_t i : {0, 1, 17}) {
    const auto m = library_rise_mask(all, i, 32, 32);
    for (double v : m) CHECK(v == Approx(1.0).epsilon(0).margin(mask_ulps));
  }

  CHECK_THROWS_AS(library_rise_mask(rise_options{6000, 6, 0.0, 0}, 0, 32, 32), argument_error);
  CHECK_THROWS_AS(library_rise_mask(rise_options{6000, 6, 1.5, 0}, 0, 32, 32), argument_error);
  CHECK_THROWS_AS(library_rise_mask(rise_options{6000, 0, 0.1, 0}, 0, 32, 32), argument_error);
  CHECK_THROWS_AS(library_rise_mask(rise_options{0, 6, 0.1, 0}, 0, 32, 32), argument_error);
}

TEST_CASE("rise_mask is the documented resize-then-crop of the cells of its random stream", "[attribution][rise]") {
  for (const rise_options o : {rise_options{6000, 6, 0.1, 0}, rise_options{10, 6, 0.5, 3}, rise_options{10, 3, 0.5, 9},
                               rise_options{10, 4, 0.3, 2}, rise_options{10, 1, 0.5, 4}}) {
    for (const auto& [h, w] : {std::pair<index_t, index_t>{32, 32}, std::pair<index_t, index_t>{8, 8}, std::pair<index_t, index_t>{7, 12}}) {
      for (index_t i : {0, 1, 5, 123}) {
        INFO("grid " << o.grid << ", keep " << o.keep << ", seed " << o.seed << ", " << h << "x" << w << ", mask " << i);
        const auto got = library_rise_mask(o, i, h, w);
        const auto expected = documented_rise_mask(o, i, h, w);
        double diff = 0;
        for (std::size_t p = 0; p < got.size(); ++p) diff = std::max(diff, std::abs(got[p] - expected[p]));
        CHECK(diff <= mask_ulps);
      }
    }
  }
}

TEST_CASE("rise_mask reproduces the fixture's reference masks (seed 0, grid 6, keep 0.1, 32x32)", "[attribution][rise][golden]") {
  // tests/fixtures/make_attribution_fixtures.py draws the cells and shifts from the same
  // counter-based stream in numpy and resizes them as skimage.transform.resize(order=1,
  // mode='reflect') does, independently of the library: tensor rise.masks [3][32][32], stored
  // as float32. Rounding a value in [0, 1] to float moves it by at most 2^-25, so the masks
  // must agree to that (a wrong tap or weight is off by a multiple of 1/49 here).
  constexpr double float_storage = 0x1p-25 + mask_ulps;
  const auto file = safetensors_file::read(fixture_path("attribution_cifar10_9l_seed7.safetensors"));
  const tensor_entry* e = file.find("rise.masks");
  REQUIRE(e != nullptr);
  REQUIRE(e->shape == std::vector<std::int64_t>{3, 32, 32});
  CHECK(file.metadata().at("rise_grid") == "6");
  CHECK(file.metadata().at("rise_keep") == "0.1");
  CHECK(file.metadata().at("rise_seed") == "0");
  const auto expected = fixture_values<double>(file, "rise.masks");
  const rise_options o{500, 6, 0.1, 0};
  for (index_t i = 0; i < 3; ++i) {
    INFO("mask " << i);
    const auto got = library_rise_mask(o, i, 32, 32);
    double diff = 0, mass = 0;
    for (std::size_t p = 0; p < got.size(); ++p) {
      diff = std::max(diff, std::abs(got[p] - expected[std::size_t(i) * 1024 + p]));
      mass += got[p];
    }
    CHECK(diff <= float_storage);
    CHECK(mass > 0);  // a mask with kept cells, so that the comparison sees the interpolation
  }
}

TEST_CASE("RISE of a network is sum_i sigmoid(f_t(x * mask_i)) mask_i / (M p)", "[attribution][rise]") {
  using Net = net8;
  constexpr index_t C = 3, H = 8, W = 8, plane = H * W;
  const auto net = make_net<Net>(55);
  const auto image = random_image(Net::image_shape::size, 56);
  const std::vector<index_t> classes{1, 2};
  // 40 masks: two full batches of 16 and a partial one.
  for (const rise_options o : {rise_options{40, 4, 0.3, 11}, rise_options{40, 6, 0.1, 0}}) {
    INFO("grid " << o.grid << ", keep " << o.keep);
    std::vector<double> expected(classes.size() * plane, 0.0);
    for (index_t i = 0; i < o.masks; ++i) {
      const auto mask = library_rise_mask(o, i, H, W);
      auto x = image;
      for (index_t c = 0; c < C; ++c)
        for (index_t p = 0; p < plane; ++p) x[static_cast<std::size_t>(c * plane + p)] *= mask[static_cast<std::size_t>(p)];
      const auto l = logits_of_images(net, x.data());
      for (std::size_t k = 0; k < classes.size(); ++k) {
        const double score = sigmoid(l[static_cast<std::size_t>(classes[k])]);
        for (index_t p = 0; p < plane; ++p)
          expected[k * plane + static_cast<std::size_t>(p)] += score * mask[static_cast<std::size_t>(p)] / (double(o.masks) * o.keep);
      }
    }
    const auto maps = rise(net, image.data(), classes, o);
    REQUIRE(maps.size() == classes.size() * plane);
    CHECK(rel_err(maps.data(), expected) < tol::reorder);
    CHECK(rel_err(maps.data() + plane, std::vector<double>(expected.begin(), expected.begin() + plane)) > 1e-6);  // per class
  }
}

}  // namespace test_attribution_perturbation

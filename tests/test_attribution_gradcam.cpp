// Grad-CAM (coda/attribution/gradcam.hpp) against an independent computation. At the output A
// of the last DAU layer (the class maps, shape<classes, h, w>), the head sums the positions and
// divides by T, so Grad-CAM's channel weights mean_positions(d f_t / d A_k) are 1/T for k = t and
// 0 otherwise and the map is ReLU(A_t / T), upsampled by nearest neighbour (PyTorch's
// mode="nearest": output pixel y reads row floor(y h / H)).
//
// A_t / T is obtained here through the contributions path, not from the tape node Grad-CAM
// reads: with a 1x1, stride-1, unpadded last layer, output position p of A depends only on input
// position p of that layer, and A_t(p) = sum_i W_t,i(x_p) x_p,i has no additive term, so the
// contributions of class t at the last layer's input (layer_contributions<depth - 1>, a frozen
// backward pass through the head) summed over the input channels at p are A_t(p) / T exactly.
// The tape's head input is read as well, and checked to be A by the logits it sums to.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "support/attribution_nets.hpp"  // first: see its note on gradcam.hpp
#include "coda/attribution/gradcam.hpp"

namespace test_attribution_gradcam {

using namespace coda;
using namespace coda::test;
namespace tol = coda::test::attribution_tolerance;

namespace {

/// Nearest-neighbour upsampling written from PyTorch's rule: out(y, x) = in(floor(y h / H),
/// floor(x w / W)).
std::vector<double> nearest(const std::vector<double>& in, index_t h, index_t w, index_t H, index_t W) {
  std::vector<double> out(static_cast<std::size_t>(H * W));
  for (index_t y = 0; y < H; ++y)
    for (index_t x = 0; x < W; ++x) {
      const auto sy = static_cast<index_t>(std::floor(double(y) * double(h) / double(H)));
      const auto sx = static_cast<index_t>(std::floor(double(x) * double(w) / double(W)));
      out[static_cast<std::size_t>(y * W + x)] = in[static_cast<std::size_t>(sy * w + sx)];
    }
  return out;
}

template <class Net>
void check_gradcam(std::uint64_t seed) {
  constexpr std::size_t last = Net::depth - 1;
  using L = typename Net::template layer<last>;
  using A = typename Net::output_map_shape;
  using In = typename Net::template layer_input_shape<last>;
  static_assert(L::kernel == 1 && L::stride == 1 && L::pad == 0,
                "the contributions path to A needs a 1x1, stride-1, unpadded last layer");
  constexpr index_t K = A::dim(0), h = A::dim(1), w = A::dim(2), positions = h * w;
  constexpr index_t H = Net::image_shape::dim(1), W = Net::image_shape::dim(2);
  static_assert(In::dim(1) == h && In::dim(2) == w, "the last layer keeps the positions");
  const auto net = make_net<Net>(seed);
  const auto image = random_image(Net::image_shape::size, static_cast<std::uint32_t>(seed + 1));
  const auto logits = logits_of_images(net, image.data());

  // A from a forward recording: the input of node depth + 1 (the head). It is A: its sums over
  // the positions, / T + bias, are the logits.
  tape<double> t;
  t.prepare(record_mode::none, Net::workspace_size(1, record_mode::none, 0), Net::tape_nodes);
  net.forward(image.data(), 1, t);
  const double* head_input = t.node(Net::depth + 1).input;
  const std::vector<double> a(head_input, head_input + A::size);
  for (index_t k = 0; k < K; ++k) {
    double s = 0;
    for (index_t p = 0; p < positions; ++p) s += a[static_cast<std::size_t>(k * positions + p)];
    CHECK(s / net.temperature() + net.logit_bias() == Approx(logits[static_cast<std::size_t>(k)]).epsilon(tol::reorder));
  }

  std::vector<index_t> classes(static_cast<std::size_t>(K));
  for (index_t k = 0; k < K; ++k) classes[static_cast<std::size_t>(k)] = K - 1 - k;  // all classes, reversed
  const auto maps = gradcam(net, image.data(), classes);
  REQUIRE(maps.size() == classes.size() * static_cast<std::size_t>(H * W));

  tensor<double, typename Net::image_shape> images(1);
  std::copy(image.begin(), image.end(), images.data());
  bool some_positive = false, some_clipped = false;
  for (std::size_t k = 0; k < classes.size(); ++k) {
    const index_t cls = classes[k];
    INFO("class " << cls);
    // A_t / T through the contributions path, checked against the tape's A.
    const auto contrib = layer_contributions<last>(net, images.view(), {cls});
    std::vector<double> scaled(static_cast<std::size_t>(positions)), from_tape(static_cast<std::size_t>(positions));
    for (index_t p = 0; p < positions; ++p) {
      double s = 0;
      for (index_t c = 0; c < In::dim(0); ++c) s += contrib.data()[c * positions + p];
      scaled[static_cast<std::size_t>(p)] = s;
      from_tape[static_cast<std::size_t>(p)] = a[static_cast<std::size_t>(cls * positions + p)] / net.temperature();
    }
    CHECK(rel_err(scaled.data(), from_tape) < tol::reorder);

    std::vector<double> cam(scaled);
    for (double& v : cam) {
      some_clipped = some_clipped || v < 0;
      some_positive = some_positive || v > 0;
      v = std::max(v, 0.0);
    }
    const auto expected = nearest(cam, h, w, H, W);
    CHECK(rel_err(maps.data() + k * H * W, expected) < tol::reorder);
  }
  // The case exercises both branches of the ReLU.
  CHECK(some_positive);
  CHECK(some_clipped);
}

}  // namespace

TEST_CASE("gradcam is ReLU(A_t / T) at the last DAU layer's output, upsampled by nearest neighbour", "[attribution][gradcam]") {
  SECTION("net8: 3 class maps of 4x4, upsampled twice") { check_gradcam<net8>(61); }
  SECTION("net32: 4 class maps of 8x8, upsampled four times") { check_gradcam<net32>(63); }
}

TEST_CASE("upsample_nearest reads floor(y h / H), as PyTorch's interpolate(mode='nearest')", "[attribution][gradcam]") {
  // Source rows of torch.nn.functional.interpolate(mode="nearest") for h -> H (torch 1.13):
  // 3 -> 7 and 6 -> 9, non-integer ratios, as rows and columns of one map.
  const std::vector<index_t> rows_3_to_7{0, 0, 0, 1, 1, 2, 2};
  const std::vector<index_t> cols_6_to_9{0, 0, 1, 2, 2, 3, 4, 4, 5};
  constexpr index_t h = 3, w = 6, H = 7, W = 9;
  std::vector<double> in(h * w), out(H * W, -1.0);
  for (index_t i = 0; i < h * w; ++i) in[static_cast<std::size_t>(i)] = double(i);
  upsample_nearest(in.data(), h, w, out.data(), H, W);
  for (index_t y = 0; y < H; ++y)
    for (index_t x = 0; x < W; ++x) {
      INFO("(" << y << ", " << x << ")");
      CHECK(out[static_cast<std::size_t>(y * W + x)] == in[static_cast<std::size_t>(rows_3_to_7[std::size_t(y)] * w + cols_6_to_9[std::size_t(x)])]);
    }
  CHECK(nearest(in, h, w, H, W) == out);
}

}  // namespace test_attribution_gradcam

// Winograd's F(2x2, 3x3) against the direct products it replaces: in the training backward, the
// weight gradient (the patches times the Kronecker rows alpha (x) z, summed over every position)
// and the input gradient (B (alpha (x) z), scattered back to the image); in the training
// forward, t = B^T x and the sums over r of z_r t_r.
#include <catch2/catch.hpp>
#include <random>
#include <vector>

#include "coda/kernels/winograd.hpp"
#include "support/tolerance.hpp"

namespace test_winograd {

using namespace coda;

namespace {

/// A geometry, the images side by side, and the rows O * R of the product.
struct shape_case {
  kernels::conv_dims g;
  index_t images, O, R;
};

/// dB and dL/dx from both algorithms for `images` images of geometry g, gradients of O * R
/// columns; returns the larger relative error of the two.
template <class T>
double winograd_error(const kernels::conv_dims& g, index_t images, index_t O, index_t R, unsigned seed) {
  const index_t P = g.positions(), NP = images * P, J = g.patch_size(), n = O * R, in = g.image_size();
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<T> x(static_cast<std::size_t>(images * in)), alpha(static_cast<std::size_t>(O * NP)), z_t(static_cast<std::size_t>(NP * R)),
      b(static_cast<std::size_t>(J * n));
  for (auto* v : {&x, &alpha, &z_t, &b})
    for (auto& e : *v) e = T(u(rng));
  // Both add to what dB and dx hold.
  std::vector<T> direct(static_cast<std::size_t>(J * n)), fast, direct_dx(x.size()), fast_dx;
  for (auto* v : {&direct, &direct_dx})
    for (auto& e : *v) e = T(u(rng));
  fast = direct;
  fast_dx = direct_dx;

  std::vector<T> cols(static_cast<std::size_t>(J * NP)), gcols(cols.size());
  for (index_t k = 0; k < images; ++k) kernels::im2col(g, x.data() + k * in, cols.data() + k * P, NP, 0, P);
  arena<T> scratch;
  scratch.reserve(kernels::gemm_scratch<T>(J, n, NP) + kernels::gemm_scratch<T>(J, NP, n));
  const kernels::kronecker_rows_ref<T> alpha_z{kernels::transposed(alpha.data(), NP), kernels::row_major(z_t.data(), R), R};
  kernels::gemm<T>(J, n, NP, kernels::row_major(cols.data(), NP), alpha_z, direct.data(), n, true, scratch);
  kernels::gemm<T>(J, NP, n, kernels::row_major(b.data(), n), alpha_z.transpose(), gcols.data(), NP, false, scratch);
  for (index_t k = 0; k < images; ++k) kernels::col2im_add(g, gcols.data() + k * P, NP, 0, P, direct_dx.data() + k * in);

  std::vector<T> weights(kernels::winograd_weights_size<T>(g.channels, n));
  arena<T> transform;
  transform.reserve(kernels::winograd_transform_scratch<T>(g.channels, n));
  kernels::transform_winograd_weights<T>(g.channels, n, b.data(), weights.data(), transform);
  const kernels::winograd_input_gradient<T> input{weights.data(), fast_dx.data()};
  const std::size_t need = kernels::winograd_backward_scratch<T>(g, NP, n, true);
  arena<T> own;
  own.reserve(need);
  const std::vector<T> dx_before = fast_dx;
  kernels::winograd_backward<T>(g, images, x.data(), alpha.data(), z_t.data(), O, R, fast.data(), n, &input, own);
  CHECK(own.peak() <= need);
  // The input gradient alone: the same sums, bit for bit.
  std::vector<T> dx_only = dx_before;
  const kernels::winograd_input_gradient<T> only{weights.data(), dx_only.data()};
  kernels::winograd_backward<T>(g, images, x.data(), alpha.data(), z_t.data(), O, R, static_cast<T*>(nullptr), n, &only, own);
  CHECK(dx_only == fast_dx);
  return std::max(test::relative_error(fast.data(), direct.data(), fast.size()),
                  test::relative_error(fast_dx.data(), direct_dx.data(), fast_dx.size()));
}

}  // namespace

TEST_CASE("Winograd's weight and input gradients equal the direct products", "[winograd][kernels][grad]") {
  // Odd ranks (a vector's worth of columns and a remainder), more columns than one block (64),
  // several images side by side, non-square images, tiles at every border.
  const shape_case cases[] = {
      {{32, 4, 6, 3, 1, 1}, 1, 3, 5},  {{32, 6, 4, 3, 1, 1}, 3, 5, 19}, {{33, 2, 2, 3, 1, 1}, 2, 2, 40},
      {{40, 8, 8, 3, 1, 1}, 2, 4, 16}, {{32, 2, 10, 3, 1, 1}, 1, 1, 1},
  };
  unsigned seed = 1;
  for (const auto& c : cases) {
    INFO("C=" << c.g.channels << " " << c.g.height << "x" << c.g.width << " images=" << c.images << " O=" << c.O << " R=" << c.R);
    REQUIRE(kernels::winograd_weight_gradient_applies(c.g));
    CHECK(winograd_error<double>(c.g, c.images, c.O, c.R, seed) <= test::tolerance::double_reorder);
    // Float: the transforms add and subtract at most nine terms before and after the products,
    // so the error stays that of a reordered sum.
    CHECK(winograd_error<float>(c.g, c.images, c.O, c.R, seed) <= test::tolerance::float_reorder);
    ++seed;
  }
}

TEST_CASE("the training backward takes Winograd's weight gradient where it is faster", "[winograd][kernels]") {
  // cifar10-9l: the stride-1 3x3 layers with 32 and 64 input channels (L3, L4, L6, L7), not the
  // first two (6 and 16 channels) nor the strided or 1x1 ones.
  CHECK(kernels::winograd_weight_gradient_applies({32, 16, 16, 3, 1, 1}));
  CHECK(kernels::winograd_weight_gradient_applies({64, 8, 8, 3, 1, 1}));
  CHECK_FALSE(kernels::winograd_weight_gradient_applies({16, 32, 32, 3, 1, 1}));
  CHECK_FALSE(kernels::winograd_weight_gradient_applies({32, 16, 16, 3, 2, 1}));
  CHECK_FALSE(kernels::winograd_weight_gradient_applies({64, 8, 8, 1, 1, 0}));
  CHECK_FALSE(kernels::winograd_weight_gradient_applies({32, 7, 8, 3, 1, 1}));  // odd side: no whole tiles
}

namespace {

/// The training forward's t = B^T x and sums[o][q] = sum_r z_r t_(o,r) from Winograd's forward
/// against im2col and the direct product; returns the larger relative error of the two.
template <class T>
double winograd_forward_error(const kernels::conv_dims& g, index_t images, index_t O, index_t R, unsigned seed) {
  const index_t P = g.positions(), NP = images * P, J = g.patch_size(), n = O * R;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<T> x(static_cast<std::size_t>(images * g.image_size())), b(static_cast<std::size_t>(J * n)),
      z(static_cast<std::size_t>(R * NP)), sums(static_cast<std::size_t>(O * NP));
  for (auto* v : {&x, &b, &z, &sums})
    for (auto& e : *v) e = T(u(rng));
  std::vector<T> cols(static_cast<std::size_t>(J * NP)), direct(static_cast<std::size_t>(n * NP));
  for (index_t k = 0; k < images; ++k) kernels::im2col(g, x.data() + k * g.image_size(), cols.data() + k * P, NP, 0, P);
  arena<T> scratch;
  scratch.reserve(kernels::gemm_scratch<T>(n, NP, J));
  kernels::gemm<T>(n, NP, J, kernels::transposed(b.data(), n), kernels::row_major(cols.data(), NP), direct.data(), NP, false, scratch);
  std::vector<T> direct_sums = sums;
  for (index_t i = 0; i < n; ++i)
    for (index_t q = 0; q < NP; ++q) direct_sums[(i / R) * NP + q] += z[(i % R) * NP + q] * direct[i * NP + q];

  const index_t C = kernels::winograd_forward_channels<T>(g.channels, g.kernel, g.stride, g.pad);
  REQUIRE(C == g.channels);
  std::vector<T> weights(kernels::winograd_weights_size<T>(C, n), T(99));
  arena<T> transform;
  transform.reserve(kernels::winograd_transform_scratch<T>(C, n));
  kernels::transform_winograd_weights<T>(C, n, b.data(), weights.data(), transform);
  std::vector<std::vector<T>> records(static_cast<std::size_t>(images), std::vector<T>(static_cast<std::size_t>(n * P), T(99)));
  std::vector<T*> t_of;
  for (auto& r : records) t_of.push_back(r.data());
  const std::size_t need = kernels::winograd_forward_scratch<T>(g, NP, n, R);
  arena<T> own;
  own.reserve(need);
  kernels::winograd_forward_t<T>(g, images, x.data(), weights.data(), n, R, z.data(), t_of.data(), sums.data(), own);
  CHECK(own.peak() <= need);
  std::vector<T> fast(direct.size());
  for (index_t i = 0; i < n; ++i)
    for (index_t k = 0; k < images; ++k) std::copy_n(records[k].data() + i * P, P, fast.data() + i * NP + k * P);
  return std::max(test::relative_error(fast.data(), direct.data(), fast.size()),
                  test::relative_error(sums.data(), direct_sums.data(), sums.size()));
}

}  // namespace

TEST_CASE("Winograd's training forward equals the direct product and its sums over r", "[winograd][kernels]") {
  // cifar10-9l's layers as the training forward groups them, and double layers whose O*R rows
  // end in a partial panel, with non-square images.
  for (const shape_case& c : {shape_case{{32, 16, 16, 3, 1, 1}, 2, 32, 64}, shape_case{{64, 8, 8, 3, 1, 1}, 4, 64, 64},
                              shape_case{{64, 8, 8, 3, 1, 1}, 8, 64, 64}}) {
    INFO("C=" << c.g.channels << " " << c.g.height << "x" << c.g.width << " images=" << c.images);
    REQUIRE(kernels::winograd_forward_applies<float>(c.g));
    CHECK(winograd_forward_error<float>(c.g, c.images, c.O, c.R, 7) <= test::tolerance::float_reorder);
  }
  for (const shape_case& c : {shape_case{{32, 4, 6, 3, 1, 1}, 3, 3, 5}, shape_case{{40, 6, 2, 3, 1, 1}, 2, 2, 7}}) {
    INFO("C=" << c.g.channels << " " << c.g.height << "x" << c.g.width << " images=" << c.images);
    REQUIRE(kernels::winograd_forward_applies<double>(c.g));
    CHECK(winograd_forward_error<double>(c.g, c.images, c.O, c.R, 8) <= test::tolerance::double_reorder);
  }
}

TEST_CASE("the training forward takes Winograd's t for 3x3 layers of 32 channels or more", "[winograd][kernels]") {
  CHECK(kernels::winograd_forward_applies<float>({32, 16, 16, 3, 1, 1}));
  CHECK(kernels::winograd_forward_applies<float>({64, 8, 8, 3, 1, 1}));
  CHECK_FALSE(kernels::winograd_forward_applies<float>({16, 32, 32, 3, 1, 1}));  // shallow products: slower
  CHECK_FALSE(kernels::winograd_forward_applies<float>({32, 16, 16, 3, 2, 1}));  // stride 2
  CHECK_FALSE(kernels::winograd_forward_applies<float>({64, 8, 8, 1, 1, 0}));
  CHECK_FALSE(kernels::winograd_forward_applies<float>({32, 16, 15, 3, 1, 1}));  // odd side: no whole tiles
  CHECK_FALSE(kernels::winograd_forward_applies<float>({512, 4, 4, 3, 1, 1}));   // deeper than one packed block
  // The layout holds the transformed weights exactly where a layer qualifies.
  CHECK(kernels::winograd_forward_channels<float>(32, 3, 1, 1) == 32);
  CHECK(kernels::winograd_forward_channels<float>(32, 3, 2, 1) == 0);
}

}  // namespace test_winograd

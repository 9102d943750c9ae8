// Winograd's F(2x2, 3x3) weight gradient against the direct product it replaces in the training
// backward: the patches times the Kronecker rows alpha (x) z, summed over every position.
#include <catch2/catch.hpp>
#include <random>
#include <vector>

#include "coda/kernels/winograd.hpp"
#include "support/tolerance.hpp"

using namespace coda;

namespace {

/// dB from both algorithms for `images` images of geometry g, gradients of O * R columns.
template <class T>
double winograd_error(const kernels::conv_dims& g, index_t images, index_t O, index_t R, unsigned seed) {
  const index_t P = g.positions(), NP = images * P, J = g.patch_size(), n = O * R;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<T> x(static_cast<std::size_t>(images * g.image_size())), alpha(static_cast<std::size_t>(O * NP)),
      z_t(static_cast<std::size_t>(NP * R));
  for (auto* v : {&x, &alpha, &z_t})
    for (auto& e : *v) e = T(u(rng));
  // Both add to what dB holds.
  std::vector<T> direct(static_cast<std::size_t>(J * n)), fast;
  for (auto& e : direct) e = T(u(rng));
  fast = direct;

  std::vector<T> cols(static_cast<std::size_t>(J * NP));
  for (index_t k = 0; k < images; ++k) kernels::im2col(g, x.data() + k * g.image_size(), cols.data() + k * P, NP, 0, P);
  arena<T> scratch;
  scratch.reserve(kernels::gemm_scratch<T>(J, n, NP) + kernels::winograd_weight_gradient_scratch<T>(g, NP, n));
  kernels::gemm<T>(J, n, NP, kernels::row_major(cols.data(), NP),
                   kernels::kronecker_rows_ref<T>{kernels::transposed(alpha.data(), NP), kernels::row_major(z_t.data(), R), R},
                   direct.data(), n, true, scratch);
  const std::size_t need = kernels::winograd_weight_gradient_scratch<T>(g, NP, n);
  arena<T> own;
  own.reserve(need);
  kernels::winograd_weight_gradient<T>(g, images, x.data(), alpha.data(), z_t.data(), O, R, fast.data(), n, own);
  CHECK(own.peak() <= need);
  return test::relative_error(fast.data(), direct.data(), fast.size());
}

}  // namespace

TEST_CASE("Winograd weight gradient equals the direct sum over positions", "[winograd][kernels][grad]") {
  struct shape_case {
    kernels::conv_dims g;
    index_t images, O, R;
  };
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

// The fast DAU kernels against the reference kernels: every layer shape of cifar10-9l, and
// small layers covering both norms, strides 1 and 2, kernels 1 and 3, padding 0 and 1, odd and
// non-square images (edge positions).
#include <catch2/catch.hpp>
#include <random>
#include <vector>

#include "coda/kernels/dau_fast.hpp"
#include "coda/kernels/dau_reference.hpp"
#include "coda/nn/presets.hpp"
#include "support/random_layer.hpp"
#include "support/tolerance.hpp"

using namespace coda;

namespace {

using test::random_layer;

template <class Norm, class T>
void check_forward(const kernels::dau_dims& g, unsigned seed, double tol) {
  const random_layer<T> layer(g, seed);
  std::vector<T> expect(g.output_size()), got(g.output_size());
  kernels::dau_forward_reference<Norm>(g, layer.weights(), layer.x.data(), expect.data());
  arena<T> scratch;
  const std::size_t need = kernels::dau_forward_scratch<T>(g, false, false);
  scratch.reserve(need);
  kernels::dau_forward<Norm>(g, layer.weights(), layer.x.data(), got.data(), {}, scratch);
  CHECK(scratch.peak() <= need);
  CHECK(test::relative_error(got.data(), expect.data(), got.size()) < tol);
}

template <class Norm, class T>
void check_explain(const kernels::dau_dims& g, index_t seeds, unsigned seed, double tol) {
  const random_layer<T> layer(g, seed);
  const index_t P = g.positions(), O = g.c_out, R = g.rank;
  std::vector<T> y(g.output_size()), z(R * P), scale(O * P), grad_out(seeds * O * P);
  std::mt19937 rng(seed + 1);
  std::uniform_real_distribution<double> u(-1, 1);
  for (auto& e : grad_out) e = T(u(rng));
  arena<T> scratch;
  scratch.reserve(kernels::dau_forward_scratch<T>(g, true, false) + kernels::dau_explain_scratch<T>(g));
  kernels::dau_state<T> s;
  s.z = z.data();
  s.scale = scale.data();
  kernels::dau_forward<Norm>(g, layer.weights(), layer.x.data(), y.data(), s, scratch);
  std::vector<T> expect(seeds * g.conv.image_size()), got(expect.size(), T(99));
  kernels::dau_explain_reference<Norm>(g, layer.weights(), layer.x.data(), seeds, grad_out.data(), expect.data());
  kernels::dau_explain_backward<T>(g, layer.weights(), z.data(), scale.data(), seeds, grad_out.data(), got.data(), scratch);
  CHECK(test::relative_error(got.data(), expect.data(), got.size()) < tol);
}

// (C_in, H, W, k, stride, pad, C_out, R) of each cifar10-9l layer.
const kernels::dau_dims cifar_layers[] = {
    {{6, 32, 32, 3, 1, 1}, 16, 32},  {{16, 32, 32, 3, 1, 1}, 16, 32}, {{16, 32, 32, 3, 2, 1}, 32, 64},
    {{32, 16, 16, 3, 1, 1}, 32, 64}, {{32, 16, 16, 3, 1, 1}, 32, 64}, {{32, 16, 16, 3, 2, 1}, 64, 64},
    {{64, 8, 8, 3, 1, 1}, 64, 64},   {{64, 8, 8, 3, 1, 1}, 64, 64},   {{64, 8, 8, 1, 1, 0}, 10, 64},
};

const kernels::dau_dims small_layers[] = {
    {{3, 7, 5, 3, 1, 1}, 4, 3},  {{2, 9, 9, 3, 2, 1}, 3, 5},  {{5, 6, 7, 3, 2, 0}, 2, 4},
    {{4, 5, 5, 1, 1, 0}, 7, 2},  {{3, 8, 6, 1, 2, 0}, 5, 6},  {{6, 11, 3, 3, 1, 0}, 3, 7},
    {{1, 70, 3, 3, 1, 1}, 2, 2},  // more positions than one tile, a single column of them
};

}  // namespace

TEST_CASE("fast forward matches the reference on every cifar10-9l layer", "[dau][kernels][cifar10-9l]") {
  unsigned seed = 1;
  for (const auto& g : cifar_layers) {
    INFO("layer with C_in=" << g.conv.channels << " C_out=" << g.c_out << " R=" << g.rank);
    check_forward<squash, float>(g, seed++, test::tolerance::float_reorder);
  }
}

TEST_CASE("fast frozen backward matches the reference on every cifar10-9l layer", "[dau][kernels][explain][cifar10-9l]") {
  unsigned seed = 20;
  for (const auto& g : cifar_layers) {
    INFO("layer with C_in=" << g.conv.channels << " C_out=" << g.c_out << " R=" << g.rank);
    check_explain<squash, float>(g, 2, seed++, test::tolerance::float_reorder);
  }
}

TEST_CASE("fast kernels match the reference for both norms, strides, kernels and paddings", "[dau][kernels]") {
  unsigned seed = 40;
  for (const auto& g : small_layers) {
    INFO("C_in=" << g.conv.channels << " " << g.conv.height << "x" << g.conv.width << " k=" << g.conv.kernel
                 << " s=" << g.conv.stride << " p=" << g.conv.pad << " C_out=" << g.c_out << " R=" << g.rank);
    check_forward<squash, double>(g, seed, test::tolerance::double_reorder);
    check_forward<l2, double>(g, seed, test::tolerance::double_reorder);
    check_explain<squash, double>(g, 3, seed, test::tolerance::double_reorder);
    check_explain<l2, double>(g, 1, seed, test::tolerance::double_reorder);
    ++seed;
  }
}

TEST_CASE("the frozen backward carries any number of gradients, in groups of at most ten", "[dau][kernels][explain]") {
  // 10 is one full group of the micro-kernel, 13 a full group and a partial one; 35 positions
  // leave a partial position block, 5 output channels a partial channel block.
  const kernels::dau_dims g{{3, 7, 5, 3, 1, 1}, 5, 4};
  check_explain<squash, double>(g, 10, 90, test::tolerance::double_reorder);
  check_explain<l2, double>(g, 13, 91, test::tolerance::double_reorder);
  check_explain<squash, float>(g, 13, 92, test::tolerance::float_reorder);
}

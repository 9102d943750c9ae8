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

namespace test_dau_kernels {

using namespace coda;

namespace {

using test::random_layer;

// Without a record (inference: tiles of positions) and with the training record (whole images;
// Winograd's t where it applies).
template <class Norm, class T>
void check_forward(const kernels::dau_dims& g, unsigned seed, double tol) {
  const random_layer<T> layer(g, seed);
  std::vector<T> expect(g.output_size()), got(g.output_size());
  kernels::dau_forward_reference<Norm>(g, layer.weights(), layer.x.data(), expect.data());
  for (const bool records : {false, true}) {
    INFO("records " << records);
    test::train_record<T> record(g);
    arena<T> scratch;
    const std::size_t need = kernels::dau_forward_scratch<T>(g, records);
    scratch.reserve(need);
    kernels::dau_forward<Norm>(g, layer.weights(), layer.x.data(), got.data(), records ? record.state() : kernels::dau_state<T>{}, scratch);
    CHECK(scratch.peak() <= need);
    CHECK(test::relative_error(got.data(), expect.data(), got.size()) < tol);
  }
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
  scratch.reserve(kernels::dau_forward_scratch<T>(g, false) + kernels::dau_explain_scratch<T>(g));
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
    {{32, 6, 4, 3, 1, 1}, 3, 5},  // Winograd's t in the training forward, O*R rows ending in a partial panel
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

TEST_CASE("the training forward of several images at once is that of each image alone, bit for bit", "[dau][kernels][train]") {
  // The 8x8 layer of cifar10-9l (float: four images per product) and a small double layer whose
  // 64 positions make two micro-kernel panels per image; 5 images leave a partial group.
  const auto check = [](auto zero, const kernels::dau_dims& g, unsigned seed) {
    using T = decltype(zero);
    const index_t batch = 5, in = g.conv.image_size(), out = g.output_size();
    const index_t group = kernels::dau_forward_images<T>(g, batch);
    REQUIRE(group > 1);
    const random_layer<T> layer(g, seed);
    std::vector<T> xs;
    for (index_t n = 0; n < batch; ++n)
      for (T v : layer.x) xs.push_back(v * T(n + 1) / T(batch));  // a different image each
    std::vector<test::train_record<T>> alone(batch, test::train_record<T>(g)), together = alone;
    std::vector<T> y_alone(batch * out), y_together(batch * out);
    arena<T> scratch;
    const std::size_t need = kernels::dau_forward_scratch<T>(g, true, group);
    scratch.reserve(need);
    for (index_t n = 0; n < batch; ++n)
      kernels::dau_forward<squash>(g, layer.weights(), xs.data() + n * in, y_alone.data() + n * out, alone[n].state(), scratch);
    for (index_t n0 = 0; n0 < batch; n0 += group)
      kernels::dau_forward<squash>(g, layer.weights(), std::min(group, batch - n0), xs.data() + n0 * in, y_together.data() + n0 * out,
                                   [&](index_t k) { return together[n0 + k].state(); }, scratch);
    CHECK(scratch.peak() <= need);
    std::vector<T> expect(out);
    kernels::dau_forward_reference<squash>(g, layer.weights(), xs.data() + in, expect.data());
    CHECK(test::relative_error(y_alone.data() + out, expect.data(), expect.size()) < test::tolerance::float_reorder);
    CHECK(y_together == y_alone);
    for (index_t n = 0; n < batch; ++n) {
      CHECK(together[n].z == alone[n].z);
      CHECK(together[n].t == alone[n].t);
      CHECK(together[n].gz == alone[n].gz);
      CHECK(together[n].d == alone[n].d);
      CHECK(together[n].n2 == alone[n].n2);
      CHECK(together[n].scale == alone[n].scale);
    }
  };
  check(float(0), cifar_layers[6], 70);
  check(double(0), kernels::dau_dims{{3, 8, 8, 3, 1, 1}, 3, 5}, 71);
}

TEST_CASE("the frozen backward carries any number of gradients, in groups of at most ten", "[dau][kernels][explain]") {
  // 10 is one full group of the micro-kernel, 13 a full group and a partial one; 35 positions
  // leave a partial position block, 5 output channels a partial channel block.
  const kernels::dau_dims g{{3, 7, 5, 3, 1, 1}, 5, 4};
  check_explain<squash, double>(g, 10, 90, test::tolerance::double_reorder);
  check_explain<l2, double>(g, 13, 91, test::tolerance::double_reorder);
  check_explain<squash, float>(g, 13, 92, test::tolerance::float_reorder);
}

TEST_CASE("a symmetric matrix is rebuilt in place from its upper triangle", "[dau][kernels][train]") {
  for (index_t R : {1, 2, 7, 64}) {
    std::vector<double> m(static_cast<std::size_t>(R * R), -1.0), expect(m.size());
    index_t j = 0;
    for (index_t a = 0; a < R; ++a)
      for (index_t b = a; b < R; ++b) {
        const double value = double(a * 1000 + b);
        m[static_cast<std::size_t>(j++)] = value;
        expect[static_cast<std::size_t>(a * R + b)] = expect[static_cast<std::size_t>(b * R + a)] = value;
      }
    kernels::detail::symmetric_from_upper(R, m.data());
    INFO("R=" << R);
    CHECK(m == expect);
  }
}

}  // namespace test_dau_kernels

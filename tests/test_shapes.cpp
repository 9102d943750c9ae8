// Compile-time shapes and the tensor types.
#include <catch2/catch.hpp>
#include <type_traits>

#include "coda/nn/presets.hpp"

namespace test_shapes {

using namespace coda;

TEST_CASE("shape constants are computed at compile time", "[shape]") {
  using s = shape<6, 32, 32>;
  STATIC_REQUIRE(s::rank == 3);
  STATIC_REQUIRE(s::size == 6 * 32 * 32);
  STATIC_REQUIRE(s::stride(0) == 1024);
  STATIC_REQUIRE(s::stride(2) == 1);
  STATIC_REQUIRE(std::is_same_v<prepend_t<10, s>, shape<10, 6, 32, 32>>);
}

TEST_CASE("DAU output shapes follow the convolution arithmetic", "[shape][dau]") {
  STATIC_REQUIRE(std::is_same_v<dau_conv<16, 32, 64, 3, 2, 1>::output_shape<shape<16, 32, 32>>, shape<32, 16, 16>>);
  STATIC_REQUIRE(std::is_same_v<dau_conv<3, 4, 2, 3, 2, 0>::output_shape<shape<3, 7, 8>>, shape<4, 3, 3>>);
  STATIC_REQUIRE(std::is_same_v<dau_conv<64, 10, 64, 1, 1, 0>::output_shape<shape<64, 8, 8>>, shape<10, 8, 8>>);
}

TEST_CASE("the cifar10-9l preset has the paper's shapes and parameter count", "[shape][network]") {
  using net = cifar10_9l<float>;
  STATIC_REQUIRE(net::depth == 9);
  STATIC_REQUIRE(net::parameter_count == 7782816);
  STATIC_REQUIRE(std::is_same_v<net::encoded_shape, shape<6, 32, 32>>);
  STATIC_REQUIRE(std::is_same_v<net::layer_input_shape<2>, shape<16, 32, 32>>);
  STATIC_REQUIRE(std::is_same_v<net::layer_input_shape<6>, shape<64, 8, 8>>);
  STATIC_REQUIRE(std::is_same_v<net::output_map_shape, shape<10, 8, 8>>);
  STATIC_REQUIRE(std::is_same_v<net::contributions_shape, shape<10, 6, 32, 32>>);
  STATIC_REQUIRE(std::string_view(arch_name<net>::value) == "cifar10-9l");
  STATIC_REQUIRE(std::string_view(arch_name<cifar10_9l<double, l2>>::value) == "cifar10-9l");
  // The same layers, fully convolutional on a 3x3 grid of CIFAR images.
  STATIC_REQUIRE(std::is_same_v<net::with_image<shape<3, 96, 96>>::output_map_shape, shape<10, 24, 24>>);
}

TEST_CASE("tensors index samples in NCHW order and views share storage", "[tensor]") {
  tensor<float, shape<2, 3, 4>> t(5);
  REQUIRE(t.size() == 5 * 24);
  t(3, 1, 2, 3) = 7.f;
  CHECK(t.data()[3 * 24 + 1 * 12 + 2 * 4 + 3] == 7.f);
  tensor_view<const float, shape<2, 3, 4>> v = t;
  CHECK(v.slice(3, 2)(0, 1, 2, 3) == 7.f);
  CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
  t.array() = 2.f;
  CHECK(t.matrix().rows() == 5);
  CHECK(t.matrix().sum() == Approx(2.f * 120));
}

TEST_CASE("a sample lives inline, without heap storage", "[tensor]") {
  using s = sample<float, shape<6, 32, 32>>;
  STATIC_REQUIRE(sizeof(s) == 6 * 32 * 32 * sizeof(float));
  STATIC_REQUIRE(alignof(s) == 64);
  s x;
  x(5, 31, 31) = 1.f;
  CHECK(x.view()(0, 5, 31, 31) == 1.f);
  CHECK(x.array().sum() == 1.f);
}

}  // namespace test_shapes

// Moving a network: the parameter and derived buffers are stolen, not copied, and the moved-to
// network predicts exactly as the original did (its layer views point into the stolen buffers).
#include <catch2/catch.hpp>
#include <type_traits>
#include <utility>

#include "coda/nn/inference.hpp"
#include "support/random_network.hpp"

namespace test_network_move {

using namespace coda;

namespace {

using net_t = network<float, shape<3, 8, 8>, dau_conv<6, 5, 4, 3, 1, 1>, dau_conv<5, 4, 3, 3, 2, 1>>;

std::vector<float> logits_of(const net_t& net, const tensor<float, net_t::image_shape>& images) {
  const auto l = predict(net, images.view());
  return std::vector<float>(l.data(), l.data() + l.size());
}

}  // namespace

TEST_CASE("moving a network steals its parameters and keeps its predictions", "[network][move]") {
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<net_t>);
  STATIC_REQUIRE(std::is_nothrow_move_assignable_v<net_t>);
  const auto images = test::random_images<float, net_t::image_shape>(3, 11);
  net_t original = test::random_network<net_t>(5, 4.f, -0.5f);
  const std::vector<float> expected = logits_of(original, images);
  const float* params = original.parameters();

  SECTION("construction") {
    const net_t moved(std::move(original));
    CHECK(moved.parameters() == params);
    CHECK(logits_of(moved, images) == expected);
    CHECK(moved.temperature() == 4.f);
    CHECK(moved.logit_bias() == -0.5f);
  }
  SECTION("assignment") {
    net_t moved = test::random_network<net_t>(6);
    moved = std::move(original);
    CHECK(moved.parameters() == params);
    CHECK(logits_of(moved, images) == expected);
    CHECK(moved.temperature() == 4.f);
  }
  SECTION("assignment to itself changes nothing") {
    net_t& self = original;
    original = std::move(self);
    CHECK(original.parameters() == params);
    CHECK(logits_of(original, images) == expected);
  }
  SECTION("a moved-from network can be assigned again") {
    net_t moved(std::move(original));
    original = moved;
    CHECK(original.parameters() != params);
    CHECK(logits_of(original, images) == expected);
  }
}

}  // namespace test_network_move

// The embedded single-image path: once a workspace exists, predict, explain and explain_all
// perform no heap allocation, and Net::embedded_workspace_size is enough memory for them.
#include <catch2/catch.hpp>
#include <memory>

#include "coda/attribution/contributions.hpp"
#include "coda/nn/presets.hpp"
#include "support/allocation_counter.hpp"
#include "support/random_network.hpp"

using namespace coda;

namespace {

using net_t = cifar10_9l<float>;
using image_t = sample<float, net_t::image_shape>;

void fill(image_t& img) {
  for (index_t i = 0; i < img.size(); ++i) img.data()[i] = float((i * 37) % 101) / 100.f;
}

}  // namespace

TEST_CASE("single-image predict and explain do not allocate", "[embedded][alloc]") {
  const auto net = test::random_network<net_t>(1, 1000.f, -2.1972246f);
  workspace<net_t> ws;
  image_t image;
  fill(image);
  sample<float, net_t::logits_shape> logits, logits2;
  sample<float, net_t::encoded_shape> contrib;
  auto all = std::make_unique<sample<float, net_t::contributions_shape>>();

  const test::allocation_scope scope;
  predict(net, image, logits, ws);
  explain(net, image, 3, contrib, ws, &logits2);
  explain_all(net, image, *all, ws);
  CHECK(scope.count() == 0);
  CHECK(logits(3) == logits2(3));
  CHECK(ws.tape().memory().peak() <= workspace<net_t>::size);
}

TEST_CASE("the compile-time workspace size is enough, in caller storage", "[embedded][alloc]") {
  static_assert(workspace<net_t>::size == net_t::embedded_workspace_size);
  const auto net = test::random_network<net_t>(2, 1000.f, -2.1972246f);
  // Static-duration storage of exactly the advertised size, as an embedded application would use.
  alignas(64) static float buffer[workspace<net_t>::size];
  workspace<net_t> ws(buffer, workspace<net_t>::size);
  image_t image;
  fill(image);
  auto all = std::make_unique<sample<float, net_t::contributions_shape>>();
  const test::allocation_scope scope;
  explain_all(net, image, *all, ws);
  CHECK(scope.count() == 0);
  // Completeness as a check that the run did real work.
  sample<float, net_t::logits_shape> logits;
  predict(net, image, logits, ws);
  double sum = 0;
  for (index_t i = 0; i < net_t::encoded_shape::size; ++i) sum += (*all)(4, i / 1024, (i / 32) % 32, i % 32);
  CHECK(sum == Approx(double(logits(4)) - double(net.logit_bias())).margin(1e-6));
}

TEST_CASE("a workspace smaller than the advertised size is refused", "[embedded][errors]") {
  alignas(64) static float small[64];
  CHECK_THROWS_AS(workspace<net_t>(small, 64), argument_error);
}

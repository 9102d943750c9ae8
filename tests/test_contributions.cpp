// The exact linear decomposition: completeness (contributions sum to logit - beta) on random
// networks with both norms, strides 1 and 2, kernels 1 and 3, batch sizes 1 and odd; agreement
// with the reference kernels; the same identity at every intermediate layer.
#include <catch2/catch.hpp>
#include <cstring>
#include <numeric>

#include "coda/attribution/contributions.hpp"
#include "support/random_network.hpp"
#include "support/reference_network.hpp"
#include "support/tolerance.hpp"

namespace test_contributions {

using namespace coda;

namespace {

template <class Norm>
using mixed_net = network<double, shape<3, 9, 7>,           //
                          dau_conv<6, 5, 4, 3, 2, 1, Norm>,  // stride 2, padded, odd sizes
                          dau_conv<5, 4, 3, 3, 1, 0, Norm>,  // unpadded
                          dau_conv<4, 3, 5, 1, 1, 0, Norm>>;  // 1x1 head layer

using float_net = network<float, shape<3, 12, 12>,                                        //
                          dau_conv<6, 8, 6, 3, 1, 1>, dau_conv<8, 8, 6, 3, 2, 1>,          //
                          dau_conv<8, 10, 6, 1, 1, 0>>;

/// Completeness: sum_i C_{c,i} = logit_c - beta, relative to the sum of |C_{c,i}| (the size of
/// the terms that cancel).
template <class T>
void check_complete(const T* contrib, index_t size, T logit, T beta, double tol) {
  double sum = 0, mass = 0;
  for (index_t i = 0; i < size; ++i) {
    sum += contrib[i];
    mass += std::abs(double(contrib[i]));
  }
  CHECK(std::abs(sum - (double(logit) - double(beta))) <= tol * std::max(mass, 1e-30));
}

template <class Net>
void check_all_classes(const Net& net, index_t batch, double tol) {
  const auto images = test::random_images<typename Net::scalar_type, typename Net::image_shape>(batch, 5);
  tensor<typename Net::scalar_type, typename Net::logits_shape> logits;
  const auto all = contributions_all(net, images.view(), &logits);
  REQUIRE(all.batch() == batch);
  const auto plain = predict(net, images.view());
  for (index_t n = 0; n < batch; ++n)
    for (index_t c = 0; c < Net::num_classes; ++c) {
      CHECK(logits(n, c) == Approx(plain(n, c)).epsilon(1e-12));
      check_complete(all.sample_data(n) + c * Net::encoded_shape::size, Net::encoded_shape::size, logits(n, c),
                     net.logit_bias(), tol);
    }
}

}  // namespace

TEMPLATE_TEST_CASE("contributions are complete for random networks", "[attribution][completeness]", squash, l2) {
  const auto net = test::random_network<mixed_net<TestType>>(3);
  for (index_t batch : {1, 3}) check_all_classes(net, batch, 1e-12);
  const auto fnet = test::random_network<float_net>(4);
  check_all_classes(fnet, 5, test::tolerance::float_completeness);
}

TEMPLATE_TEST_CASE("batched contributions and logits match the reference kernels", "[attribution][reference]", squash, l2) {
  using Net = mixed_net<TestType>;
  const auto net = test::random_network<Net>(8);
  const auto images = test::random_images<double, typename Net::image_shape>(3, 9);
  const auto all = contributions_all(net, images.view());
  const auto logits = predict(net, images.view());
  for (index_t n = 0; n < 3; ++n) {
    const auto ref_logits = test::reference_logits(net, images.sample_data(n));
    CHECK(test::relative_error(logits.sample_data(n), ref_logits.data(), ref_logits.size()) < test::tolerance::double_reorder);
    for (index_t c = 0; c < Net::num_classes; ++c) {
      const auto ref = test::reference_contributions(net, images.sample_data(n), c);
      CHECK(test::relative_error(all.sample_data(n) + c * Net::encoded_shape::size, ref.data(), ref.size()) <
            test::tolerance::double_reorder);
    }
  }
}

TEST_CASE("one-class contributions equal the matching slice of all-class contributions", "[attribution]") {
  using Net = mixed_net<squash>;
  const auto net = test::random_network<Net>(10);
  const auto images = test::random_images<double, typename Net::image_shape>(3, 11);
  const std::vector<index_t> classes{2, 0, 1};
  const auto one = contributions(net, images.view(), classes);
  const auto all = contributions_all(net, images.view());
  for (index_t n = 0; n < 3; ++n)
    CHECK(test::relative_error(one.sample_data(n), all.sample_data(n) + classes[n] * Net::encoded_shape::size,
                               Net::encoded_shape::size) < 1e-14);
}

TEST_CASE("completeness holds at the input of every layer", "[attribution][completeness]") {
  using Net = mixed_net<l2>;
  const auto net = test::random_network<Net>(12);
  const auto images = test::random_images<double, typename Net::image_shape>(3, 13);
  const std::vector<index_t> classes{1, 2, 0};
  const auto logits = predict(net, images.view());
  auto check_layer = [&](auto layer) {
    const auto c = layer_contributions<decltype(layer)::value>(net, images.view(), classes);
    using S = typename Net::template layer_input_shape<decltype(layer)::value>;
    for (index_t n = 0; n < 3; ++n)
      check_complete(c.sample_data(n), S::size, logits(n, classes[n]), net.logit_bias(), 1e-12);
  };
  check_layer(std::integral_constant<std::size_t, 0>{});
  check_layer(std::integral_constant<std::size_t, 1>{});
  check_layer(std::integral_constant<std::size_t, 2>{});
}

TEST_CASE("bad arguments are rejected with a message", "[attribution][errors]") {
  using Net = mixed_net<squash>;
  const auto net = test::random_network<Net>(14);
  auto images = test::random_images<double, typename Net::image_shape>(2, 15);
  CHECK_THROWS_WITH(contributions(net, images.view(), {0}), Catch::Contains("one class index per image"));
  CHECK_THROWS_WITH(contributions(net, images.view(), {0, 3}), Catch::Contains("class index 3"));
  images(1, 2, 4, 4) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH(predict(net, images.view()), Catch::Contains("image 1") && Catch::Contains("NaN"));
  CHECK_THROWS_AS(contributions_all(net, images.view()), argument_error);
}

TEST_CASE("batched results do not depend on the thread count", "[attribution][threads]") {
  using Net = float_net;
  const auto net = test::random_network<Net>(16);
  const auto images = test::random_images<float, Net::image_shape>(7, 17);
  const int saved = threads();
  set_threads(1);
  const auto one = contributions_all(net, images.view());
  const auto logits_one = predict(net, images.view());
  set_threads(3);
  const auto three = contributions_all(net, images.view());
  const auto logits_three = predict(net, images.view());
  set_threads(saved);
  // Images never share a reduction, so the results are bit-identical, not just close.
  CHECK(std::memcmp(one.data(), three.data(), sizeof(float) * static_cast<std::size_t>(one.size())) == 0);
  CHECK(std::memcmp(logits_one.data(), logits_three.data(), sizeof(float) * static_cast<std::size_t>(logits_one.size())) == 0);
}

}  // namespace test_contributions

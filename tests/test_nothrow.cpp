// Validate, then run: each single-image entry point and its exception-free twin
// (coda/attribution/nothrow.hpp) check their arguments with the same routine, so they accept the
// same input with the same results and reject the same input with the same message; the
// throwing function reports it as an argument_error, the try_ function as a result.
#include <catch2/catch.hpp>
#include <limits>
#include <memory>
#include <string>

#include "coda/attribution/nothrow.hpp"
#include "support/random_network.hpp"

namespace test_nothrow {

using namespace coda;

namespace {

using net_t = network<float, shape<3, 8, 8>, dau_conv<6, 5, 4, 3, 1, 1>, dau_conv<5, 4, 3, 3, 2, 1>>;
using image_t = sample<float, net_t::image_shape>;

/// The message of the argument_error `f` throws ("" when it does not throw).
template <class F>
std::string thrown(F&& f) {
  try {
    f();
  } catch (const argument_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("predict, explain and explain_all and their try_ twins agree on good and bad input", "[nothrow][errors]") {
  const net_t net = test::random_network<net_t>(3);
  workspace<net_t> ws;
  auto image = std::make_unique<image_t>();
  const auto pixels = test::random_images<float, net_t::image_shape>(1, 4);
  std::copy(pixels.data(), pixels.data() + image->size(), image->data());
  sample<float, net_t::logits_shape> logits, try_logits;
  auto out = std::make_unique<sample<float, net_t::encoded_shape>>(), try_out = std::make_unique<sample<float, net_t::encoded_shape>>();
  auto all = std::make_unique<sample<float, net_t::contributions_shape>>(),
       try_all = std::make_unique<sample<float, net_t::contributions_shape>>();

  SECTION("good input: the same results") {
    predict(net, *image, logits, ws);
    REQUIRE(try_predict(net, *image, try_logits, ws));
    CHECK(std::equal(logits.data(), logits.data() + logits.size(), try_logits.data()));
    explain(net, *image, 2, *out, ws);
    REQUIRE(try_explain(net, *image, 2, *try_out, ws));
    CHECK(std::equal(out->data(), out->data() + out->size(), try_out->data()));
    explain_all(net, *image, *all, ws);
    REQUIRE(try_explain_all(net, *image, *try_all, ws));
    CHECK(std::equal(all->data(), all->data() + all->size(), try_all->data()));
  }
  SECTION("a class out of range") {
    const result r = try_explain(net, *image, net_t::num_classes, *out, ws);
    CHECK(r.code == status::class_out_of_range);
    CHECK(std::string(r.message) == "coda: class index 4 is outside [0, 4)");
    CHECK(thrown([&] { explain(net, *image, net_t::num_classes, *out, ws); }) == r.message);
    CHECK(try_explain(net, *image, -1, *out, ws).code == status::class_out_of_range);
  }
  SECTION("a non-finite pixel") {
    image->data()[17] = std::numeric_limits<float>::infinity();
    const result r = try_predict(net, *image, logits, ws);
    CHECK(r.code == status::non_finite_input);
    CHECK(std::string(r.message) == "coda: image 0 contains a non-finite value (NaN or infinity)");
    CHECK(thrown([&] { predict(net, *image, logits, ws); }) == r.message);
    CHECK(try_explain(net, *image, 1, *out, ws).code == status::non_finite_input);
    CHECK(thrown([&] { explain(net, *image, 1, *out, ws); }) == r.message);
    CHECK(try_explain_all(net, *image, *all, ws).code == status::non_finite_input);
    CHECK(thrown([&] { explain_all(net, *image, *all, ws); }) == r.message);
  }
  SECTION("a caller's buffer too small or not 64-byte aligned is refused when the workspace is made") {
    detail::aligned_vector<float> memory(workspace<net_t>::size + 16);
    CHECK(thrown([&] { workspace<net_t>(memory.data(), workspace<net_t>::size - 1); }) ==
          "coda::workspace: the buffer is smaller than Net::embedded_workspace_size");
    CHECK(thrown([&] { workspace<net_t>(memory.data() + 1, workspace<net_t>::size); }) ==
          "coda::workspace: the buffer must be 64-byte aligned (alignas(64), or coda::detail::aligned_vector)");
    workspace<net_t> aligned(memory.data(), workspace<net_t>::size);
    CHECK(try_predict(net, *image, logits, aligned));
  }
  SECTION("the batched functions reject with the same messages") {
    tensor<float, net_t::image_shape> images(2);
    std::copy(image->data(), image->data() + image->size(), images.sample_data(0));
    std::copy(image->data(), image->data() + image->size(), images.sample_data(1));
    images.sample_data(1)[3] = std::numeric_limits<float>::quiet_NaN();
    CHECK(thrown([&] { predict(net, images.view()); }) == "coda: image 1 contains a non-finite value (NaN or infinity)");
    CHECK(thrown([&] { contributions_all(net, images.view()); }) == "coda: image 1 contains a non-finite value (NaN or infinity)");
    CHECK(thrown([&] { contributions(net, images.view(), {0}); }) ==
          "coda::contributions: one class index per image is needed (2 images, 1 classes)");
    CHECK(thrown([&] { contributions(net, images.view(), {0, 9}); }) == "coda: class index 9 is outside [0, 4)");
  }
}

}  // namespace test_nothrow

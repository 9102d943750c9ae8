// Built with -fno-exceptions: the embedded path and its exception-free interface compile and run
// without C++ exceptions, report bad input through coda::result, and explain correctly.
// Exit code 0 when every check holds.
#include <cmath>
#include <cstdio>
#include <memory>

#include "coda/attribution/nothrow.hpp"
#include "coda/nn/init.hpp"
#include "coda/nn/presets.hpp"

#if CODA_EXCEPTIONS
#error "this test must be compiled with -fno-exceptions"
#endif

namespace {

using net_t = coda::network<float, coda::shape<3, 16, 16>, coda::dau_conv<6, 8, 8, 3, 1, 1>, coda::dau_conv<8, 10, 8, 3, 2, 1>>;

int failures = 0;
void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "FAILED: %s\n", what);
    ++failures;
  }
}

}  // namespace

int main() {
  net_t net(10.f, -2.f);
  coda::init_uniform(net, 5);
  coda::workspace<net_t> ws;
  auto image = std::make_unique<coda::sample<float, net_t::image_shape>>();
  for (coda::index_t i = 0; i < image->size(); ++i) image->data()[i] = float(i % 7) / 7.f;
  coda::sample<float, net_t::logits_shape> logits;
  auto contributions = std::make_unique<coda::sample<float, net_t::encoded_shape>>();

  check(bool(coda::try_predict(net, *image, logits, ws)), "predict succeeds");
  const coda::result ok = coda::try_explain(net, *image, 4, *contributions, ws);
  check(bool(ok), "explain succeeds");
  double sum = 0;
  for (coda::index_t i = 0; i < contributions->size(); ++i) sum += contributions->data()[i];
  check(std::abs(sum - (double(logits(4)) - double(net.logit_bias()))) < 1e-4, "contributions are complete");

  const coda::result bad_class = coda::try_explain(net, *image, 10, *contributions, ws);
  check(bad_class.code == coda::status::class_out_of_range, "class 10 is rejected");
  image->data()[5] = std::nanf("");
  const coda::result bad_pixel = coda::try_predict(net, *image, logits, ws);
  check(bad_pixel.code == coda::status::non_finite_input, "a NaN pixel is rejected");
  std::printf("rejected: %s | %s\n", bad_class.message, bad_pixel.message);
  return failures == 0 ? 0 : 1;
}

// A tiny application built against the installed coda package: a small CoDA-Net, its logits
// and the completeness of its contributions. Exit code 0 when the identity holds.
#include <cmath>
#include <coda/coda.hpp>
#include <cstdio>

using net_t = coda::network<float, coda::shape<3, 8, 8>, coda::dau_conv<6, 8, 4, 3, 1, 1>, coda::dau_conv<8, 4, 4, 1, 1, 0>>;

int main() {
  net_t net(10.f, -1.f);
  coda::init_uniform(net, 42);
  coda::tensor<float, net_t::image_shape> images(2, 0.25f);
  images(1, 0, 3, 3) = 1.f;
  coda::tensor<float, net_t::logits_shape> logits;
  const auto contributions = coda::contributions_all(net, images.view(), &logits);
  double worst = 0;
  for (coda::index_t n = 0; n < 2; ++n)
    for (coda::index_t c = 0; c < net_t::num_classes; ++c) {
      double sum = 0;
      for (coda::index_t i = 0; i < net_t::encoded_shape::size; ++i)
        sum += contributions.sample_data(n)[c * net_t::encoded_shape::size + i];
      worst = std::max(worst, std::abs(sum - (logits(n, c) - net.logit_bias())));
    }
  std::printf("coda %s consumer: largest completeness gap %.3g\n", CODA_VERSION_STRING, worst);
  return worst < 1e-5 ? 0 : 1;
}

// A tiny application built against the installed coda package: a small CoDA-Net, its logits
// and the completeness of its contributions, and the fixed-size aligned Eigen map of a sample.
// Exit code 0 when the identity holds and the map computes what it should.
#include <cmath>
#include <coda/coda.hpp>
#include <cstdio>
#include <type_traits>

using net_t = coda::network<float, coda::shape<3, 8, 8>, coda::dau_conv<6, 8, 4, 3, 1, 1>, coda::dau_conv<8, 4, 4, 1, 1, 0>>;

using encoded_t = coda::sample<float, coda::shape<6, 32, 32>>;
using encoded_map = decltype(std::declval<encoded_t&>().array());
static_assert(encoded_map::SizeAtCompileTime == 6144, "a sample's array() has the sample's size at compile time");
static_assert(std::is_same_v<encoded_map, Eigen::Map<Eigen::Array<float, 6144, 1>, Eigen::Aligned64>>,
              "a sample's array() is a 64-byte aligned map");

/// sum(max(x, 0)) of a sample holding -1 everywhere but two positive pixels: 1 + 2 = 3.
float positive_part_sum() {
  encoded_t x;
  x.array() = -1.f;
  x(0, 0, 0) = 1.f;
  x(5, 31, 31) = 2.f;
  return x.array().max(0.f).sum();
}

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
  const float positive = positive_part_sum();
  std::printf("coda %s consumer: largest completeness gap %.3g, positive part %g\n", CODA_VERSION_STRING, worst, positive);
  return worst < 1e-5 && positive == 3.f ? 0 : 1;
}

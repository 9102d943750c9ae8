// Must NOT compile: pixel_removal of a network of 3x16x16 images on a CIFAR-10 data set (3x32x32
// images), which would copy each image past the end of the network's image buffer. With
// CODA_EXPECT_COMPILES the data set holds the network's images, which proves the failure comes
// from the mismatch and not from anything else in this file.
#include "coda/attribution/pixel_removal.hpp"

using net_t = coda::network<float, coda::shape<3, 16, 16>, coda::dau_conv<6, 4, 4, 3, 2, 1>, coda::dau_conv<4, 2, 4, 1, 1, 0>>;

#ifdef CODA_EXPECT_COMPILES
using data_t = coda::image_dataset<net_t::image_shape>;
#else
using data_t = coda::cifar10_dataset;
#endif

int main() {
  const net_t net;
  const data_t data;
  return static_cast<int>(coda::pixel_removal(net, coda::attribution_method::coda, data, {})[0].size());
}

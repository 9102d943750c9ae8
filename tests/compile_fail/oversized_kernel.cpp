// Must NOT compile: a 5x5 kernel without padding on a 3x3 image leaves no output position.
#include "coda/nn/network.hpp"

#ifdef CODA_EXPECT_COMPILES
constexpr coda::index_t pad = 1;
#else
constexpr coda::index_t pad = 0;
#endif

using too_small = coda::network<float, coda::shape<3, 3, 3>, coda::dau_conv<6, 4, 8, 5, 1, pad>>;

int main() {
  too_small net;
  return net.parameters() == nullptr;
}

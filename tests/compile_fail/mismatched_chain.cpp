// Must NOT compile: layer 1 expects 8 input channels but layer 0 produces 16. With
// CODA_EXPECT_COMPILES defined the chain is fixed, which proves the failure comes from the
// mismatch and not from anything else in this file.
#include "coda/nn/network.hpp"

#ifdef CODA_EXPECT_COMPILES
constexpr coda::index_t second_c_in = 16;
#else
constexpr coda::index_t second_c_in = 8;
#endif

using chain = coda::network<float, coda::shape<3, 32, 32>, coda::dau_conv<6, 16, 32, 3, 1, 1>,
                            coda::dau_conv<second_c_in, 10, 32, 3, 1, 1>>;

int main() {
  chain net;
  return net.parameters() == nullptr;
}

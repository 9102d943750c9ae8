// Seeded initialisation matching PyTorch's default for the two convolutions of a DAU
// (kaiming-uniform with a = sqrt(5), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and
// bias), drawn from the counter-based stream of coda/detail/random.hpp, so golden fixtures of a
// full network need only the seed, not 31 MB of weights.
#pragma once

#include <cmath>
#include <cstdint>

#include "coda/detail/random.hpp"
#include "coda/nn/network.hpp"

namespace coda {

/// Initialises every parameter of `net` from `seed` like PyTorch's Conv2d default: element k of
/// the flat parameter vector is (2 u_k - 1) / sqrt(fan_in), fan_in = C_in*k*k for the rank
/// convolution and R for the 1x1 convolution's weight and bias.
template <class Net>
void init_uniform(Net& net, std::uint64_t seed) {
  using T = typename Net::scalar_type;
  net.update_parameters([&](T* p, index_t) {
    std::uint64_t k = 0;
    detail::for_each_index(
        [&](auto i) {
          using L = typename Net::template layer<i>;
          const double bounds[3] = {1.0 / std::sqrt(double(L::patch_size)), 1.0 / std::sqrt(double(L::rank)),
                                    1.0 / std::sqrt(double(L::rank))};
          for (std::size_t t = 0; t < 3; ++t)
            for (index_t e = 0; e < L::parameter_tensors[t].size; ++e, ++k)
              *p++ = static_cast<T>((2.0 * detail::uniform_at(seed, k) - 1.0) * bounds[t]);
        },
        std::make_index_sequence<Net::depth>{});
  });
}

}  // namespace coda

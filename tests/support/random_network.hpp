// Random networks and images for the tests.
#pragma once

#include <cstdint>
#include <random>

#include "coda/core/tensor.hpp"
#include "coda/nn/init.hpp"

namespace coda::test {

/// A network with PyTorch-default-distributed random weights from `seed`.
template <class Net>
Net random_network(std::uint64_t seed, typename Net::scalar_type temperature = 10,
                   typename Net::scalar_type logit_bias = -0.75) {
  Net net(temperature, logit_bias);
  init_uniform(net, seed);
  return net;
}

/// Images in [0, 1].
template <class T, class Shape>
tensor<T, Shape> random_images(index_t batch, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  tensor<T, Shape> t(batch);
  for (index_t i = 0; i < t.size(); ++i) t.data()[i] = static_cast<T>(u(rng));
  return t;
}

}  // namespace coda::test

// One DAU layer with random weights (PyTorch-default scale), its derived data and an input
// image: the fixture of the kernel tests and benchmarks.
#pragma once

#include <cmath>
#include <random>
#include <vector>

#include "coda/kernels/dau_fast.hpp"

namespace coda::test {

template <class T>
struct random_layer {
  kernels::dau_dims g;
  std::vector<T> a, b, bias, derived, x;

  random_layer(const kernels::dau_dims& dims, unsigned seed) : g(dims) {
    std::mt19937 rng(seed);
    const index_t J = g.patch_size(), O = g.c_out, R = g.rank;
    const auto fill = [&](std::vector<T>& v, index_t n, double bound) {
      std::uniform_real_distribution<double> u(-bound, bound);
      v.resize(static_cast<std::size_t>(n));
      for (auto& e : v) e = T(u(rng));
    };
    fill(a, R * J, 1 / std::sqrt(double(J)));
    fill(b, J * O * R, 1 / std::sqrt(double(R)));
    fill(bias, J * O, 1 / std::sqrt(double(R)));
    fill(x, g.conv.image_size(), 1.0);
    refresh();
  }

  /// Input channels of the training forward's Winograd t, as a network layer of this geometry has.
  index_t winograd_channels() const { return kernels::winograd_forward_channels<T>(g.conv.channels, g.conv.kernel, g.conv.stride, g.conv.pad); }

  /// Recomputes the derived data after a, b or bias changed.
  void refresh() {
    const index_t J = g.patch_size(), O = g.c_out, R = g.rank, wc = winograd_channels();
    derived.assign(kernels::dau_derived_layout<T>(J, O, R, wc).size, T(0));
    arena<T> scratch;
    scratch.reserve(kernels::dau_derived_scratch<T>(J, O, R, wc));
    kernels::compute_dau_derived<T>(J, O, R, wc, a.data(), b.data(), bias.data(), derived.data(), scratch);
  }

  kernels::dau_weights<T> weights() const {
    return kernels::dau_derived_layout<T>(g.patch_size(), g.c_out, g.rank, winograd_channels())
        .bind(a.data(), b.data(), bias.data(), derived.data());
  }
};

/// Per-image buffers of a train-mode forward record.
template <class T>
struct train_record {
  std::vector<T> z, t, gz, d, n2, scale;
  explicit train_record(const kernels::dau_dims& g)
      : z(static_cast<std::size_t>(g.rank * g.positions())),
        t(static_cast<std::size_t>(g.c_out * g.rank * g.positions())),
        gz(t.size()),
        d(static_cast<std::size_t>(g.output_size())),
        n2(d.size()),
        scale(d.size()) {}
  kernels::dau_state<T> state() { return {z.data(), t.data(), gz.data(), d.data(), n2.data(), scale.data()}; }
};

}  // namespace coda::test

// Whole-network forward and contributions built from the reference kernels only (plain loops,
// dynamic weights materialised): the ground truth the library's fast path is tested against.
#pragma once

#include <vector>

#include "coda/kernels/dau_reference.hpp"
#include "coda/nn/network.hpp"

namespace coda::test {

/// Activations of every layer input of one image (index i = input of layer i, index depth =
/// output of the last layer) computed with the reference kernels.
template <class Net>
std::vector<std::vector<typename Net::scalar_type>> reference_activations(const Net& net, const typename Net::scalar_type* image) {
  using T = typename Net::scalar_type;
  constexpr index_t n = Net::image_shape::size;
  std::vector<std::vector<T>> acts(1, std::vector<T>(2 * n));
  for (index_t i = 0; i < n; ++i) {
    acts[0][i] = image[i];
    acts[0][i + n] = T(1) - image[i];
  }
  detail::for_each_index(
      [&](auto i) {
        using L = typename Net::template layer<i>;
        using In = typename Net::template layer_input_shape<i>;
        std::vector<T> y(L::template output_shape<In>::size);
        kernels::dau_forward_reference<typename L::norm>(L::template dims<In>(), net.layer_weights(i), acts.back().data(), y.data());
        acts.push_back(std::move(y));
      },
      std::make_index_sequence<Net::depth>{});
  return acts;
}

template <class Net>
std::vector<typename Net::scalar_type> reference_logits(const Net& net, const typename Net::scalar_type* image) {
  using T = typename Net::scalar_type;
  const auto acts = reference_activations(net, image);
  constexpr index_t classes = Net::num_classes, positions = Net::output_map_shape::size / classes;
  std::vector<T> logits(classes);
  for (index_t c = 0; c < classes; ++c) {
    T s = 0;
    for (index_t q = 0; q < positions; ++q) s += acts.back()[c * positions + q];
    logits[c] = s / net.temperature() + net.logit_bias();
  }
  return logits;
}

/// Contributions of class `cls` to the encoded input of one image, by chaining the reference
/// frozen backward of every layer.
template <class Net>
std::vector<typename Net::scalar_type> reference_contributions(const Net& net, const typename Net::scalar_type* image, index_t cls) {
  using T = typename Net::scalar_type;
  const auto acts = reference_activations(net, image);
  constexpr index_t classes = Net::num_classes, positions = Net::output_map_shape::size / classes;
  std::vector<T> grad(Net::output_map_shape::size, T(0));
  for (index_t q = 0; q < positions; ++q) grad[cls * positions + q] = T(1) / net.temperature();
  detail::for_each_index(
      [&](auto r) {
        constexpr std::size_t i = Net::depth - 1 - r;
        using L = typename Net::template layer<i>;
        using In = typename Net::template layer_input_shape<i>;
        std::vector<T> gin(In::size);
        kernels::dau_explain_reference<typename L::norm>(L::template dims<In>(), net.layer_weights(i), acts[i].data(), 1,
                                                         grad.data(), gin.data());
        grad = std::move(gin);
      },
      std::make_index_sequence<Net::depth>{});
  for (std::size_t k = 0; k < grad.size(); ++k) grad[k] *= acts[0][k];
  return grad;
}

}  // namespace coda::test

// Backward rule of the classification head: logits = (sum over positions) / T + beta.
#pragma once

#include "coda/ad/tape.hpp"

namespace coda {

/// The head's constants, pointed to by its tape node.
template <class T>
struct logit_head_params {
  T temperature;
  T logit_bias;
};

template <class T>
void logit_head_backward(const tape_node<T>& node, const backward_args<T>& args) {
  if (!args.grad_in) return;
  const auto& head = *static_cast<const logit_head_params<T>*>(node.op);
  const index_t classes = node.output_size, positions = node.input_size / classes;
  const T inv_t = T(1) / head.temperature;
  for (index_t s = 0; s < node.batch * args.seeds; ++s)
    for (index_t c = 0; c < classes; ++c) {
      const T g = args.grad_out[s * classes + c] * inv_t;
      T* gi = args.grad_in + s * node.input_size + c * positions;
      for (index_t q = 0; q < positions; ++q) gi[q] = g;
    }
}

}  // namespace coda

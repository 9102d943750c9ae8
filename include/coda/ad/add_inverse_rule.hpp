// Backward rule of the AddInverse encoding x -> [x, 1 - x]: the gradient of a pixel is the
// gradient of its channel minus that of its inverted copy (the same in every mode: the
// encoding has no dynamic weights to freeze).
#pragma once

#include "coda/ad/tape.hpp"

namespace coda {

template <class T>
void add_inverse_backward(const tape_node<T>& node, const backward_args<T>& args) {
  if (!args.grad_in) return;
  const index_t half = node.input_size;
  for (index_t s = 0; s < node.batch * args.seeds; ++s) {
    const T* g = args.grad_out + s * node.output_size;
    T* gi = args.grad_in + s * half;
    for (index_t i = 0; i < half; ++i) gi[i] = g[i] - g[i + half];
  }
}

}  // namespace coda

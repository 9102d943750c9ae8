// Backward rules of the losses. A loss node maps logits [N][C] to per-sample losses [N][1] that
// already include the normalisation (mean over the mini-batch, virtual-batch scaling), so the
// seed of a backward pass is 1 for every sample. Its record holds the scale and the labels.
#pragma once

#include <cmath>

#include "coda/ad/tape.hpp"

namespace coda {

namespace detail {

template <class T>
T sigmoid(T x) {
  return x >= 0 ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x));
}

}  // namespace detail

/// Binary cross-entropy with logits against one-hot targets: d/dl_c = scale * (sigmoid(l_c) - y_c).
template <class T>
void bce_loss_backward(const tape_node<T>& node, const backward_args<T>& args) {
  if (!args.grad_in) return;
  const T scale = node.saved[0];
  const T* labels = node.saved + 1;
  const index_t classes = node.input_size;
  for (index_t n = 0; n < node.batch; ++n)
    for (index_t c = 0; c < classes; ++c) {
      const T y = static_cast<index_t>(labels[n]) == c ? T(1) : T(0);
      args.grad_in[n * classes + c] = args.grad_out[n] * scale * (detail::sigmoid(node.input[n * classes + c]) - y);
    }
}

/// Softmax cross-entropy: d/dl_c = scale * (softmax(l)_c - y_c).
template <class T>
void cross_entropy_loss_backward(const tape_node<T>& node, const backward_args<T>& args) {
  if (!args.grad_in) return;
  const T scale = node.saved[0];
  const T* labels = node.saved + 1;
  const index_t classes = node.input_size;
  for (index_t n = 0; n < node.batch; ++n) {
    const T* l = node.input + n * classes;
    T top = l[0];
    for (index_t c = 1; c < classes; ++c) top = std::max(top, l[c]);
    T sum = 0;
    for (index_t c = 0; c < classes; ++c) sum += std::exp(l[c] - top);
    for (index_t c = 0; c < classes; ++c) {
      const T y = static_cast<index_t>(labels[n]) == c ? T(1) : T(0);
      args.grad_in[n * classes + c] = args.grad_out[n] * scale * (std::exp(l[c] - top) / sum - y);
    }
  }
}

}  // namespace coda

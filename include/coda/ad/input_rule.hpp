// Backward rule of the input node of a recording that starts from encoded inputs (see
// network::forward_encoded): the gradient passes through unchanged.
#pragma once

#include <algorithm>

#include "coda/ad/tape.hpp"

namespace coda {

template <class T>
void input_backward(const tape_node<T>& node, const backward_args<T>& args) {
  if (args.grad_in) std::copy(args.grad_out, args.grad_out + node.batch * args.seeds * node.output_size, args.grad_in);
}

}  // namespace coda

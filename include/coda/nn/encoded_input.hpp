// The input node of a recording that starts from inputs already in the encoded space
// (network::forward_encoded, which attribution methods use when they scale or occlude the
// encoded input): the identity, pushed so that the nodes are numbered as in network::forward.
#pragma once

#include "coda/ad/tape.hpp"
#include "coda/core/shape.hpp"

namespace coda {

template <class Encoded>
struct encoded_input {
  /// Records the node; `encoded` ([batch][Encoded]) is both its input and its output.
  template <class T>
  static void forward(const T* encoded, index_t batch, tape<T>& t) {
    t.push({&backward<T>, nullptr, encoded, encoded, nullptr, batch, Encoded::size, Encoded::size, t.mode()});
  }

  /// The gradient passes through unchanged, in every mode and for any number of seeds.
  template <class T>
  static void backward(const tape_node<T>& node, const backward_args<T>& args) {
    check_backward("encoded_input", node, args, record_mode::none);
    if (!args.grad_in) return;
    const index_t count = node.batch * args.seeds;
    detail::columns<Encoded::size>(args.grad_in, count) = detail::columns<Encoded::size>(args.grad_out, count);
  }
};

}  // namespace coda

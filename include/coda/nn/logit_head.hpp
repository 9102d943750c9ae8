// Classification head of a CoDA-Net: sum pooling over all positions of the last DAU layer,
// divided by the temperature T, plus the logit bias beta. Both are linear, so the exact
// decomposition of the network reaches through it unchanged.
#pragma once

#include "coda/ad/tape.hpp"
#include "coda/core/tensor.hpp"
#include "coda/core/diagnostics.hpp"

namespace coda {

/// The head's constants, pointed to by its tape node.
template <class T>
struct logit_head_params {
  T temperature;
  T logit_bias;
};

CODA_BEGIN_EIGEN_REDUCTIONS
template <class Map>
struct logit_head {
  static_assert(Map::rank == 3, "coda::logit_head: the last layer's output must be a shape<classes, H, W>");
  static constexpr index_t classes = Map::dim(0);
  static constexpr index_t positions = Map::dim(1) * Map::dim(2);
  using output_shape = shape<classes>;

  /// logits = (sum over positions) / T + beta, one column per class map.
  template <class T>
  static void forward(const logit_head_params<T>& head, const T* in, T* out, index_t batch, tape<T>& t) {
    const index_t maps = batch * classes;
    detail::columns<1>(out, maps) = detail::columns<positions>(in, maps).colwise().sum() / head.temperature + head.logit_bias;
    t.push({&backward<T>, &head, in, out, nullptr, batch, Map::size, classes, t.mode()});
  }

  /// Every position of a class map gets the class's gradient over T, in every mode and for any
  /// number of seeds: the head is affine and records nothing.
  template <class T>
  static void backward(const tape_node<T>& node, const backward_args<T>& args) {
    check_backward("logit_head", node, args, record_mode::none);
    if (!args.grad_in) return;
    const auto& head = *static_cast<const logit_head_params<T>*>(node.op);
    const index_t maps = node.batch * args.seeds * classes;
    // Replicate the map, not the scaled expression: Eigen would evaluate the latter into a
    // heap temporary, and the embedded path allocates nothing.
    detail::columns<positions>(args.grad_in, maps) =
        detail::columns<1>(args.grad_out, maps).template replicate<positions, 1>() * (T(1) / head.temperature);
  }
};
CODA_END_EIGEN_REDUCTIONS

}  // namespace coda

// Classification head of a CoDA-Net: sum pooling over all positions of the last DAU layer,
// divided by the temperature T, plus the logit bias beta. Both are linear, so the exact
// decomposition of the network reaches through it unchanged.
#pragma once

#include "coda/ad/logit_head_rule.hpp"
#include "coda/core/tensor.hpp"

namespace coda {

template <class Map>
struct logit_head {
  static_assert(Map::rank == 3, "coda::logit_head: the last layer's output must be a shape<classes, H, W>");
  static constexpr index_t classes = Map::dim(0);
  static constexpr index_t positions = Map::dim(1) * Map::dim(2);
  using output_shape = shape<classes>;

  template <class T>
  static void forward(const logit_head_params<T>& head, const T* in, T* out, index_t batch, tape<T>& t) {
    for (index_t n = 0; n < batch; ++n)
      for (index_t c = 0; c < classes; ++c) {
        const T* y = in + (n * classes + c) * positions;
        T s = 0;
        for (index_t q = 0; q < positions; ++q) s += y[q];
        out[n * classes + c] = s / head.temperature + head.logit_bias;
      }
    t.push({&logit_head_backward<T>, &head, in, out, nullptr, batch, Map::size, classes, 0, t.mode()});
  }
};

}  // namespace coda

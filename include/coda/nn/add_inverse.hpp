// AddInverse input encoding: an image in [0,1] with C channels becomes [x, 1 - x] with 2C
// channels, so that dark and bright pixels can both contribute positively (it replaces mean/std
// normalisation in CoDA-Nets).
#pragma once

#include "coda/ad/add_inverse_rule.hpp"
#include "coda/core/tensor.hpp"

namespace coda {

template <class Image>
struct add_inverse {
  static_assert(Image::rank == 3, "coda::add_inverse: the image must be a shape<C, H, W>");
  using output_shape = shape<2 * Image::dim(0), Image::dim(1), Image::dim(2)>;

  template <class T>
  static void forward(const T* in, T* out, index_t batch, tape<T>& t) {
    constexpr index_t n_in = Image::size;
    for (index_t n = 0; n < batch; ++n) {
      const T* x = in + n * n_in;
      T* e = out + n * 2 * n_in;
      for (index_t i = 0; i < n_in; ++i) {
        e[i] = x[i];
        e[i + n_in] = T(1) - x[i];
      }
    }
    t.push({&add_inverse_backward<T>, nullptr, in, out, nullptr, batch, n_in, 2 * n_in, 0, t.mode()});
  }
};

}  // namespace coda

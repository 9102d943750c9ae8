// AddInverse input encoding: an image in [0,1] with C channels becomes [x, 1 - x] with 2C
// channels, so that dark and bright pixels can both contribute positively (it replaces mean/std
// normalisation in CoDA-Nets).
#pragma once

#include "coda/ad/tape.hpp"
#include "coda/core/tensor.hpp"

namespace coda {

template <class Image>
struct add_inverse {
  static_assert(Image::rank == 3, "coda::add_inverse: the image must be a shape<C, H, W>");
  using output_shape = shape<2 * Image::dim(0), Image::dim(1), Image::dim(2)>;

  /// [x, 1 - x] for `batch` images: the encoding itself, written once (the forward pass and the
  /// pixel-removal metric, which edits encoded inputs, both call it).
  template <class T>
  static void encode(const T* in, T* out, index_t batch) {
    const auto x = detail::columns<size>(in, batch);
    auto e = detail::columns<2 * size>(out, batch);
    e.template topRows<size>() = x;
    e.template bottomRows<size>() = T(1) - x;
  }

  template <class T>
  static void forward(const T* in, T* out, index_t batch, tape<T>& t) {
    encode(in, out, batch);
    t.push({&backward<T>, nullptr, in, out, nullptr, batch, size, 2 * size, t.mode()});
  }

  /// The gradient of a pixel is the gradient of its channel minus that of its inverted copy, in
  /// every mode and for any number of seeds: the encoding is affine and records nothing.
  template <class T>
  static void backward(const tape_node<T>& node, const backward_args<T>& args) {
    check_backward("add_inverse", node, args, record_mode::none);
    if (!args.grad_in) return;
    const auto g = detail::columns<2 * size>(args.grad_out, node.batch * args.seeds);
    detail::columns<size>(args.grad_in, node.batch * args.seeds) = g.template topRows<size>() - g.template bottomRows<size>();
  }

 private:
  static constexpr index_t size = Image::size;
};

}  // namespace coda

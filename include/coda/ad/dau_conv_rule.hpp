// Backward rule of the DAU convolution, and the layout of what its forward pass records.
#pragma once

#include <algorithm>
#include <stdexcept>

#include "coda/ad/tape.hpp"
#include "coda/kernels/dau_fast.hpp"

namespace coda {

namespace detail {

/// Per-image record of a DAU forward pass: z and scale for explanations; t, d and n2 as well for
/// training. Sized per image so that batches are a multiple of it.
template <class T>
struct dau_record {
  static constexpr std::size_t size(const kernels::dau_dims& g, record_mode m) {
    using coda::detail::aligned_count;
    const index_t P = g.positions(), O = g.c_out, R = g.rank;
    switch (m) {
      case record_mode::none: return 0;
      case record_mode::explain: return aligned_count<T>(R * P) + aligned_count<T>(O * P);
      case record_mode::train:
        return aligned_count<T>(R * P) + aligned_count<T>(O * R * P) + 3 * aligned_count<T>(O * P);
    }
    return 0;
  }

  static kernels::dau_state<T> at(T* base, const kernels::dau_dims& g, record_mode m) {
    using coda::detail::aligned_count;
    const index_t P = g.positions(), O = g.c_out, R = g.rank;
    kernels::dau_state<T> s;
    if (m == record_mode::none) return s;
    s.z = base;
    s.scale = s.z + aligned_count<T>(R * P);
    if (m == record_mode::train) {
      s.t = s.scale + aligned_count<T>(O * P);
      s.d = s.t + aligned_count<T>(O * R * P);
      s.n2 = s.d + aligned_count<T>(O * P);
    }
    return s;
  }
};

}  // namespace detail

/// Arena elements the DAU backward rule needs while it runs.
template <class T>
constexpr std::size_t dau_backward_scratch(const kernels::dau_dims& g, backward_mode m) {
  return m == backward_mode::frozen ? kernels::dau_explain_scratch<T>(g) : kernels::dau_train_backward_scratch<T>(g);
}

/// Where the parameter gradients and batch sums of a DAU layer sit in a gradient buffer.
template <class Layer, class T>
kernels::dau_param_grads<T> dau_grads_at(T* grad, index_t param_offset) {
  T* base = grad + param_offset;
  return {base, base + Layer::a_size, base + Layer::a_size + Layer::b_size};
}
template <class T>
kernels::dau_batch_sums<T> dau_sums_at(const kernels::dau_dims& g, T* grad, index_t sums_offset) {
  T* s = grad + sums_offset;
  return {s, s + g.c_out * g.rank * g.rank, s + g.c_out * g.rank * g.rank + g.c_out * g.rank};
}

/// The DAU layer's backward rule; `Layer` is a dau_conv<...> bound to input shape `In`.
template <class Layer, class In, class T>
void dau_conv_backward(const tape_node<T>& node, const backward_args<T>& args) {
  constexpr kernels::dau_dims g = Layer::template dims<In>();
  const auto& weights = *static_cast<const kernels::dau_weights<T>*>(node.op);
  if (node.recorded == record_mode::none || (args.mode != backward_mode::frozen && node.recorded != record_mode::train))
    CODA_THROW(std::logic_error("coda: the forward pass did not record what this backward mode needs"));
  const std::size_t per_image = detail::dau_record<T>::size(g, node.recorded);
  const index_t in_size = node.input_size, out_size = node.output_size;
  arena<T>& mem = *args.scratch;

  if (args.mode == backward_mode::frozen) {
    if (!args.grad_in) return;
    for (index_t n = 0; n < node.batch; ++n) {
      const kernels::dau_state<T> s = detail::dau_record<T>::at(node.saved + n * per_image, g, node.recorded);
      kernels::dau_explain_backward(g, weights, s.z, s.scale, args.seeds, args.grad_out + n * args.seeds * out_size,
                                    args.grad_in + n * args.seeds * in_size, mem);
    }
    return;
  }

  if (args.seeds != 1) CODA_THROW(std::logic_error("coda: ordinary gradients carry one seed per sample"));
  const bool params = args.mode == backward_mode::train && args.param_grad;
  const auto grads = params ? dau_grads_at<Layer>(args.param_grad, node.param_offset) : kernels::dau_param_grads<T>{};
  const auto sums = params ? dau_sums_at(g, args.param_grad, node.sums_offset) : kernels::dau_batch_sums<T>{};
  for (index_t n = 0; n < node.batch; ++n) {
    const kernels::dau_state<T> s = detail::dau_record<T>::at(node.saved + n * per_image, g, node.recorded);
    kernels::dau_train_backward<typename Layer::norm>(g, weights, node.input + n * in_size, s, args.grad_out + n * out_size,
                                                      args.grad_in ? args.grad_in + n * in_size : nullptr,
                                                      params ? &grads : nullptr, params ? &sums : nullptr, mem);
  }
}

}  // namespace coda

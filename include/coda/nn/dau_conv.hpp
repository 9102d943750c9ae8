// The Dynamic Alignment Unit convolution as a layer type. All hyper-parameters are template
// arguments, so the output shape of a layer applied to a given input shape is a type computed
// by the compiler, and a chain of layers that does not fit together does not compile. The
// layer's backward rule sits beside its forward pass, with the layout of what that pass records
// (detail::dau_record) and of the layer's slots in a gradient buffer.
#pragma once

#include <array>
#include <string>

#include "coda/ad/tape.hpp"
#include "coda/core/tensor.hpp"
#include "coda/kernels/dau_fast.hpp"
#include "coda/nn/norm.hpp"

namespace coda {

namespace detail {

/// Per-image record of a DAU forward pass: z and scale for explanations; t, G z, d and n2 as well
/// for training. Sized per image so that batches are a multiple of it.
template <class T>
struct dau_record {
  static constexpr std::size_t size(const kernels::dau_dims& g, record_mode m) {
    using coda::detail::aligned_count;
    const index_t P = g.positions(), O = g.c_out, R = g.rank;
    switch (m) {
      case record_mode::none: return 0;
      case record_mode::explain: return aligned_count<T>(R * P) + aligned_count<T>(O * P);
      case record_mode::train:
        return aligned_count<T>(R * P) + 2 * aligned_count<T>(O * R * P) + 3 * aligned_count<T>(O * P);
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
      s.gz = s.t + aligned_count<T>(O * R * P);
      s.d = s.gz + aligned_count<T>(O * R * P);
      s.n2 = s.d + aligned_count<T>(O * P);
    }
    return s;
  }
};

}  // namespace detail

/// Arena elements the DAU backward rule needs while it runs.
template <class T>
constexpr std::size_t dau_backward_scratch(const kernels::dau_dims& g, backward_mode m, index_t batch) {
  return m == backward_mode::frozen ? kernels::dau_explain_scratch<T>(g) : kernels::dau_train_backward_scratch<T>(g, batch);
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

/// Name suffix and shape of one parameter tensor in a model file.
struct parameter_tensor {
  const char* suffix;           ///< appended to "<layer index>."
  std::array<index_t, 4> dims;    ///< trailing entries unused when rank < 4
  index_t rank;
  index_t offset;                 ///< within the layer's parameters
  index_t size;
};

template <index_t CIn, index_t COut, index_t Rank, index_t Kernel, index_t Stride, index_t Pad, class Norm = squash>
struct dau_conv {
  static_assert(CIn > 0 && COut > 0 && Rank > 0, "coda::dau_conv: channel counts and rank must be positive");
  static_assert(Kernel > 0, "coda::dau_conv: kernel size must be positive");
  static_assert(Stride > 0, "coda::dau_conv: stride must be positive");
  static_assert(Pad >= 0 && Pad < Kernel, "coda::dau_conv: padding must be in [0, kernel)");
  static_assert(is_norm<Norm>::value, "coda::dau_conv: Norm must be coda::squash or coda::l2");

  static constexpr index_t c_in = CIn, c_out = COut, rank = Rank, kernel = Kernel, stride = Stride, pad = Pad;
  using norm = Norm;

  /// J: length of a flattened input patch.
  static constexpr index_t patch_size = CIn * Kernel * Kernel;
  static constexpr index_t a_size = Rank * patch_size;
  static constexpr index_t b_size = patch_size * COut * Rank;
  static constexpr index_t bias_size = patch_size * COut;
  static constexpr index_t parameter_count = a_size + b_size + bias_size;
  /// Input channels of the training forward's Winograd t = B^T x for scalar type T, or 0.
  template <class T>
  static constexpr index_t winograd_channels = kernels::winograd_forward_channels<T>(CIn, Kernel, Stride, Pad);
  /// The layout of the layer's derived data for scalar type T.
  template <class T>
  static constexpr kernels::dau_derived_layout<T> derived_layout() {
    return kernels::dau_derived_layout<T>(patch_size, COut, Rank, winograd_channels<T>);
  }
  /// Elements of derived data (Gram matrices, packed operands) the layer keeps for scalar type T.
  template <class T>
  static constexpr index_t derived_size = static_cast<index_t>(derived_layout<T>().size);
  /// Elements of a gradient buffer the layer needs beyond its parameters (batch sums).
  static constexpr index_t sums_size = kernels::dau_batch_sums<float>::size(COut, Rank);

  /// The three parameter tensors, named and shaped as in the authors' PyTorch modules.
  static constexpr std::array<parameter_tensor, 3> parameter_tensors{{
      {"weight_mod.weighting_f.0.weight", {Rank, CIn, Kernel, Kernel}, 4, 0, a_size},
      {"weight_mod.weighting_f.1.weight", {patch_size * COut, Rank, 1, 1}, 4, a_size, b_size},
      {"weight_mod.weighting_f.1.bias", {patch_size * COut, 0, 0, 0}, 1, a_size + b_size, bias_size},
  }};

 private:
  template <class In>
  struct output_of {
    static_assert(In::rank == 3, "coda::dau_conv: the input must be a shape<C, H, W>");
    static_assert(In::dim(0) == CIn, "coda::dau_conv: the input's channel count differs from the layer's C_in");
    static constexpr bool fits = In::dim(1) + 2 * Pad >= Kernel && In::dim(2) + 2 * Pad >= Kernel;
    static_assert(fits, "coda::dau_conv: the kernel is larger than the padded input");
    // On failure continue with a 1x1 output so that only the message above is reported.
    using type = shape<COut, fits ? conv_output_extent(In::dim(1), Kernel, Stride, Pad) : 1,
                       fits ? conv_output_extent(In::dim(2), Kernel, Stride, Pad) : 1>;
  };

 public:
  /// Per-sample output shape for per-sample input shape In = shape<C_in, H, W>.
  template <class In>
  using output_shape = typename output_of<In>::type;

  template <class In>
  static constexpr kernels::dau_dims dims() {
    return {{CIn, In::dim(1), In::dim(2), Kernel, Stride, Pad}, COut, Rank};
  }

  /// Arena elements a forward pass over `batch` samples keeps (records) for backward passes.
  template <class In, class T>
  static constexpr std::size_t recorded_size(index_t batch, record_mode m) {
    return static_cast<std::size_t>(batch) * detail::dau_record<T>::size(dims<In>(), m);
  }
  /// Arena elements a forward pass needs only while it runs.
  template <class In, class T>
  static constexpr std::size_t forward_scratch(record_mode m, index_t batch) {
    const bool train = m == record_mode::train;
    return kernels::dau_forward_scratch<T>(dims<In>(), train, train ? kernels::dau_forward_images<T>(dims<In>(), batch) : 1);
  }
  /// Arena elements a backward pass over `batch` samples needs only while it runs.
  template <class In, class T>
  static constexpr std::size_t backward_scratch(backward_mode m, index_t batch) {
    return dau_backward_scratch<T>(dims<In>(), m, batch);
  }

  /// Forward over a batch; records on `t` according to its mode. `out` has batch * output size.
  /// The layer's parameters start at element ParamOffset of a gradient buffer and its batch sums
  /// at SumsOffset: constants of the network type, so the rule gets them as template arguments
  /// and the tape node carries only the weights.
  template <class In, index_t ParamOffset, index_t SumsOffset, class T>
  static void forward(const kernels::dau_weights<T>& w, const T* in, T* out, index_t batch, tape<T>& t) {
    constexpr kernels::dau_dims g = dims<In>();
    const record_mode m = t.mode();
    arena<T>& mem = t.memory();
    const std::size_t per_image = detail::dau_record<T>::size(g, m);
    T* saved = m == record_mode::none ? nullptr : mem.allocate(static_cast<std::size_t>(batch) * per_image);
    const index_t group = m == record_mode::train ? kernels::dau_forward_images<T>(g, batch) : 1;
    for (index_t n0 = 0; n0 < batch; n0 += group) {
      const auto state_of = [&](index_t k) {
        return saved ? detail::dau_record<T>::at(saved + (n0 + k) * per_image, g, m) : kernels::dau_state<T>{};
      };
      kernels::dau_forward<Norm>(g, w, std::min(group, batch - n0), in + n0 * g.conv.image_size(), out + n0 * g.output_size(),
                                 state_of, mem);
    }
    t.push({&backward<In, ParamOffset, SumsOffset, T>, &w, in, out, saved, batch, g.conv.image_size(), g.output_size(), m});
  }

  /// The one backward rule, for every backward mode: frozen needs an explain record and carries
  /// any number of seeds; train and input need a train record and one seed per sample.
  template <class In, index_t ParamOffset, index_t SumsOffset, class T>
  static void backward(const tape_node<T>& node, const backward_args<T>& args) {
    constexpr kernels::dau_dims g = dims<In>();
    const bool frozen = args.mode == backward_mode::frozen;
    check_backward("dau_conv", node, args, frozen ? record_mode::explain : record_mode::train);
    const auto& weights = *static_cast<const kernels::dau_weights<T>*>(node.op);
    const std::size_t per_image = detail::dau_record<T>::size(g, node.recorded);
    const index_t in_size = node.input_size, out_size = node.output_size;
    arena<T>& mem = *args.scratch;

    if (frozen) {
      if (!args.grad_in) return;
      for (index_t n = 0; n < node.batch; ++n) {
        const kernels::dau_state<T> s = detail::dau_record<T>::at(node.saved + n * per_image, g, node.recorded);
        kernels::dau_explain_backward(g, weights, s.z, s.scale, args.seeds, args.grad_out + n * args.seeds * out_size,
                                      args.grad_in + n * args.seeds * in_size, mem);
      }
      return;
    }

    const bool params = args.mode == backward_mode::train && args.param_grad;
    const auto grads = params ? dau_grads_at<dau_conv>(args.param_grad, ParamOffset) : kernels::dau_param_grads<T>{};
    const auto sums = params ? dau_sums_at(g, args.param_grad, SumsOffset) : kernels::dau_batch_sums<T>{};
    const auto state_of = [&](index_t n) { return detail::dau_record<T>::at(node.saved + n * per_image, g, node.recorded); };
    kernels::dau_train_backward<Norm>(g, weights, node.batch, node.input, state_of, args.grad_out, args.grad_in,
                                      params ? &grads : nullptr, params ? &sums : nullptr, mem);
  }
};

template <class T>
struct is_dau_conv : std::false_type {};
template <index_t CIn, index_t COut, index_t Rank, index_t Kernel, index_t Stride, index_t Pad, class Norm>
struct is_dau_conv<dau_conv<CIn, COut, Rank, Kernel, Stride, Pad, Norm>> : std::true_type {};

}  // namespace coda

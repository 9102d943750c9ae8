// The Dynamic Alignment Unit convolution as a layer type. All hyper-parameters are template
// arguments, so the output shape of a layer applied to a given input shape is a type computed
// by the compiler, and a chain of layers that does not fit together does not compile.
#pragma once

#include <array>
#include <string>

#include "coda/ad/dau_conv_rule.hpp"
#include "coda/core/tensor.hpp"
#include "coda/nn/norm.hpp"

namespace coda {

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
  /// Elements of derived data (Gram matrices, packed operands) the layer keeps for scalar type T.
  template <class T>
  static constexpr index_t derived_size = static_cast<index_t>(kernels::dau_derived_layout<T>(patch_size, COut, Rank).size);
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
  static constexpr std::size_t forward_scratch(record_mode m) {
    return kernels::dau_forward_scratch<T>(dims<In>(), m != record_mode::none, m == record_mode::train);
  }
  /// Arena elements a backward pass needs only while it runs.
  template <class In, class T>
  static constexpr std::size_t backward_scratch(backward_mode m) {
    return dau_backward_scratch<T>(dims<In>(), m);
  }

  /// Forward over a batch; records on `t` according to its mode. `out` has batch * output size;
  /// the offsets locate the layer's parameters and batch sums in a gradient buffer.
  template <class In, class T>
  static void forward(const kernels::dau_weights<T>& w, index_t param_offset, index_t sums_offset, const T* in, T* out,
                      index_t batch, tape<T>& t) {
    constexpr kernels::dau_dims g = dims<In>();
    const record_mode m = t.mode();
    arena<T>& mem = t.memory();
    const std::size_t per_image = detail::dau_record<T>::size(g, m);
    T* saved = m == record_mode::none ? nullptr : mem.allocate(static_cast<std::size_t>(batch) * per_image);
    for (index_t n = 0; n < batch; ++n) {
      const kernels::dau_state<T> s = saved ? detail::dau_record<T>::at(saved + n * per_image, g, m) : kernels::dau_state<T>{};
      kernels::dau_forward<Norm>(g, w, in + n * g.conv.image_size(), out + n * g.output_size(), s, mem);
    }
    t.push({&dau_conv_backward<dau_conv, In, T>, &w, in, out, saved, batch, g.conv.image_size(), g.output_size(),
            param_offset, m, sums_offset});
  }
};

template <class T>
struct is_dau_conv : std::false_type {};
template <index_t CIn, index_t COut, index_t Rank, index_t Kernel, index_t Stride, index_t Pad, class Norm>
struct is_dau_conv<dau_conv<CIn, COut, Rank, Kernel, Stride, Pad, Norm>> : std::true_type {};

}  // namespace coda

// A CoDA-Net: AddInverse encoding, a chain of DAU layers with no non-linearity between them,
// sum pooling, temperature and logit bias. The chain is checked when the type is formed: a layer
// whose C_in does not match what feeds it is a compile error with a readable message.
//
// Parameters live in one flat vector in the order of the authors' state_dict (per layer: the
// rank convolution, the 1x1 weight, the 1x1 bias), which is also the layout of gradients and
// optimiser state. Derived per-layer quantities (Gram matrices) are refreshed whenever the
// parameters change through update_parameters(), so a const network is always consistent and
// may be shared by threads.
#pragma once

#include <cmath>
#include <cstddef>
#include <string>
#include <tuple>
#include <utility>

#include "coda/core/tensor.hpp"
#include "coda/nn/add_inverse.hpp"
#include "coda/nn/dau_conv.hpp"
#include "coda/nn/encoded_input.hpp"
#include "coda/nn/logit_head.hpp"
#include "coda/nn/loss.hpp"

namespace coda {

namespace detail {

template <class... T>
struct type_list {};

template <class List, class T>
struct push_front;
template <class... Ts, class T>
struct push_front<type_list<Ts...>, T> {
  using type = type_list<T, Ts...>;
};

// Input shape of every layer of a chain fed with In, and the chain's output shape.
template <class In, class... Layers>
struct layer_chain {
  using inputs = type_list<>;
  using output = In;
};
template <class In, class L, class... Rest>
struct layer_chain<In, L, Rest...> {
  static_assert(is_dau_conv<L>::value, "coda::network: every layer must be a coda::dau_conv<...>");
  static constexpr bool fits = In::dim(0) == L::c_in;
  static_assert(fits,
                "coda::network: layer mismatch: a DAU layer's C_in must equal the number of channels that feed it "
                "(the previous layer's C_out, or twice the image channels for the first layer, after AddInverse)");
  // On a mismatch, continue with a shape that fits so that only the message above is reported.
  using fed = std::conditional_t<fits, In, shape<L::c_in, In::dim(1), In::dim(2)>>;
  using rest = layer_chain<typename L::template output_shape<fed>, Rest...>;
  using inputs = typename push_front<typename rest::inputs, fed>::type;
  using output = typename rest::output;
};

template <std::size_t I, class List>
struct at;
template <std::size_t I, class T, class... Ts>
struct at<I, type_list<T, Ts...>> : at<I - 1, type_list<Ts...>> {};
template <class T, class... Ts>
struct at<0, type_list<T, Ts...>> {
  using type = T;
};

template <class F, std::size_t... I>
constexpr void for_each_index(F&& f, std::index_sequence<I...>) {
  (f(std::integral_constant<std::size_t, I>{}), ...);
}

/// Calls f(std::integral_constant<std::size_t, I>) for the one I in [0, N) equal to the runtime
/// index k: per-layer work whose layer is picked at run time (by a thread pool's task number).
template <std::size_t N, class F>
constexpr void at_index(std::size_t k, F&& f) {
  for_each_index([&](auto i) { if (i == k) f(i); }, std::make_index_sequence<N>{});
}

/// Runs g(i) for i in [0, count) in order: how a network refreshes its layers by default.
struct in_order {
  template <class G>
  void operator()(index_t count, G&& g) const {
    for (index_t i = 0; i < count; ++i) g(i);
  }
};

}  // namespace detail

template <class Scalar, class ImageShape, class... Layers>
class network {
  static_assert(std::is_floating_point_v<Scalar>, "coda::network: Scalar must be float or double");
  static_assert(is_shape_v<ImageShape> && ImageShape::rank == 3, "coda::network: the image shape must be a shape<C, H, W>");
  static_assert(sizeof...(Layers) > 0, "coda::network: a network needs at least one DAU layer");

  using chain = detail::layer_chain<typename add_inverse<ImageShape>::output_shape, Layers...>;

 public:
  using scalar_type = Scalar;
  using image_shape = ImageShape;
  using encoder = add_inverse<ImageShape>;
  /// The 6-channel (for RGB) AddInverse encoding: the space contributions live in.
  using encoded_shape = typename encoder::output_shape;
  static constexpr std::size_t depth = sizeof...(Layers);
  template <std::size_t I>
  using layer = std::tuple_element_t<I, std::tuple<Layers...>>;
  /// Per-sample input shape of layer I (layer 0 gets encoded_shape).
  template <std::size_t I>
  using layer_input_shape = typename detail::at<I, typename chain::inputs>::type;
  /// Output of the last DAU layer: shape<classes, h, w>.
  using output_map_shape = typename chain::output;
  using head = logit_head<output_map_shape>;
  static constexpr index_t num_classes = head::classes;
  using logits_shape = shape<num_classes>;
  /// Contributions of every class to every encoded input dimension.
  using contributions_shape = prepend_t<num_classes, encoded_shape>;

  /// The same layers applied (fully convolutionally) to images of another size.
  template <class OtherImage>
  using with_image = network<Scalar, OtherImage, Layers...>;

  static constexpr index_t parameter_count = (Layers::parameter_count + ...);
  template <std::size_t I>
  static constexpr index_t parameter_offset() {
    index_t off = 0;
    detail::for_each_index([&](auto j) { if (j < I) off += layer<j>::parameter_count; }, std::make_index_sequence<depth>{});
    return off;
  }

  /// Elements of a gradient buffer: the parameters' gradients, then each layer's batch sums
  /// (see finish_gradients in coda/nn/training.hpp).
  static constexpr index_t gradient_size = parameter_count + (Layers::sums_size + ...);
  template <std::size_t I>
  static constexpr index_t sums_offset() {
    index_t off = parameter_count;
    detail::for_each_index([&](auto j) { if (j < I) off += layer<j>::sums_size; }, std::make_index_sequence<depth>{});
    return off;
  }

  /// Whether `name` is one of the parameter tensors of a model file of this network.
  static bool has_parameter_tensor(const std::string& name) {
    bool found = false;
    detail::for_each_index(
        [&](auto i) {
          for (const parameter_tensor& p : layer<i>::parameter_tensors)
            found = found || name == std::to_string(i) + "." + p.suffix;
        },
        std::make_index_sequence<depth>{});
    return found;
  }

  /// Nodes a forward pass pushes onto a tape: encoding, layers, head.
  static constexpr std::size_t tape_nodes = depth + 2;

  /// Arena elements for a forward pass of `batch` images recorded in mode m, followed by
  /// backward passes carrying `seeds` gradients per image (0: no backward pass). A train-mode
  /// recording is differentiated with backward_mode::train or ::input; with `with_loss` its
  /// backward pass starts from a loss recorded by record_loss(), otherwise from the logits.
  static constexpr std::size_t workspace_size(index_t batch, record_mode m, index_t seeds, bool with_loss = false) {
    using coda::detail::aligned_count;
    const backward_mode bm = m == record_mode::train ? backward_mode::train : backward_mode::frozen;
    std::size_t kept = aligned_count<Scalar>(batch * encoded_shape::size) + aligned_count<Scalar>(batch * num_classes);
    std::size_t fwd_scratch = 0, bwd_scratch = 0;
    index_t largest_input = encoded_shape::size;
    detail::for_each_index(
        [&](auto i) {
          using L = layer<i>;
          using In = layer_input_shape<i>;
          kept += aligned_count<Scalar>(batch * L::template output_shape<In>::size) + L::template recorded_size<In, Scalar>(batch, m);
          fwd_scratch = std::max(fwd_scratch, L::template forward_scratch<In, Scalar>(m, batch));
          bwd_scratch = std::max(bwd_scratch, L::template backward_scratch<In, Scalar>(bm, batch));
          largest_input = std::max(largest_input, L::template output_shape<In>::size);
        },
        std::make_index_sequence<depth>{});
    if (seeds == 0) return kept + fwd_scratch;
    std::size_t seed_buffer = aligned_count<Scalar>(batch * seeds * num_classes);
    if (with_loss) {
      kept += loss_workspace<Scalar>(batch);
      seed_buffer = aligned_count<Scalar>(batch);
    }
    const std::size_t backward = seed_buffer + backward_buffers_size<Scalar>(batch * largest_input, seeds) + bwd_scratch;
    return kept + std::max(fwd_scratch, backward);
  }

  /// Nodes of a training recording: the forward pass and the loss.
  static constexpr std::size_t training_tape_nodes = depth + 3;

  /// Workspace of the embedded single-image path: forward plus the explanation of every class.
  static constexpr std::size_t embedded_workspace_size = workspace_size(1, record_mode::explain, num_classes, false);

  explicit network(Scalar temperature = Scalar(1000), Scalar logit_bias = Scalar(std::log(1.0 / 9.0)))
      : params_(static_cast<std::size_t>(parameter_count), Scalar(0)), derived_(derived_total(), Scalar(0)) {
    set_temperature(temperature);
    set_logit_bias(logit_bias);
    bind();
    refresh();
  }
  network(const network& o) : params_(o.params_), derived_(o.derived_), head_(o.head_) { bind(); }
  network& operator=(const network& o) {
    params_ = o.params_;
    derived_ = o.derived_;
    head_ = o.head_;
    bind();
    return *this;
  }
  /// Moves steal the parameter and derived buffers instead of copying them (a cifar10-9l model is
  /// millions of values); the layer views are rebound to the stolen buffers. A moved-from network
  /// may only be assigned to or destroyed.
  network(network&& o) noexcept : params_(std::move(o.params_)), derived_(std::move(o.derived_)), head_(o.head_) { bind(); }
  network& operator=(network&& o) noexcept {
    if (this == &o) return *this;  // a vector moved onto itself would be left empty
    params_ = std::move(o.params_);
    derived_ = std::move(o.derived_);
    head_ = o.head_;
    bind();
    return *this;
  }
  /// The parameters of a network over another image size (the layers are convolutional).
  template <class OtherImage>
  explicit network(const network<Scalar, OtherImage, Layers...>& o)
      : params_(o.parameters(), o.parameters() + parameter_count), derived_(derived_total()) {
    set_temperature(o.temperature());
    set_logit_bias(o.logit_bias());
    bind();
    refresh();
  }

  Scalar temperature() const { return head_.temperature; }
  Scalar logit_bias() const { return head_.logit_bias; }
  void set_temperature(Scalar t) {
    CODA_REQUIRE(std::isfinite(t) && t > 0, "coda::network: the temperature must be a positive finite number");
    head_.temperature = t;
  }
  void set_logit_bias(Scalar b) {
    CODA_REQUIRE(std::isfinite(b), "coda::network: the logit bias must be finite");
    head_.logit_bias = b;
  }

  /// All parameters, flat, in state_dict order.
  const Scalar* parameters() const { return params_.data(); }
  /// Lets `f(Scalar* data, index_t count)` modify the parameters, then refreshes derived data.
  /// `each_layer(depth, g)` calls g(i) once per layer i; the layers are independent, so a trainer
  /// may spread them over its threads.
  template <class F, class EachLayer = detail::in_order>
  void update_parameters(F&& f, EachLayer&& each_layer = {}) {
    f(params_.data(), parameter_count);
    refresh(each_layer);
  }

  /// Records the forward pass of `batch` images ([batch][image_shape]) on `t`, in t's mode, and
  /// returns the logits [batch][num_classes], which live in t's arena. The caller has reserved
  /// the arena (workspace_size) and validated the images. Node 0 is the AddInverse encoding,
  /// node i + 1 layer i, node depth + 1 the logit head.
  const Scalar* forward(const Scalar* images, index_t batch, tape<Scalar>& t) const {
    Scalar* x = t.memory().allocate(static_cast<std::size_t>(batch * encoded_shape::size));
    encoder::forward(images, x, batch, t);
    return forward_layers(x, batch, t);
  }

  /// The same from inputs already in the encoded space ([batch][encoded_shape], which must stay
  /// valid while the tape is used): what attribution methods need when they scale or occlude
  /// the encoded input. Node 0 passes gradients through unchanged, so the nodes are numbered as
  /// in forward().
  const Scalar* forward_encoded(const Scalar* encoded, index_t batch, tape<Scalar>& t) const {
    encoded_input<encoded_shape>::forward(encoded, batch, t);
    return forward_layers(encoded, batch, t);
  }

  /// The kernels' view of layer i's parameters and derived data.
  const kernels::dau_weights<Scalar>& layer_weights(std::size_t i) const { return weights_[i]; }

 private:
  const Scalar* forward_layers(const Scalar* x, index_t batch, tape<Scalar>& t) const {
    arena<Scalar>& mem = t.memory();
    detail::for_each_index(
        [&](auto i) {
          using L = layer<i>;
          using In = layer_input_shape<i>;
          Scalar* y = mem.allocate(static_cast<std::size_t>(batch * L::template output_shape<In>::size));
          L::template forward<In, parameter_offset<i>(), sums_offset<i>()>(weights_[i], x, y, batch, t);
          x = y;
        },
        std::make_index_sequence<depth>{});
    Scalar* logits = mem.allocate(static_cast<std::size_t>(batch * num_classes));
    head::forward(head_, x, logits, batch, t);
    return logits;
  }

  static constexpr std::size_t derived_total() { return static_cast<std::size_t>((Layers::template derived_size<Scalar> + ...)); }

  void bind() {
    std::size_t d = 0;
    detail::for_each_index(
        [&](auto i) {
          using L = layer<i>;
          const Scalar* p = params_.data() + parameter_offset<i>();
          weights_[i] = L::template derived_layout<Scalar>().bind(p, p + L::a_size, p + L::a_size + L::b_size, derived_.data() + d);
          d += static_cast<std::size_t>(L::template derived_size<Scalar>);
        },
        std::make_index_sequence<depth>{});
  }

  template <class EachLayer = detail::in_order>
  void refresh(EachLayer&& each_layer = {}) {
    each_layer(index_t(depth), [&](index_t k) {
      detail::at_index<depth>(std::size_t(k), [&](auto i) {
        using L = layer<i>;
        // Kept per thread: a fresh arena per layer and step faulted its pages in at every step.
        thread_local arena<Scalar> mem;
        mem.reserve(kernels::dau_derived_scratch<Scalar>(L::patch_size, L::c_out, L::rank, L::template winograd_channels<Scalar>));
        const auto& w = weights_[i];
        kernels::compute_dau_derived<Scalar>(L::patch_size, L::c_out, L::rank, L::template winograd_channels<Scalar>, w.a, w.b, w.bias,
                                             derived_.data() + derived_offset<i>(), mem);
      });
    });
  }

  template <std::size_t I>
  static constexpr std::size_t derived_offset() {
    std::size_t off = 0;
    detail::for_each_index([&](auto j) { if (j < I) off += static_cast<std::size_t>(layer<j>::template derived_size<Scalar>); },
                           std::make_index_sequence<depth>{});
    return off;
  }

  coda::detail::aligned_vector<Scalar> params_;
  coda::detail::aligned_vector<Scalar> derived_;
  logit_head_params<Scalar> head_{};
  std::array<kernels::dau_weights<Scalar>, depth> weights_{};
};

}  // namespace coda

// The exact linear decomposition of a CoDA-Net's logits ("contributions").
//
// With every dynamic weight and norm frozen, the network is the linear map M(x) and
// logit_c - beta = sum_i M(x)_{c,i} x_i. The contribution of input dimension i to class c is
// x_i * d logit_c / d x_i computed with the weights frozen; the contributions sum to
// logit_c - beta up to float rounding (completeness). The same holds at the input of any layer.
//
// Batched functions allocate their results and run on coda::threads() threads; the single-image
// overloads taking a workspace run on the calling thread and do not allocate at all (as
// predict() in coda/nn/inference.hpp), and have exception-free twins (try_explain,
// try_explain_all). Each entry point validates its arguments with one routine before it runs.
#pragma once

#include <algorithm>
#include <vector>

#include "coda/nn/inference.hpp"

namespace coda {

namespace detail {

/// Forward + frozen backward for `batch` images; class_of(n, k) names the class of seed k of
/// image n. Writes [batch][seeds][input of layer Layer] contributions to `out`.
template <std::size_t Layer, class Net, class ClassOf>
void explain_batch(const Net& net, const typename Net::scalar_type* images, index_t batch, index_t seeds, ClassOf class_of,
                   tape<typename Net::scalar_type>& t, typename Net::scalar_type* out,
                   typename Net::scalar_type* logits_out) {
  using T = typename Net::scalar_type;
  constexpr index_t size = Net::template layer_input_shape<Layer>::size;
  record_forward(net, images, batch, record_mode::explain, seeds, t, logits_out);
  T* seed = t.memory().allocate(static_cast<std::size_t>(batch * seeds * Net::num_classes));
  std::fill(seed, seed + batch * seeds * Net::num_classes, T(0));
  for (index_t n = 0; n < batch; ++n)
    for (index_t k = 0; k < seeds; ++k) seed[(n * seeds + k) * Net::num_classes + class_of(n, k)] = T(1);
  const T* grad = run_backward<T>(t, Layer + 1, Net::depth + 1, backward_mode::frozen, seeds, seed, nullptr);
  const T* act = t.node(Layer + 1).input;
  for (index_t n = 0; n < batch; ++n)
    for (index_t k = 0; k < seeds; ++k) {
      const T* g = grad + (n * seeds + k) * size;
      T* o = out + (n * seeds + k) * size;
      for (index_t i = 0; i < size; ++i) o[i] = act[n * size + i] * g[i];
    }
}

/// The checks of contributions() and layer_contributions(): one class per image, each in range,
/// and finite images.
template <class Net>
result validate_contributions(tensor_view<const typename Net::scalar_type, typename Net::image_shape> images,
                              const std::vector<index_t>& classes) noexcept {
  if (static_cast<index_t>(classes.size()) != images.batch())
    return failure(status::batch_mismatch, "coda::contributions: one class index per image is needed (%ld images, %ld classes)",
                   long(images.batch()), long(classes.size()));
  for (index_t c : classes)
    if (result r = check_class<Net>(c); !r) return r;
  return validate_images<Net>(images);
}

/// The checks of explain() and try_explain(): a class in range, a finite image, a workspace
/// that holds the pass.
template <class Net>
result validate_explain(const sample<typename Net::scalar_type, typename Net::image_shape>& image, index_t cls,
                        workspace<Net>& ws) noexcept {
  if (result r = check_class<Net>(cls); !r) return r;
  return validate_single(image, ws);
}

/// explain() of a validated image and class.
template <class Net>
void explain_single(const Net& net, const sample<typename Net::scalar_type, typename Net::image_shape>& image, index_t cls,
                    sample<typename Net::scalar_type, typename Net::encoded_shape>& out, workspace<Net>& ws,
                    sample<typename Net::scalar_type, typename Net::logits_shape>* logits) {
  explain_batch<0>(net, image.data(), 1, 1, [cls](index_t, index_t) { return cls; }, ws.tape(), out.data(),
                   logits ? logits->data() : nullptr);
}

/// explain_all() of a validated image.
template <class Net>
void explain_all_single(const Net& net, const sample<typename Net::scalar_type, typename Net::image_shape>& image,
                        sample<typename Net::scalar_type, typename Net::contributions_shape>& out, workspace<Net>& ws,
                        sample<typename Net::scalar_type, typename Net::logits_shape>* logits) {
  explain_batch<0>(net, image.data(), 1, Net::num_classes, [](index_t, index_t k) { return k; }, ws.tape(), out.data(),
                   logits ? logits->data() : nullptr);
}

}  // namespace detail

/// Contributions at the input of layer `Layer` (0: the encoded image) of class classes[n] for
/// image n: [N][layer_input_shape<Layer>].
template <std::size_t Layer, class Net>
tensor<typename Net::scalar_type, typename Net::template layer_input_shape<Layer>> layer_contributions(
    const Net& net, tensor_view<const typename Net::scalar_type, typename Net::image_shape> images,
    const std::vector<index_t>& classes) {
  static_assert(Layer < Net::depth, "coda::layer_contributions: the layer index is past the last layer");
  using T = typename Net::scalar_type;
  detail::throw_if_failed(detail::validate_contributions<Net>(images, classes));
  tensor<T, typename Net::template layer_input_shape<Layer>> out(images.batch());
  detail::for_each_chunk<T>(images.batch(), [&](index_t n0, index_t nb, tape<T>& t) {
    detail::explain_batch<Layer>(
        net, images.sample_data(n0), nb, 1, [&](index_t n, index_t) { return classes[static_cast<std::size_t>(n0 + n)]; }, t,
        out.sample_data(n0), nullptr);
  });
  return out;
}

/// Contributions of class classes[n] to the encoded input of image n: [N][encoded_shape].
template <class Net>
tensor<typename Net::scalar_type, typename Net::encoded_shape> contributions(
    const Net& net, tensor_view<const typename Net::scalar_type, typename Net::image_shape> images,
    const std::vector<index_t>& classes) {
  return layer_contributions<0>(net, images, classes);
}

/// Contributions of every class from one forward pass: [N][classes][encoded_shape]; the logits
/// of that pass are written to `logits` when given.
template <class Net>
tensor<typename Net::scalar_type, typename Net::contributions_shape> contributions_all(
    const Net& net, tensor_view<const typename Net::scalar_type, typename Net::image_shape> images,
    tensor<typename Net::scalar_type, typename Net::logits_shape>* logits = nullptr) {
  using T = typename Net::scalar_type;
  detail::throw_if_failed(detail::validate_images<Net>(images));
  tensor<T, typename Net::contributions_shape> out(images.batch());
  if (logits) logits->resize(images.batch());
  detail::for_each_chunk<T>(images.batch(), [&](index_t n0, index_t nb, tape<T>& t) {
    detail::explain_batch<0>(net, images.sample_data(n0), nb, Net::num_classes, [](index_t, index_t k) { return k; }, t,
                             out.sample_data(n0), logits ? logits->sample_data(n0) : nullptr);
  });
  return out;
}

// ---- single image, no allocation -------------------------------------------------------------

/// Contributions of class `cls` for one image (and its logits, when given), using only the
/// workspace.
template <class Net>
void explain(const Net& net, const sample<typename Net::scalar_type, typename Net::image_shape>& image, index_t cls,
             sample<typename Net::scalar_type, typename Net::encoded_shape>& out, workspace<Net>& ws,
             sample<typename Net::scalar_type, typename Net::logits_shape>* logits = nullptr) {
  detail::throw_if_failed(detail::validate_explain(image, cls, ws));
  detail::explain_single(net, image, cls, out, ws, logits);
}

/// explain() without exceptions: the same checks, reported as a result.
template <class Net>
result try_explain(const Net& net, const sample<typename Net::scalar_type, typename Net::image_shape>& image, index_t cls,
                   sample<typename Net::scalar_type, typename Net::encoded_shape>& out, workspace<Net>& ws,
                   sample<typename Net::scalar_type, typename Net::logits_shape>* logits = nullptr) noexcept {
  if (result r = detail::validate_explain(image, cls, ws); !r) return r;
  return detail::run_checked([&] { detail::explain_single(net, image, cls, out, ws, logits); });
}

/// Contributions of every class for one image, using only the workspace.
template <class Net>
void explain_all(const Net& net, const sample<typename Net::scalar_type, typename Net::image_shape>& image,
                 sample<typename Net::scalar_type, typename Net::contributions_shape>& out, workspace<Net>& ws,
                 sample<typename Net::scalar_type, typename Net::logits_shape>* logits = nullptr) {
  detail::throw_if_failed(detail::validate_single(image, ws));
  detail::explain_all_single(net, image, out, ws, logits);
}

/// explain_all() without exceptions: the same checks, reported as a result.
template <class Net>
result try_explain_all(const Net& net, const sample<typename Net::scalar_type, typename Net::image_shape>& image,
                       sample<typename Net::scalar_type, typename Net::contributions_shape>& out, workspace<Net>& ws,
                       sample<typename Net::scalar_type, typename Net::logits_shape>* logits = nullptr) noexcept {
  if (result r = detail::validate_single(image, ws); !r) return r;
  return detail::run_checked([&] { detail::explain_all_single(net, image, out, ws, logits); });
}

}  // namespace coda

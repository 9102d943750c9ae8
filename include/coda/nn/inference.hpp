// Inference: the logits of a batch (on coda::threads() threads, in chunks that bound the memory)
// or of one image with a workspace (no allocation, and try_predict without exceptions), and the
// input checks and chunking that the explanation and attribution functions share. Each entry
// point validates its arguments with one routine returning a result (coda/core/status.hpp)
// before anything runs.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "coda/core/status.hpp"
#include "coda/core/tensor.hpp"
#include "coda/core/threads.hpp"
#include "coda/nn/network.hpp"
#include "coda/nn/workspace.hpp"

namespace coda {

namespace detail {

/// Most images per tape recording in the batched functions: bounds the arena whatever the batch.
inline constexpr index_t max_chunk = 8;

/// Calls f(first, count, tape) for chunks of [0, batch) on the worker threads, each worker with
/// its own tape. Chunks never share outputs, so the result does not depend on the thread count.
template <class T, class F>
void for_each_chunk(index_t batch, F&& f) {
  thread_pool& pool = detail::pool();
  const index_t chunk = std::clamp<index_t>((batch + pool.workers() - 1) / pool.workers(), 1, max_chunk);
  std::vector<tape<T>> tapes(static_cast<std::size_t>(pool.workers()));
  pool.run((batch + chunk - 1) / chunk, [&](long c, int w) {
    const index_t first = c * chunk;
    f(first, std::min(chunk, batch - first), tapes[static_cast<std::size_t>(w)]);
  });
}

/// Whether every value of `batch` samples is finite; the message names the first sample that is not.
template <class T>
result check_finite(const T* data, index_t batch, index_t sample_size, const char* what) noexcept {
  for (index_t n = 0; n < batch; ++n)
    for (index_t i = 0; i < sample_size; ++i)
      if (!std::isfinite(data[n * sample_size + i]))
        return failure(status::non_finite_input, "coda: %s %ld contains a non-finite value (NaN or infinity)", what, long(n));
  return {};
}

template <class Net>
result check_class(index_t c) noexcept {
  if (c < 0 || c >= Net::num_classes)
    return failure(status::class_out_of_range, "coda: class index %ld is outside [0, %ld)", long(c), long(Net::num_classes));
  return {};
}

template <class Net>
result check_workspace(workspace<Net>& ws) noexcept {
  if (ws.tape().memory().capacity() < workspace<Net>::size)
    return failure(status::workspace_too_small, "coda: the workspace holds fewer than %ld elements", long(workspace<Net>::size));
  return {};
}

/// The checks of the batched functions that take nothing but images: every value finite.
template <class Net>
result validate_images(tensor_view<const typename Net::scalar_type, typename Net::image_shape> images) noexcept {
  return check_finite(images.data(), images.batch(), Net::image_shape::size, "image");
}

/// The checks of the single-image functions (predict, explain_all and their try_ twins): a
/// finite image and a workspace that holds the pass.
template <class Net>
result validate_single(const sample<typename Net::scalar_type, typename Net::image_shape>& image, workspace<Net>& ws) noexcept {
  if (result r = check_finite(image.data(), 1, Net::image_shape::size, "image"); !r) return r;
  return check_workspace(ws);
}

template <class Net>
void record_forward(const Net& net, const typename Net::scalar_type* images, index_t batch, record_mode m, index_t seeds,
                    tape<typename Net::scalar_type>& t, typename Net::scalar_type* logits_out) {
  t.prepare(m, Net::workspace_size(batch, m, seeds), Net::tape_nodes);
  const auto* logits = net.forward(images, batch, t);
  if (logits_out) std::copy(logits, logits + batch * Net::num_classes, logits_out);
}

}  // namespace detail

/// Logits [N][classes] of a batch of images [N][image_shape].
template <class Net>
tensor<typename Net::scalar_type, typename Net::logits_shape> predict(
    const Net& net, tensor_view<const typename Net::scalar_type, typename Net::image_shape> images) {
  using T = typename Net::scalar_type;
  detail::throw_if_failed(detail::validate_images<Net>(images));
  tensor<T, typename Net::logits_shape> logits(images.batch());
  detail::for_each_chunk<T>(images.batch(), [&](index_t n0, index_t nb, tape<T>& t) {
    detail::record_forward(net, images.sample_data(n0), nb, record_mode::none, 0, t, logits.sample_data(n0));
  });
  return logits;
}

/// Whether class `label` is among the k classes of largest logit: fewer than k classes have a
/// larger one (a tie counts for the label). Top-1 and top-5 accuracy count this.
template <class T>
bool in_top_k(const T* logits, index_t classes, index_t label, index_t k) {
  CODA_REQUIRE(label >= 0 && label < classes && k > 0, "coda::in_top_k: the label must be a class and k positive");
  index_t larger = 0;
  for (index_t c = 0; c < classes; ++c) larger += logits[c] > logits[label];
  return larger < k;
}

// ---- single image, no allocation -------------------------------------------------------------

namespace detail {

/// predict() of one validated image.
template <class Net>
void predict_single(const Net& net, const sample<typename Net::scalar_type, typename Net::image_shape>& image,
                    sample<typename Net::scalar_type, typename Net::logits_shape>& logits, workspace<Net>& ws) {
  record_forward(net, image.data(), 1, record_mode::none, 0, ws.tape(), logits.data());
}

}  // namespace detail

/// Logits of one image, using only the workspace.
template <class Net>
void predict(const Net& net, const sample<typename Net::scalar_type, typename Net::image_shape>& image,
             sample<typename Net::scalar_type, typename Net::logits_shape>& logits, workspace<Net>& ws) {
  detail::throw_if_failed(detail::validate_single(image, ws));
  detail::predict_single(net, image, logits, ws);
}

/// predict() without exceptions: the same checks, reported as a result.
template <class Net>
result try_predict(const Net& net, const sample<typename Net::scalar_type, typename Net::image_shape>& image,
                   sample<typename Net::scalar_type, typename Net::logits_shape>& logits, workspace<Net>& ws) noexcept {
  if (result r = detail::validate_single(image, ws); !r) return r;
  return detail::run_checked([&] { detail::predict_single(net, image, logits, ws); });
}

}  // namespace coda

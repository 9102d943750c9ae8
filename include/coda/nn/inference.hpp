// Inference: the logits of a batch (on coda::threads() threads, in chunks that bound the memory)
// or of one image with a workspace (no allocation), and the input checks and chunking that the
// explanation and attribution functions share.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

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

template <class T>
void require_finite(const T* data, index_t batch, index_t sample_size, const char* what) {
  for (index_t n = 0; n < batch; ++n)
    for (index_t i = 0; i < sample_size; ++i)
      if (!std::isfinite(data[n * sample_size + i]))
        CODA_THROW(argument_error(std::string("coda: ") + what + " " + std::to_string(n) +
                             " contains a non-finite value (NaN or infinity)"));
}

template <class Net>
void require_class(index_t c) {
  if (c < 0 || c >= Net::num_classes)
    CODA_THROW(argument_error("coda: class index " + std::to_string(c) + " is outside [0, " + std::to_string(Net::num_classes) + ")"));
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
  detail::require_finite(images.data(), images.batch(), Net::image_shape::size, "image");
  tensor<T, typename Net::logits_shape> logits(images.batch());
  detail::for_each_chunk<T>(images.batch(), [&](index_t n0, index_t nb, tape<T>& t) {
    detail::record_forward(net, images.sample_data(n0), nb, record_mode::none, 0, t, logits.sample_data(n0));
  });
  return logits;
}

// ---- single image, no allocation -------------------------------------------------------------

/// Logits of one image, using only the workspace.
template <class Net>
void predict(const Net& net, const sample<typename Net::scalar_type, typename Net::image_shape>& image,
             sample<typename Net::scalar_type, typename Net::logits_shape>& logits, workspace<Net>& ws) {
  detail::require_finite(image.data(), 1, Net::image_shape::size, "image");
  detail::record_forward(net, image.data(), 1, record_mode::none, 0, ws.tape(), logits.data());
}

}  // namespace coda

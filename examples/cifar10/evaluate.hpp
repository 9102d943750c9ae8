// Test-set accuracy of a network, in chunks (bounded memory), with progress lines. The loop is
// shared by the CPU and the GPU (device.hpp): only the logits of a chunk come from either.
#pragma once

#include <algorithm>
#include <coda/attribution/contributions.hpp>
#include <coda/data/cifar.hpp>
#include <vector>

#include "progress.hpp"

namespace cifar {

/// Images per forward call of an evaluation.
inline constexpr coda::index_t eval_chunk = 64;

/// Fraction of `data` whose arg-max logit is the label. forward(images, n, logits) writes the
/// logits [n][classes] of n <= eval_chunk CIFAR-10 images [n][3][32][32].
template <class Forward>
double accuracy_of(const coda::cifar10_dataset& data, coda::index_t classes, const char* what, Forward&& forward) {
  std::vector<float> images(static_cast<std::size_t>(eval_chunk * coda::cifar_image_bytes));
  std::vector<float> logits(static_cast<std::size_t>(eval_chunk * classes));
  coda::index_t correct = 0;
  progress bar(what, data.size());
  for (coda::index_t first = 0; first < data.size(); first += eval_chunk) {
    const coda::index_t n = std::min(eval_chunk, data.size() - first);
    for (coda::index_t b = 0; b < n; ++b) data.image_as(first + b, images.data() + b * coda::cifar_image_bytes);
    forward(static_cast<const float*>(images.data()), n, logits.data());
    for (coda::index_t b = 0; b < n; ++b) {
      const float* l = logits.data() + b * classes;
      correct += std::max_element(l, l + classes) - l == data.labels[static_cast<std::size_t>(first + b)];
    }
    bar.update(first + n, -1, double(correct) / double(first + n));
  }
  bar.finish();
  return data.size() ? double(correct) / double(data.size()) : 0.0;
}

/// accuracy_of with the network on the CPU.
template <class Net>
double accuracy(const Net& net, const coda::cifar10_dataset& data, const char* what = "eval") {
  coda::detail::require_dataset_shape<Net, coda::cifar10_image_shape>();
  using images_view = coda::tensor_view<const float, typename Net::image_shape>;
  return accuracy_of(data, Net::num_classes, what, [&](const float* images, coda::index_t n, float* logits) {
    const auto l = coda::predict(net, images_view(images, n));
    std::copy(l.data(), l.data() + n * Net::num_classes, logits);
  });
}

}  // namespace cifar

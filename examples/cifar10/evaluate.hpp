// Test-set accuracy of a network, in chunks (bounded memory), with progress lines.
#pragma once

#include <coda/attribution/contributions.hpp>
#include <coda/io/cifar.hpp>

#include "progress.hpp"

namespace cifar {

/// Fraction of `data` whose arg-max logit is the label.
template <class Net>
double accuracy(const Net& net, const coda::image_dataset& data, const char* what = "eval") {
  constexpr coda::index_t chunk = 64;
  coda::tensor<float, typename Net::image_shape> images(chunk);
  coda::index_t correct = 0;
  progress bar(what, data.size());
  for (coda::index_t first = 0; first < data.size(); first += chunk) {
    const coda::index_t n = std::min(chunk, data.size() - first);
    for (coda::index_t b = 0; b < n; ++b) data.image_as(first + b, images.sample_data(b));
    const auto logits = coda::predict(net, coda::tensor_view<const float, typename Net::image_shape>(images.data(), n));
    for (coda::index_t b = 0; b < n; ++b) {
      const float* l = logits.sample_data(b);
      correct += std::max_element(l, l + Net::num_classes) - l == data.labels[static_cast<std::size_t>(first + b)];
    }
    bar.update(first + n, -1, double(correct) / double(first + n));
  }
  bar.finish();
  return data.size() ? double(correct) / double(data.size()) : 0.0;
}

}  // namespace cifar

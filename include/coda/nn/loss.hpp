// Classification losses on the tape. Both are means: binary cross-entropy with logits (the
// paper's loss) over batch x classes with one-hot targets, softmax cross-entropy over the batch.
// `scale` multiplies the mean, which is how a mini-batch of a virtual batch is weighted
// (batch / virtual_batch). With `mean_over`, the mean is taken over a larger mini-batch than the
// `batch` samples recorded here (a mini-batch split across several tapes).
#pragma once

#include <algorithm>
#include <cmath>
#include <string>

#include "coda/ad/loss_rules.hpp"
#include "coda/core/error.hpp"
#include "coda/nn/loss_kind.hpp"

namespace coda {

/// Arena elements recording a loss over `batch` samples takes.
template <class T>
constexpr std::size_t loss_workspace(index_t batch) {
  return coda::detail::aligned_count<T>(batch + 1) + coda::detail::aligned_count<T>(batch);
}

/// Records the loss of `logits` (from the tape's arena, [batch][classes]) against `labels` and
/// returns its value, the sum of the per-sample terms.
template <class T>
double record_loss(tape<T>& t, loss_kind kind, const T* logits, index_t batch, index_t classes, const int* labels,
                   double scale = 1.0, index_t mean_over = 0) {
  if (mean_over == 0) mean_over = batch;
  CODA_REQUIRE(mean_over >= batch && batch > 0, "coda::record_loss: the mean must cover at least the recorded batch");
  for (index_t n = 0; n < batch; ++n)
    if (labels[n] < 0 || labels[n] >= classes)
      CODA_THROW(argument_error("coda::record_loss: label " + std::to_string(labels[n]) + " of sample " + std::to_string(n) +
                           " is outside [0, " + std::to_string(classes) + ")"));
  const double norm = scale / double(kind == loss_kind::binary_cross_entropy ? mean_over * classes : mean_over);
  T* saved = t.memory().allocate(static_cast<std::size_t>(batch + 1));
  T* out = t.memory().allocate(static_cast<std::size_t>(batch));
  saved[0] = static_cast<T>(norm);
  double total = 0;
  for (index_t n = 0; n < batch; ++n) {
    saved[n + 1] = static_cast<T>(labels[n]);
    const T* l = logits + n * classes;
    double sample = 0;
    if (kind == loss_kind::binary_cross_entropy) {
      for (index_t c = 0; c < classes; ++c) {
        const double x = l[c], y = labels[n] == c ? 1.0 : 0.0;
        sample += std::max(x, 0.0) - x * y + std::log1p(std::exp(-std::abs(x)));  // stable log(1 + e^x) - x y
      }
    } else {
      const double top = *std::max_element(l, l + classes);
      double sum = 0;
      for (index_t c = 0; c < classes; ++c) sum += std::exp(double(l[c]) - top);
      sample = top + std::log(sum) - double(l[labels[n]]);
    }
    out[n] = static_cast<T>(sample * norm);
    total += sample * norm;
  }
  const auto rule = kind == loss_kind::binary_cross_entropy ? &bce_loss_backward<T> : &cross_entropy_loss_backward<T>;
  t.push({rule, nullptr, logits, out, saved, batch, classes, 1, 0, t.mode()});
  return total;
}

}  // namespace coda

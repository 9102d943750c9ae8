// Classification losses on the tape. Both are means: binary cross-entropy with logits (the
// paper's loss) over batch x classes with one-hot targets, softmax cross-entropy over the batch.
// `scale` multiplies the mean, which is how a mini-batch of a virtual batch is weighted
// (batch / virtual_batch). With `mean_over`, the mean is taken over a larger mini-batch than the
// `batch` samples recorded here (a mini-batch split across several tapes).
//
// A loss node maps logits [N][C] to per-sample losses [N][1] that already include that
// normalisation, so the seed of a backward pass is one gradient per sample. Its record holds the
// scale and the labels.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>

#include "coda/ad/tape.hpp"
#include "coda/core/error.hpp"
#include "coda/core/diagnostics.hpp"
#include "coda/nn/loss_kind.hpp"

namespace coda {

namespace detail {

// The element-wise functions go through unaryExpr with the scalar std:: functions: Eigen's
// vectorised exp of double trips GCC 12 bug 105593 (-Wuninitialized in AVX-512 intrinsics), and
// the std:: functions give the values these losses always had; a sample's C logits are too few for
// vectorising to matter.

template <class T>
T sigmoid(T x) {
  return x >= 0 ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x));
}

/// log(1 + e^x) without overflow.
template <class T>
T softplus(T x) {
  return std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x)));
}

CODA_BEGIN_EIGEN_REDUCTIONS
// Each loss states the loss of one sample with logits l and label y, and the probabilities p(l)
// that make its gradient p(l) - onehot(y).

/// Binary cross-entropy with logits: sum_c softplus(l_c) - l_y, the stable form of
/// -sum_c [y_c log s_c + (1 - y_c) log(1 - s_c)], s = sigmoid(l). The label's term is written
/// softplus(-l_y), so that a tiny loss is not lost to cancellation.
struct binary_cross_entropy {
  template <class L>
  static double sample(const L& l, index_t y) {
    using plain = Eigen::Array<double, Eigen::Dynamic, 1>;
    return plain::NullaryExpr(l.size(), [&](index_t c) { return softplus(c == y ? -l(c) : l(c)); }).sum();
  }
  template <class L>
  static auto probabilities(const L& l) {
    return l.unaryExpr([](auto x) { return sigmoid(x); });
  }
};

/// Softmax cross-entropy: log sum_c e^(l_c) - l_y, about the maximum logit.
struct softmax_cross_entropy {
  template <class L>
  static auto exp_about_top(const L& l) {
    return (l - l.maxCoeff()).unaryExpr([](auto x) { return std::exp(x); });
  }
  template <class L>
  static double sample(const L& l, index_t y) {
    return l.maxCoeff() + std::log(exp_about_top(l).sum()) - l(y);
  }
  template <class L>
  static auto probabilities(const L& l) {
    const auto e = exp_about_top(l);
    return e / e.sum();
  }
};

/// The loss node's backward rule: d/dl_c = seed * scale * (probabilities(l)_c - y_c).
template <class Loss, class T>
void loss_backward(const tape_node<T>& node, const backward_args<T>& args) {
  check_backward("loss", node, args, record_mode::none, 1);
  if (!args.grad_in) return;
  const T scale = node.saved[0];
  const T* labels = node.saved + 1;
  const auto logits = columns(node.input, node.batch, node.input_size);
  auto grad = columns(args.grad_in, node.batch, node.input_size);
  for (index_t n = 0; n < node.batch; ++n) {
    grad.col(n) = Loss::probabilities(logits.col(n));
    grad(static_cast<index_t>(labels[n]), n) -= T(1);
    grad.col(n) *= args.grad_out[n] * scale;
  }
}

/// record_loss for one loss.
template <class Loss, class T>
double record_loss_node(tape<T>& t, double norm, const T* logits, index_t batch, index_t classes, const int* labels) {
  T* saved = t.memory().allocate(static_cast<std::size_t>(batch + 1));
  T* out = t.memory().allocate(static_cast<std::size_t>(batch));
  saved[0] = static_cast<T>(norm);
  const auto l = columns(logits, batch, classes);
  double total = 0;
  for (index_t n = 0; n < batch; ++n) {
    saved[n + 1] = static_cast<T>(labels[n]);
    const double sample = Loss::sample(l.col(n).template cast<double>(), labels[n]) * norm;
    out[n] = static_cast<T>(sample);
    total += sample;
  }
  t.push({&loss_backward<Loss, T>, nullptr, logits, out, saved, batch, classes, 1, t.mode()});
  return total;
}
CODA_END_EIGEN_REDUCTIONS

}  // namespace detail

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
  if (kind == loss_kind::binary_cross_entropy)
    return detail::record_loss_node<detail::binary_cross_entropy>(t, scale / double(mean_over * classes), logits, batch, classes, labels);
  return detail::record_loss_node<detail::softmax_cross_entropy>(t, scale / double(mean_over), logits, batch, classes, labels);
}

}  // namespace coda

// CPU-vs-device parity checks, written once for any device type with the interface of
// coda::cuda::device_network and device_trainer: the GPU (test_device.cpp) and the host
// emulation of the device code (test_emulation.cpp). The CPU library is the reference.
#pragma once

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <variant>
#include <vector>

#include "coda/attribution/contributions.hpp"
#include "coda/cuda/bridge.hpp"
#include "coda/nn/init.hpp"
#include "coda/nn/presets.hpp"
#include "coda/nn/training.hpp"
#include "support/random_network.hpp"
#include "support/tolerance.hpp"

namespace coda::test::cuda {

namespace tol {
/// Both sides compute in FP32 with the same algebra, and no TF32 is used (cuBLAS runs in
/// CUBLAS_PEDANTIC_MATH), so only the order of summation differs: a few ulps of sums of up to
/// ~10^5 products (~1e-6), carried through at most nine layers. Hence 1e-4 of the scale of every
/// compared array (logits less the bias, each contribution map, each parameter tensor's
/// gradient, each optimiser step).
inline constexpr double parity = 1e-4;
}  // namespace tol

/// Both norms in one network, an odd non-square image, strides 1 and 2, kernels 3, 2 and 1,
/// padding 1 and 0, channel counts that are not multiples of 8 (the frozen kernel's channel
/// block) and 12 classes (two groups of explanation seeds, 10 + 2).
using small_net = network<float, shape<3, 9, 7>,              //
                          dau_conv<6, 5, 4, 3, 1, 1, squash>,  // 9x7
                          dau_conv<5, 11, 3, 3, 2, 1, l2>,     // 5x4
                          dau_conv<11, 7, 5, 2, 1, 0, squash>, // 4x3
                          dau_conv<7, 12, 6, 1, 1, 0, l2>>;    // 12 classes on 4x3

using cifar_net = cifar10_9l<float>;

inline small_net make_small() { return random_network<small_net>(31, 4.0f, -0.75f); }
/// The paper's network at its temperature and logit bias.
inline cifar_net make_cifar() { return random_network<cifar_net>(7, 1000.0f, float(std::log(1.0 / 9.0))); }

template <class Net>
tensor<float, typename Net::image_shape> images_for(index_t batch, std::uint32_t seed) {
  return random_images<float, typename Net::image_shape>(batch, seed);
}

template <class Net>
std::vector<int> labels_for(index_t batch) {
  std::vector<int> labels(static_cast<std::size_t>(batch));
  for (index_t n = 0; n < batch; ++n) labels[static_cast<std::size_t>(n)] = int((3 * n + 1) % Net::num_classes);
  return labels;
}

template <class Device, class Net>
void upload(Device& dev, const Net& net) {
  dev.upload_parameters(net.parameters());
}

template <class Device>
std::vector<float> parameters_of(const Device& dev) {
  std::vector<float> p(static_cast<std::size_t>(dev.parameter_count()));
  dev.download_parameters(p.data());
  return p;
}

/// Logits less the logit bias (added last, it would dominate the scale of the comparison).
inline std::vector<double> pooled(const float* logits, std::size_t n, float bias) {
  std::vector<double> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = double(logits[i]) - double(bias);
  return out;
}

inline void check_logits(const float* actual, const float* expected, std::size_t n, float bias) {
  const std::vector<double> a = pooled(actual, n, bias), e = pooled(expected, n, bias);
  CHECK(relative_error(a.data(), e.data(), n) <= tol::parity);
}

/// Each parameter tensor (a, b, bias of every layer) of two flat vectors, relative to its own
/// scale: the gradients of early layers are orders of magnitude smaller than the last layer's.
template <class Net>
void check_tensors(const Net& net, const float* actual, const float* expected, const char* what) {
  const coda::cuda::network_desc d = coda::cuda::describe(net);
  for (index_t l = 0; l < d.depth(); ++l) {
    const coda::cuda::layer_desc& L = d.layer(l);
    const index_t J = L.patch_size();
    const index_t sizes[3] = {L.rank * J, J * L.c_out * L.rank, J * L.c_out};
    const char* names[3] = {"a", "b", "bias"};
    index_t at = d.parameter_offset(l);
    for (int t = 0; t < 3; ++t) {
      INFO(what << ": layer " << l << ", tensor " << names[t]);
      CHECK(relative_error(actual + at, expected + at, static_cast<std::size_t>(sizes[t])) <= tol::parity);
      at += sizes[t];
    }
  }
}

/// What an optimiser step moved: compared as displacements, because the parameters themselves
/// would hide an error in a step that is small next to them.
inline std::vector<double> displacement(const std::vector<float>& after, const float* before) {
  std::vector<double> d(after.size());
  for (std::size_t i = 0; i < after.size(); ++i) d[i] = double(after[i]) - double(before[i]);
  return d;
}

template <class Device, class Net>
void check_forward(const Net& net, index_t batch, index_t max_batch) {
  const auto images = images_for<Net>(batch, 11);
  const auto expected = predict(net, images.view());
  typename Device::network dev(coda::cuda::describe(net), max_batch);
  upload(dev, net);
  std::vector<float> logits(static_cast<std::size_t>(batch * Net::num_classes));
  dev.forward(images.data(), batch, logits.data());
  check_logits(logits.data(), expected.data(), logits.size(), net.logit_bias());
}

template <class Device, class Net>
void check_contributions(const Net& net, index_t batch, index_t max_batch) {
  const auto images = images_for<Net>(batch, 12);
  tensor<float, typename Net::logits_shape> expected_logits;
  const auto expected = contributions_all(net, images.view(), &expected_logits);
  typename Device::network dev(coda::cuda::describe(net), max_batch);
  upload(dev, net);
  constexpr index_t map = Net::encoded_shape::size;
  std::vector<float> contributions(static_cast<std::size_t>(batch * Net::num_classes * map));
  std::vector<float> logits(static_cast<std::size_t>(batch * Net::num_classes));
  dev.contributions_all(images.data(), batch, contributions.data(), logits.data());
  check_logits(logits.data(), expected_logits.data(), logits.size(), net.logit_bias());
  for (index_t m = 0; m < batch * Net::num_classes; ++m) {
    INFO("image " << m / Net::num_classes << ", class " << m % Net::num_classes);
    CHECK(relative_error(contributions.data() + m * map, expected.data() + m * map, static_cast<std::size_t>(map)) <=
          tol::parity);
  }
}

/// The CPU's finished gradient of the loss of `batch` images (and its loss and logits).
template <class Net>
std::vector<float> cpu_gradient(const Net& net, const float* images, const int* labels, index_t batch, loss_kind kind,
                                double scale, double* loss = nullptr, float* logits = nullptr) {
  std::vector<float> grad(static_cast<std::size_t>(Net::gradient_size), 0.0f);
  tape<float> t;
  const double l = accumulate_gradients(net, images, labels, batch, kind, scale, batch, t, grad.data(), logits);
  finish_gradients(net, grad.data());
  if (loss) *loss = l;
  grad.resize(static_cast<std::size_t>(Net::parameter_count));
  return grad;
}

inline double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, std::abs(double(x)));
  return m;
}

/// Loss, logits and every parameter tensor's gradient; a max_batch below the batch makes the
/// device accumulate the batch in several passes.
template <class Device, class Net>
void check_gradients(const Net& net, index_t batch, index_t max_batch, loss_kind kind) {
  const auto images = images_for<Net>(batch, 13);
  const std::vector<int> labels = labels_for<Net>(batch);
  const double scale = 0.5;
  double expected_loss = 0;
  std::vector<float> expected_logits(static_cast<std::size_t>(batch * Net::num_classes));
  const std::vector<float> expected =
      cpu_gradient(net, images.data(), labels.data(), batch, kind, scale, &expected_loss, expected_logits.data());

  typename Device::network dev(coda::cuda::describe(net), max_batch);
  upload(dev, net);
  double loss = 0;
  std::vector<float> logits(expected_logits.size()), grad(expected.size());
  dev.accumulate_gradients(images.data(), labels.data(), batch, kind, scale, batch, &loss, logits.data());
  dev.download_gradients(grad.data());
  CHECK(std::abs(loss - expected_loss) <= tol::parity * std::abs(expected_loss));
  check_logits(logits.data(), expected_logits.data(), logits.size(), net.logit_bias());
  check_tensors(net, grad.data(), expected.data(), "gradient");
}

inline coda::cuda::device_training_settings single_step(coda::cuda::optimizer_kind o) {
  coda::cuda::device_training_settings s;
  s.optimizer = o;
  s.batch = s.virtual_batch = 1;
  return s;
}

/// One Adam step from the same gradient on both sides (the CPU's, uploaded), so that nothing
/// but the optimiser is compared, with torch's defaults; then a forward pass with the new
/// parameters checks that the device refreshed its Gram matrices.
template <class Device, class Net>
void check_adam_step(const Net& net, index_t batch) {
  const auto images = images_for<Net>(batch, 14);
  const std::vector<int> labels = labels_for<Net>(batch);
  const std::vector<float> grad = cpu_gradient(net, images.data(), labels.data(), batch, loss_kind::binary_cross_entropy, 1.0);
  const double lr = 1e-2;  // Adam's first step moves every parameter by about lr
  Net after = net;
  adam<float> opt(Net::parameter_count);
  after.update_parameters([&](float* p, index_t) { opt.step(p, grad.data(), lr); });

  typename Device::network dev(coda::cuda::describe(net), batch);
  upload(dev, net);
  dev.upload_gradients(grad.data());
  typename Device::trainer tr(dev, single_step(coda::cuda::optimizer_kind::adam));
  tr.step(lr);
  CHECK(tr.steps() == 1);
  const std::vector<float> params = parameters_of(dev);
  const std::vector<double> moved = displacement(params, net.parameters()), expected = displacement(
      std::vector<float>(after.parameters(), after.parameters() + Net::parameter_count), net.parameters());
  CHECK(relative_error(moved.data(), expected.data(), moved.size()) <= tol::parity);
  std::vector<float> m(grad.size()), v(grad.size());
  tr.download_state(coda::cuda::state_tensor::exp_avg, m.data());
  tr.download_state(coda::cuda::state_tensor::exp_avg_sq, v.data());
  CHECK(relative_error(m.data(), opt.exp_avg(), m.size()) <= tol::parity);
  CHECK(relative_error(v.data(), opt.exp_avg_sq(), v.size()) <= tol::parity);

  std::vector<float> logits(static_cast<std::size_t>(batch * Net::num_classes));
  dev.forward(images.data(), batch, logits.data());
  const auto expected_logits = predict(after, images.view());
  check_logits(logits.data(), expected_logits.data(), logits.size(), net.logit_bias());
}

/// One SGD step (momentum 0.9, as the trainer's first step) from the device's own gradient.
template <class Device, class Net>
void check_sgd_step(const Net& net, index_t batch) {
  const auto images = images_for<Net>(batch, 15);
  const std::vector<int> labels = labels_for<Net>(batch);
  const std::vector<float> grad = cpu_gradient(net, images.data(), labels.data(), batch, loss_kind::cross_entropy, 1.0);
  const double lr = 1e-2 / max_abs(grad);  // the largest step is 1e-2, far above the parameters' ulps
  Net after = net;
  sgd<float> opt(Net::parameter_count);
  after.update_parameters([&](float* p, index_t) { opt.step(p, grad.data(), lr); });

  typename Device::network dev(coda::cuda::describe(net), batch);
  upload(dev, net);
  dev.accumulate_gradients(images.data(), labels.data(), batch, loss_kind::cross_entropy, 1.0, batch, nullptr, nullptr);
  typename Device::trainer tr(dev, single_step(coda::cuda::optimizer_kind::sgd));
  tr.step(lr);
  const std::vector<float> params = parameters_of(dev);
  const std::vector<double> moved = displacement(params, net.parameters()), expected = displacement(
      std::vector<float>(after.parameters(), after.parameters() + Net::parameter_count), net.parameters());
  CHECK(relative_error(moved.data(), expected.data(), moved.size()) <= tol::parity);
  std::vector<float> buffer(grad.size());
  tr.download_state(coda::cuda::state_tensor::momentum_buffer, buffer.data());
  CHECK(relative_error(buffer.data(), opt.momentum_buffer(), buffer.size()) <= tol::parity);
}

/// coda::trainer and the device trainer over five images in mini-batches of 2, 2 and 1 with a
/// virtual batch of 4: one step after the second mini-batch, one on flush. Adam runs with eps
/// set to the scale of the gradients: its first steps are lr * g / (|g| + eps), which for eps
/// far below |g| is lr * sign(g), and a component whose gradient is within float rounding of
/// zero could take either sign on another summation order; with eps ~ max |g| the step is a
/// smooth function of the gradient, and every part of the update is still exercised.
template <class Device, class Net>
void check_trainer(const Net& net, optimizer_kind optimizer, loss_kind loss) {
  const index_t total = 5;
  const auto images = images_for<Net>(total, 16);
  const std::vector<int> labels = labels_for<Net>(total);
  const std::vector<float> g0 = cpu_gradient(net, images.data(), labels.data(), 2, loss, 0.5);
  const bool adam_run = optimizer == optimizer_kind::adam;

  training_settings s;
  s.loss = loss;
  s.optimizer = optimizer;
  s.lr = adam_run ? 1e-2 : 1e-2 / max_abs(g0);
  s.lr_step = 1000;  // a constant rate over epoch 0
  s.batch = 2;
  s.virtual_batch = 4;
  const double eps = max_abs(g0);
  Net cpu_net = net;
  trainer<Net> cpu(cpu_net, s);
  if (adam_run) std::get<adam<float>>(cpu.optimizer()).eps = eps;

  typename Device::network dev(coda::cuda::describe(net), 2);
  upload(dev, net);
  coda::cuda::device_training_settings ds = coda::cuda::device_settings(s);
  if (adam_run) ds.eps = eps;
  typename Device::trainer tr(dev, ds);

  const index_t sizes[3] = {2, 2, 1};
  index_t first = 0;
  for (index_t b = 0; b < 3; ++b) {
    const index_t n = sizes[b];
    const float* x = images.sample_data(first);
    const int* y = labels.data() + first;
    std::vector<float> cpu_logits(static_cast<std::size_t>(n * Net::num_classes)), logits(cpu_logits.size());
    const double cpu_loss = cpu.train_batch(x, y, n, 0, cpu_logits.data());
    double dev_loss = 0;
    tr.train_batch(x, y, n, s.lr, &dev_loss, logits.data());
    INFO("mini-batch " << b);
    CHECK(std::abs(dev_loss - cpu_loss) <= tol::parity * std::abs(cpu_loss));
    check_logits(logits.data(), cpu_logits.data(), logits.size(), net.logit_bias());
    CHECK(tr.pending() == cpu.pending());
    first += n;
  }
  CHECK(tr.flush(s.lr) == cpu.flush(0));
  CHECK(tr.steps() == 2);
  CHECK(cpu.steps() == 2);
  const std::vector<float> params = parameters_of(dev);
  const std::vector<double> moved = displacement(params, net.parameters()), expected = displacement(
      std::vector<float>(cpu_net.parameters(), cpu_net.parameters() + Net::parameter_count), net.parameters());
  CHECK(relative_error(moved.data(), expected.data(), moved.size()) <= tol::parity);
  std::vector<float> state(params.size());
  if (adam_run) {
    const adam<float>& o = std::get<adam<float>>(cpu.optimizer());
    tr.download_state(coda::cuda::state_tensor::exp_avg, state.data());
    CHECK(relative_error(state.data(), o.exp_avg(), state.size()) <= tol::parity);
    tr.download_state(coda::cuda::state_tensor::exp_avg_sq, state.data());
    CHECK(relative_error(state.data(), o.exp_avg_sq(), state.size()) <= tol::parity);
  } else {
    tr.download_state(coda::cuda::state_tensor::momentum_buffer, state.data());
    CHECK(relative_error(state.data(), std::get<sgd<float>>(cpu.optimizer()).momentum_buffer(), state.size()) <= tol::parity);
  }
}

/// Parameters and optimiser state survive a round trip through the host bit for bit, and
/// mismatched requests are refused.
template <class Device, class Net>
void check_round_trips(const Net& net) {
  typename Device::network dev(coda::cuda::describe(net), 1);
  upload(dev, net);
  const std::vector<float> p = parameters_of(dev);
  CHECK(std::equal(p.begin(), p.end(), net.parameters()));
  typename Device::trainer tr(dev, single_step(coda::cuda::optimizer_kind::adam));
  std::vector<float> state(p.size());
  for (std::size_t i = 0; i < state.size(); ++i) state[i] = float(i % 7) * 0.25f;
  tr.upload_state(coda::cuda::state_tensor::exp_avg_sq, state.data());
  std::vector<float> back(state.size());
  tr.download_state(coda::cuda::state_tensor::exp_avg_sq, back.data());
  CHECK(back == state);
  CHECK_THROWS_AS(tr.download_state(coda::cuda::state_tensor::momentum_buffer, back.data()), argument_error);
  const std::vector<int> bad = {Net::num_classes};
  const auto images = images_for<Net>(1, 17);
  CHECK_THROWS_AS(dev.accumulate_gradients(images.data(), bad.data(), 1, loss_kind::cross_entropy, 1.0, 1, nullptr, nullptr),
                  argument_error);
}

}  // namespace coda::test::cuda

// From the CPU library's compile-time networks and trainers to the CUDA implementation and
// back: the runtime description of a coda::network<float, ...> type, a device copy of a network,
// its parameters after training, the training settings and the optimiser state (so that
// checkpoints and model files are written by the CPU library's own code, coda/io/).
// Header-only; needs the CPU library (Eigen) and the coda_cuda library to link.
#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>
#include <variant>

#include "coda/cuda/device_network.hpp"
#include "coda/nn/training.hpp"

namespace coda::cuda {

/// The layers, temperature and logit bias of `net`.
template <class Net>
network_desc describe(const Net& net) {
  static_assert(std::is_same_v<typename Net::scalar_type, float>,
                "coda::cuda: the device implementation is FP32: use a coda::network<float, ...>");
  network_desc d;
  d.temperature = net.temperature();
  d.logit_bias = net.logit_bias();
  coda::detail::for_each_index(
      [&](auto i) {
        using L = typename Net::template layer<i>;
        using In = typename Net::template layer_input_shape<i>;
        const norm_kind norm = std::is_same_v<typename L::norm, squash> ? norm_kind::squash : norm_kind::l2;
        d.layers.push_back({L::c_in, L::c_out, L::rank, L::kernel, L::stride, L::pad, norm, In::dim(1), In::dim(2)});
      },
      std::make_index_sequence<Net::depth>{});
  return d;
}

/// A device copy of `net` for batches of up to max_batch images.
template <class Net>
device_network to_device(const Net& net, index_t max_batch) {
  device_network dev(describe(net), max_batch);
  dev.upload_parameters(net.parameters());
  return dev;
}

/// Copies the device's parameters into `net` (which refreshes its derived data).
template <class Net>
void download_parameters(const device_network& dev, Net& net) {
  CODA_REQUIRE(dev.parameter_count() == Net::parameter_count,
               "coda::cuda::download_parameters: the device network has another parameter count");
  net.update_parameters([&](float* p, index_t) { dev.download_parameters(p); });
}

/// The device trainer's view of coda::training_settings (the lr schedule stays the caller's:
/// pass coda::scheduled_lr(s.lr, s.lr_decay, s.lr_step, epoch) to each step). Adam's beta1,
/// beta2 and eps are those of coda::adam.
inline device_training_settings device_settings(const training_settings& s) {
  device_training_settings d;
  d.loss = s.loss;
  d.optimizer = s.optimizer;
  d.momentum = s.momentum;
  d.batch = s.batch;
  d.virtual_batch = s.virtual_batch;
  return d;
}

namespace detail {

template <class Optimizer>
void require_same_optimizer(const device_trainer& dev) {
  constexpr bool adam = std::is_same_v<Optimizer, coda::adam<float>>;
  CODA_REQUIRE(adam == (dev.settings().optimizer == optimizer_kind::adam),
               "coda::cuda: the device trainer and the CPU trainer use different optimisers");
}

}  // namespace detail

/// Copies the device trainer's step count and optimiser state into `host` (a CPU trainer with
/// the same optimiser), e.g. before coda::save_checkpoint. The parameters go separately
/// (download_parameters).
template <class Net>
void download_optimizer(const device_trainer& dev, trainer<Net>& host) {
  std::visit(
      [&](auto& o) {
        using O = std::decay_t<decltype(o)>;
        detail::require_same_optimizer<O>(dev);
        if constexpr (std::is_same_v<O, coda::adam<float>>) {
          dev.download_state(state_tensor::exp_avg, o.exp_avg());
          dev.download_state(state_tensor::exp_avg_sq, o.exp_avg_sq());
        } else {
          dev.download_state(state_tensor::momentum_buffer, o.momentum_buffer());
        }
        o.set_steps(dev.steps());
      },
      host.optimizer());
}

/// The reverse: resumes a device trainer from a CPU trainer's state (e.g. after load_checkpoint).
template <class Net>
void upload_optimizer(const trainer<Net>& host, device_trainer& dev) {
  std::visit(
      [&](const auto& o) {
        using O = std::decay_t<decltype(o)>;
        detail::require_same_optimizer<O>(dev);
        if constexpr (std::is_same_v<O, coda::adam<float>>) {
          dev.upload_state(state_tensor::exp_avg, o.exp_avg());
          dev.upload_state(state_tensor::exp_avg_sq, o.exp_avg_sq());
        } else {
          dev.upload_state(state_tensor::momentum_buffer, o.momentum_buffer());
        }
        dev.set_steps(o.steps());
      },
      host.optimizer());
}

}  // namespace coda::cuda

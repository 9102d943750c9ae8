// coda::trainer on an engine (engine.cuh): virtual batches accumulate in the engine's gradient
// buffer, then one optimiser step with the update rules of coda/nn/optimizer.hpp, all queued on
// the backend; nothing comes back to the host unless the caller asks for the loss or logits.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "engine.cuh"

namespace coda::cuda::detail {

template <class Backend>
class trainer_engine {
  using buffer = typename Backend::template buffer<float>;

 public:
  trainer_engine(engine<Backend>& net, const device_training_settings& s) : net_(net), settings_(s) {
    s.validate();
    CODA_REQUIRE(s.batch <= net.max_batch(), "coda::cuda::device_trainer: the network's max_batch (" +
                                                 std::to_string(net.max_batch()) + ") is smaller than the mini-batch (" +
                                                 std::to_string(s.batch) + ")");
    const auto n = static_cast<std::size_t>(net.parameter_count());
    first_ = buffer(n);
    if (s.optimizer == optimizer_kind::adam) second_ = buffer(n);
  }
  trainer_engine(const trainer_engine&) = delete;
  trainer_engine& operator=(const trainer_engine&) = delete;

  void train_batch(const float* images, const int* labels, index_t n, double lr, double* mean_loss, float* logits) {
    CODA_REQUIRE(n > 0 && n <= settings_.batch, "coda::cuda::device_trainer: a mini-batch holds 1 to `batch` images");
    const double scale = double(settings_.batch) / double(settings_.virtual_batch);
    net_.accumulate_gradients(images, labels, n, settings_.loss, scale, n, nullptr, logits);
    if (++pending_ == settings_.virtual_batch / settings_.batch) step(lr);
    if (mean_loss) *mean_loss = net_.last_loss() / scale;
  }

  bool flush(double lr) {
    if (pending_ == 0) return false;
    step(lr);
    return true;
  }

  /// finish_gradients, the optimiser's update of the parameters, the Gram matrices of the new
  /// parameters, and a zeroed gradient buffer for the next virtual batch.
  void step(double lr) {
    CODA_REQUIRE(std::isfinite(lr) && lr > 0, "coda::cuda::device_trainer: the learning rate must be positive");
    net_.finish_gradients();
    const index_t n = net_.parameter_count();
    if (settings_.optimizer == optimizer_kind::adam) {
      ++steps_;
      const double bc1 = 1 - std::pow(settings_.beta1, double(steps_)), bc2 = 1 - std::pow(settings_.beta2, double(steps_));
      // (1 - beta) is formed in double, then rounded, as torch does with its Python-float alphas.
      net_.backend().launch(n, adam_op{float(settings_.beta1), float(settings_.beta2), float(1 - settings_.beta1),
                                       float(1 - settings_.beta2), float(lr / bc1), float(std::sqrt(bc2)), float(settings_.eps),
                                       net_.parameters(), net_.gradients(), first_.data(), second_.data()});
    } else {
      const bool first = steps_ == 0 || settings_.momentum == 0;
      net_.backend().launch(n, sgd_op{float(settings_.momentum), float(lr), first, net_.parameters(), net_.gradients(),
                                      first_.data()});
      ++steps_;
    }
    net_.refresh();
    net_.zero_gradients();
    pending_ = 0;
  }

  const device_training_settings& settings() const { return settings_; }
  index_t pending() const { return pending_; }
  std::int64_t steps() const { return steps_; }
  void set_steps(std::int64_t s) {
    CODA_REQUIRE(s >= 0, "coda::cuda::device_trainer: the step count must not be negative");
    steps_ = s;
  }

  void download_state(state_tensor which, float* host) const {
    net_.backend().download(host, state(which).data(), state(which).size());
  }
  void upload_state(state_tensor which, const float* host) {
    buffer& b = state(which);
    net_.backend().upload(b.data(), host, b.size());
  }

 private:
  buffer& state(state_tensor which) const {
    const bool adam = settings_.optimizer == optimizer_kind::adam;
    if (adam && which == state_tensor::exp_avg) return first_;
    if (adam && which == state_tensor::exp_avg_sq) return second_;
    if (!adam && which == state_tensor::momentum_buffer) return first_;
    throw argument_error(std::string("coda::cuda::device_trainer: the ") + (adam ? "Adam" : "SGD") +
                         " optimiser has no such state tensor");
  }

  engine<Backend>& net_;
  device_training_settings settings_;
  mutable buffer first_, second_;  ///< Adam: exp_avg, exp_avg_sq; SGD: momentum_buffer
  std::int64_t steps_ = 0;
  index_t pending_ = 0;
};

}  // namespace coda::cuda::detail

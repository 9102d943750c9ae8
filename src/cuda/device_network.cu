// coda::cuda::device_network and device_trainer: the public classes over the engine and trainer
// of engine.cuh / trainer.cuh, run by the CUDA backend.
#include "coda/cuda/device_network.hpp"
#include "cuda_backend.cuh"
#include "engine.cuh"
#include "trainer.cuh"

namespace coda::cuda {

struct device_network::impl : detail::engine<detail::cuda_backend> {
  using engine::engine;
};

device_network::device_network(const network_desc& desc, index_t max_batch) : impl_(std::make_unique<impl>(desc, max_batch)) {}
device_network::~device_network() = default;
device_network::device_network(device_network&&) noexcept = default;
device_network& device_network::operator=(device_network&&) noexcept = default;

const network_desc& device_network::description() const { return impl_->description(); }
index_t device_network::max_batch() const { return impl_->max_batch(); }
index_t device_network::parameter_count() const { return impl_->parameter_count(); }
index_t device_network::num_classes() const { return impl_->num_classes(); }
index_t device_network::image_size() const { return impl_->image_size(); }
index_t device_network::encoded_size() const { return impl_->encoded_size(); }

void device_network::upload_parameters(const float* host) { impl_->upload_parameters(host); }
void device_network::download_parameters(float* host) const { impl_->download_parameters(host); }

void device_network::forward(const float* images, index_t batch, float* logits) { impl_->forward(images, batch, logits); }
void device_network::contributions_all(const float* images, index_t batch, float* contributions, float* logits) {
  impl_->contributions_all(images, batch, contributions, logits);
}

void device_network::accumulate_gradients(const float* images, const int* labels, index_t batch, loss_kind kind, double scale,
                                          index_t mean_over, double* loss, float* logits) {
  impl_->accumulate_gradients(images, labels, batch, kind, scale, mean_over, loss, logits);
}
void device_network::zero_gradients() { impl_->zero_gradients(); }
void device_network::finish_gradients() { impl_->finish_gradients(); }
void device_network::download_gradients(float* host) { impl_->download_gradients(host); }
void device_network::upload_gradients(const float* host) { impl_->upload_gradients(host); }
void device_network::synchronize() const { impl_->synchronize(); }

struct device_trainer::impl : detail::trainer_engine<detail::cuda_backend> {
  using trainer_engine::trainer_engine;
};

device_trainer::device_trainer(device_network& net, const device_training_settings& settings)
    : impl_(std::make_unique<impl>(*net.impl_, settings)) {}
device_trainer::~device_trainer() = default;
device_trainer::device_trainer(device_trainer&&) noexcept = default;
device_trainer& device_trainer::operator=(device_trainer&&) noexcept = default;

void device_trainer::train_batch(const float* images, const int* labels, index_t n, double lr, double* mean_loss,
                                 float* logits) {
  impl_->train_batch(images, labels, n, lr, mean_loss, logits);
}
bool device_trainer::flush(double lr) { return impl_->flush(lr); }
void device_trainer::step(double lr) { impl_->step(lr); }
const device_training_settings& device_trainer::settings() const { return impl_->settings(); }
index_t device_trainer::pending() const { return impl_->pending(); }
std::int64_t device_trainer::steps() const { return impl_->steps(); }
void device_trainer::set_steps(std::int64_t steps) { impl_->set_steps(steps); }
void device_trainer::download_state(state_tensor which, float* host) const { impl_->download_state(which, host); }
void device_trainer::upload_state(state_tensor which, const float* host) { impl_->upload_state(which, host); }

}  // namespace coda::cuda

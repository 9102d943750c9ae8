// A CoDA-Net on a CUDA device, in FP32: forward pass, the explanation of every class, gradients
// of a loss, and the training step of coda::trainer, all on the GPU. The algebra is that of the
// CPU kernels (coda/kernels/dau_fast.hpp) so that results agree to float rounding; cuBLAS runs
// with TF32 disabled. Host arrays use the CPU library's layouts ([batch][image], [batch][classes],
// [batch][classes][encoded input]); inside, activations are kept channel-major over the batch,
// which makes every GEMM with shared weights one GEMM over all images.
//
// This header includes no CUDA header: the definitions are in the coda_cuda library. Every CUDA
// or cuBLAS failure is thrown as cuda_error; bad arguments as coda::argument_error.
#pragma once

#include <cstdint>
#include <memory>

#include "coda/cuda/description.hpp"
#include "coda/cuda/runtime.hpp"

namespace coda::cuda {

/// Parameters, derived data, a gradient buffer and the buffers of a batch of up to max_batch
/// images, all in device memory. Larger batches are processed max_batch images at a time.
/// Not thread-safe: one host thread drives a network (and its trainer) at a time.
class device_network {
 public:
  /// Validates `desc` and allocates everything; the parameters start at zero (upload them).
  device_network(const network_desc& desc, index_t max_batch);
  ~device_network();
  device_network(device_network&&) noexcept;
  device_network& operator=(device_network&&) noexcept;

  const network_desc& description() const;
  index_t max_batch() const;
  index_t parameter_count() const;
  index_t num_classes() const;
  index_t image_size() const;    ///< per image, before AddInverse
  index_t encoded_size() const;  ///< per image, after AddInverse

  /// parameter_count elements in network::parameters() order; refreshes the Gram matrices.
  void upload_parameters(const float* host);
  void download_parameters(float* host) const;

  /// logits [batch][classes] of images [batch][image_size].
  void forward(const float* images, index_t batch, float* logits);
  /// Contributions of every class, [batch][classes][encoded_size], with the dynamic weights
  /// frozen (exact linear decomposition), and the logits of that pass when `logits` is given.
  void contributions_all(const float* images, index_t batch, float* contributions, float* logits = nullptr);

  /// Adds the gradient of the loss to the device gradient buffer, exactly as
  /// coda::accumulate_gradients (scale and mean_over as coda::record_loss; mean_over 0: batch).
  /// Writes the loss (sum of the scaled per-sample terms) and the logits when asked to; without
  /// them, nothing is copied back to the host.
  void accumulate_gradients(const float* images, const int* labels, index_t batch, loss_kind kind, double scale = 1.0,
                            index_t mean_over = 0, double* loss = nullptr, float* logits = nullptr);
  /// Zeroes the gradient buffer (parameters' gradients and batch sums).
  void zero_gradients();
  /// Applies the batch sums to the parameters' gradients (coda::finish_gradients).
  void finish_gradients();
  /// Finishes the gradient, then copies its parameter_count elements to the host.
  void download_gradients(float* host);
  /// Replaces the gradient by parameter_count host elements (the batch sums become zero).
  void upload_gradients(const float* host);

  /// Waits for everything queued on the network's stream.
  void synchronize() const;

  struct impl;

 private:
  friend class device_trainer;
  std::unique_ptr<impl> impl_;
};

/// coda::trainer on the device: gradients of virtual_batch / batch mini-batches accumulate in the
/// network's gradient buffer (each mini-batch's loss scaled by batch / virtual_batch), then one
/// optimiser step with torch's update rules. The learning rate of each step is the caller's.
/// The trainer refers to `net`, which must outlive it.
class device_trainer {
 public:
  /// The network's max_batch must hold a mini-batch (settings.batch images).
  device_trainer(device_network& net, const device_training_settings& settings);
  ~device_trainer();
  device_trainer(device_trainer&&) noexcept;
  device_trainer& operator=(device_trainer&&) noexcept;

  /// One mini-batch of 1 to `batch` images, as coda::trainer::train_batch, stepping with rate
  /// `lr` once a virtual batch is complete. The mean loss of the mini-batch (unscaled) and its
  /// logits are copied back only when asked for.
  void train_batch(const float* images, const int* labels, index_t n, double lr, double* mean_loss = nullptr,
                   float* logits = nullptr);
  /// Takes the step of a partly accumulated virtual batch; false if none was due.
  bool flush(double lr);
  /// One optimiser step from whatever the network's gradient buffer holds, then zeroes it.
  void step(double lr);

  const device_training_settings& settings() const;
  index_t pending() const;
  std::int64_t steps() const;
  void set_steps(std::int64_t steps);
  /// parameter_count elements; argument_error for a tensor the optimiser does not have.
  void download_state(state_tensor which, float* host) const;
  void upload_state(state_tensor which, const float* host);

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace coda::cuda

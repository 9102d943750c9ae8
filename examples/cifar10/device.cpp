#include "device.hpp"

#ifdef CODA_HAS_CUDA
#include <coda/core/error.hpp>
#include <coda/cuda/runtime.hpp>
#include <string>
#endif

namespace cifar {

device_kind select_device(const args& a) {
  if (a.choice("device", {"cpu", "cuda"}) == "cpu") return device_kind::cpu;
#ifdef CODA_HAS_CUDA
  std::string reason;
  if (!coda::cuda::available(&reason)) throw coda::error("--device cuda: " + reason);
  return device_kind::cuda;
#else
  throw usage_error("--device cuda: this coda-cifar10 was built without CUDA (CODA_WITH_CUDA=OFF)");
#endif
}

#ifdef CODA_HAS_CUDA

namespace {

/// bench's training step, as on the CPU: one Adam step per batch at the default learning rate.
coda::training_settings bench_settings(coda::index_t batch) {
  coda::training_settings s;
  s.batch = s.virtual_batch = batch;
  return s;
}

}  // namespace

device_bench::device_bench(const coda::cifar10_9l<float>& net, coda::index_t batch)
    : batch_(batch),
      settings_(bench_settings(batch)),
      dev_(coda::cuda::to_device(net, batch)),
      dev_tr_(dev_, coda::cuda::device_settings(settings_)),
      logits_(static_cast<std::size_t>(batch * dev_.num_classes())),
      contributions_(static_cast<std::size_t>(batch * dev_.num_classes() * dev_.encoded_size())) {}

// forward and contributions_all copy their results to the host, which waits for the device.
void device_bench::inference(const float* images) { dev_.forward(images, batch_, logits_.data()); }

void device_bench::train(const float* images, const int* labels) {
  dev_tr_.train_batch(images, labels, batch_, coda::scheduled_lr(settings_.lr, settings_.lr_decay, settings_.lr_step, 0));
  dev_.synchronize();
}

void device_bench::explain(const float* images) { dev_.contributions_all(images, batch_, contributions_.data()); }

#endif

}  // namespace cifar

// --device cpu|cuda of train, eval and bench. The CPU is the library's own code; the GPU is the
// optional coda::cuda library, linked only when CMake builds it (CODA_WITH_CUDA=ON defines
// CODA_HAS_CUDA). The GPU code here does the per-batch work only: data, progress, logs,
// checkpoints and model files stay with the commands' shared loops, which read and write the CPU
// network after the device's parameters and optimiser state are copied back.
#pragma once

#include <algorithm>
#include <coda/nn/training.hpp>
#include <cstdint>

#include "args.hpp"
#include "evaluate.hpp"

#ifdef CODA_HAS_CUDA
#include <coda/cuda/bridge.hpp>
#include <coda/nn/presets.hpp>
#include <vector>
#endif

namespace cifar {

enum class device_kind { cpu, cuda };

/// --device (default cpu). An unknown value, or cuda in a build without CUDA, is a usage error;
/// cuda without a usable device is a coda::error (exit 1) with coda::cuda::available()'s reason.
/// Commands call it after their other flags (usage errors first) and before loading anything.
device_kind select_device(const args& a);

/// Training on the CPU: coda::trainer works on the network that checkpoints are written from.
template <class Net>
class host_training {
 public:
  host_training(Net& net, coda::trainer<Net>& tr) : net_(net), tr_(tr) {}

  /// `count` images of an n-image mini-batch: this process's share of it (coda::share_of).
  double train_share(const float* images, const int* labels, coda::index_t count, coda::index_t n, coda::index_t epoch,
                     float* logits) {
    return tr_.train_share(images, labels, count, n, epoch, logits);
  }
  bool flush(coda::index_t epoch) { return tr_.flush(epoch); }
  coda::index_t pending() const { return tr_.pending(); }
  std::int64_t steps() const { return tr_.steps(); }
  double test_accuracy(const coda::cifar10_dataset& test) const { return accuracy(net_, test, "test"); }
  /// The network and trainer are always current.
  void to_host() {}

 private:
  Net& net_;
  coda::trainer<Net>& tr_;
};

#ifdef CODA_HAS_CUDA

/// Training on the GPU, with host_training's interface. It starts from the CPU network and
/// trainer as they are (a resumed run's state included) and copies both back on to_host().
template <class Net>
class device_training {
 public:
  device_training(Net& net, coda::trainer<Net>& tr)
      : net_(net),
        tr_(tr),
        // Test evaluation runs whole chunks of eval_chunk images too.
        dev_(coda::cuda::to_device(net, std::max(tr.settings().batch, eval_chunk))),
        dev_tr_(dev_, coda::cuda::device_settings(tr.settings())) {
    coda::cuda::upload_optimizer(tr, dev_tr_);
  }
  device_training(const device_training&) = delete;
  device_training& operator=(const device_training&) = delete;

  /// One process only (train refuses --device cuda under MPI), so the share is the mini-batch.
  double train_share(const float* images, const int* labels, coda::index_t, coda::index_t n, coda::index_t epoch,
                     float* logits) {
    double loss = 0;
    dev_tr_.train_batch(images, labels, n, tr_.lr(epoch), &loss, logits);
    return loss;
  }
  bool flush(coda::index_t epoch) { return dev_tr_.flush(tr_.lr(epoch)); }
  coda::index_t pending() const { return dev_tr_.pending(); }
  std::int64_t steps() const { return dev_tr_.steps(); }
  double test_accuracy(const coda::cifar10_dataset& test) {
    return accuracy_of(test, Net::num_classes, "test",
                       [&](const float* images, coda::index_t n, float* logits) { dev_.forward(images, n, logits); });
  }
  /// Copies the parameters and optimiser state into the CPU network and trainer.
  void to_host() {
    coda::cuda::download_parameters(dev_, net_);
    coda::cuda::download_optimizer(dev_tr_, tr_);
  }

 private:
  Net& net_;
  coda::trainer<Net>& tr_;
  coda::cuda::device_network dev_;
  coda::cuda::device_trainer dev_tr_;  ///< refers to dev_
};

/// accuracy() with the network on the GPU.
template <class Net>
double device_accuracy(const Net& net, const coda::cifar10_dataset& data, const char* what) {
  coda::detail::require_dataset_shape<Net, coda::cifar10_image_shape>();
  coda::cuda::device_network dev = coda::cuda::to_device(net, eval_chunk);
  return accuracy_of(data, Net::num_classes, what,
                     [&](const float* images, coda::index_t n, float* logits) { dev.forward(images, n, logits); });
}

/// The three calls that bench times, on the GPU: each takes one batch of host images (and
/// labels) and returns once the device has finished, so that wall-clock time measures it.
class device_bench {
 public:
  device_bench(const coda::cifar10_9l<float>& net, coda::index_t batch);
  void inference(const float* images);
  void train(const float* images, const int* labels);
  void explain(const float* images);

 private:
  coda::index_t batch_;
  coda::training_settings settings_;
  coda::cuda::device_network dev_;
  coda::cuda::device_trainer dev_tr_;  ///< refers to dev_
  std::vector<float> logits_, contributions_;
};

#endif

}  // namespace cifar

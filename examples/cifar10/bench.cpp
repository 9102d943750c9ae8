// coda-cifar10 bench [--batch B] [--threads N] [--seconds S] [--only inference|train|explain]
// [--device cpu|cuda]: throughput of cifar10-9l on random data. Each measurement repeats whole
// batches for at least S seconds after one warm-up batch; `train` is forward + backward + Adam
// step, `explain` the contributions of all 10 classes. On the GPU every call takes host images
// and returns host results, as on the CPU, so the copies are part of the measurement.
#include <sys/resource.h>

#include <chrono>
#include <coda/attribution/contributions.hpp>
#include <coda/nn/init.hpp>
#include <coda/nn/presets.hpp>
#include <coda/nn/training.hpp>
#include <cstdio>
#include <random>

#include "args.hpp"
#include "commands.hpp"
#include "device.hpp"

namespace cifar {

namespace {

using net_t = coda::cifar10_9l<float>;

/// Images per second of `batch`-image calls of f, over at least `seconds`.
template <class F>
double throughput(coda::index_t batch, double seconds, F&& f) {
  f();  // warm-up: arenas and thread pool reach their steady state
  const auto start = std::chrono::steady_clock::now();
  long calls = 0;
  double elapsed = 0;
  do {
    f();
    ++calls;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < seconds);
  return double(calls * batch) / elapsed;
}

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_maxrss) / 1024.0;
}

}  // namespace

int run_bench(int argc, const char* const* argv) {
  const args a("bench", argc, argv, 2);
  const coda::index_t batch = a.integer("batch", 1, 4096);
  const int threads = apply_threads(a);
  const double seconds = a.number("seconds", 0, 1e6);
  const std::string only = a.choice("only", {"all", "inference", "train", "explain"});
  const device_kind device = select_device(a);
  const auto wanted = [&](const char* measurement) { return only == "all" || only == measurement; };

  net_t net;
  coda::init_uniform(net, 1);
  coda::tensor<float, net_t::image_shape> images(batch);
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (coda::index_t i = 0; i < images.size(); ++i) images.data()[i] = u(rng);
  std::vector<int> labels(static_cast<std::size_t>(batch));
  for (coda::index_t i = 0; i < batch; ++i) labels[static_cast<std::size_t>(i)] = static_cast<int>(i % 10);

  double inference = 0, train = 0, explain = 0;
#ifdef CODA_HAS_CUDA
  if (device == device_kind::cuda) {
    std::printf("cifar10-9l, batch %td, CUDA device, at least %.1f s per measurement\n", batch, seconds);
    device_bench gpu(net, batch);
    if (wanted("inference")) inference = throughput(batch, seconds, [&] { gpu.inference(images.data()); });
    if (wanted("train")) train = throughput(batch, seconds, [&] { gpu.train(images.data(), labels.data()); });
    if (wanted("explain")) explain = throughput(batch, seconds, [&] { gpu.explain(images.data()); });
  }
#endif
  if (device == device_kind::cpu) {
    std::printf("cifar10-9l, batch %td, %d threads, at least %.1f s per measurement\n", batch, threads, seconds);
    if (wanted("inference")) inference = throughput(batch, seconds, [&] { coda::predict(net, images.view()); });
    if (wanted("train")) {
      coda::training_settings s;
      s.batch = s.virtual_batch = batch;
      coda::trainer<net_t> tr(net, s);
      train = throughput(batch, seconds, [&] { tr.train_batch(images.data(), labels.data(), batch, 0); });
    }
    if (wanted("explain")) explain = throughput(batch, seconds, [&] { coda::contributions_all(net, images.view()); });
  }
  std::printf("peak resident memory: %.0f MB\n", peak_rss_mb());
  if (wanted("inference")) std::printf("inference: %.2f img/s\n", inference);
  if (wanted("train")) std::printf("train: %.2f img/s\n", train);
  if (wanted("explain")) std::printf("explain: %.2f img/s\n", explain);
  return 0;
}

}  // namespace cifar

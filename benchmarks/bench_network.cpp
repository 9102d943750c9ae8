// Whole-network timings of cifar10-9l on one thread: the reference kernels (plain loops, dynamic
// weights materialised) against the fast path, for the forward pass and the explanation of one
// image; and the parts of a training step as one worker of `train` runs them (the paper's batch
// of 8 on 2 threads gives each worker 4 images), with the optimiser step that follows every
// virtual batch.
//   build/benchmarks/coda-bench-network --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include "coda/attribution/contributions.hpp"
#include "coda/nn/init.hpp"
#include "coda/nn/optimizer.hpp"
#include "coda/nn/presets.hpp"
#include "coda/nn/training.hpp"
#include "support/reference_network.hpp"

namespace {

using net_t = coda::cifar10_9l<float>;

const net_t& network() {
  static const net_t net = [] {
    net_t n;
    coda::init_uniform(n, 1);
    return n;
  }();
  return net;
}

const coda::sample<float, net_t::image_shape>& image() {
  static const auto img = [] {
    coda::sample<float, net_t::image_shape> s;
    for (coda::index_t i = 0; i < s.size(); ++i) s.data()[i] = float((i * 37) % 101) / 100.f;
    return s;
  }();
  return img;
}

void forward_reference(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(coda::test::reference_logits(network(), image().data()));
  state.counters["img/s"] = benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}

void forward_fast(benchmark::State& state) {
  coda::workspace<net_t> ws;
  coda::sample<float, net_t::logits_shape> logits;
  for (auto _ : state) {
    coda::predict(network(), image(), logits, ws);
    benchmark::DoNotOptimize(logits.data());
  }
  state.counters["img/s"] = benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}

void explain_one_class_fast(benchmark::State& state) {
  coda::workspace<net_t> ws;
  static coda::sample<float, net_t::encoded_shape> out;
  for (auto _ : state) {
    coda::explain(network(), image(), 3, out, ws);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["img/s"] = benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}

constexpr coda::index_t worker_images = 4;

std::vector<float> worker_batch() {
  std::vector<float> images(static_cast<std::size_t>(worker_images * net_t::image_shape::size));
  for (std::size_t i = 0; i < images.size(); ++i) images[i] = float((i * 37) % 101) / 100.f;
  return images;
}

// The forward pass of a worker's 4 images, recording what the backward needs.
void train_forward_4_images(benchmark::State& state) {
  const std::vector<float> images = worker_batch();
  coda::tape<float> t;
  for (auto _ : state) {
    t.prepare(coda::record_mode::train, net_t::workspace_size(worker_images, coda::record_mode::train, 1, true),
              net_t::training_tape_nodes);
    benchmark::DoNotOptimize(network().forward(images.data(), worker_images, t));
  }
  state.counters["img/s"] = benchmark::Counter(double(state.iterations() * worker_images), benchmark::Counter::kIsRate);
}

// Forward, loss and backward of a worker's 4 images into its gradient buffer.
void train_gradients_4_images(benchmark::State& state) {
  const std::vector<float> images = worker_batch();
  const std::vector<int> labels = {3, 1, 4, 1};
  std::vector<float> grad(static_cast<std::size_t>(net_t::gradient_size), 0.f);
  coda::tape<float> t;
  for (auto _ : state)
    benchmark::DoNotOptimize(coda::accumulate_gradients(network(), images.data(), labels.data(), worker_images,
                                                        coda::loss_kind::binary_cross_entropy, 0.5, 8, t, grad.data()));
  state.counters["img/s"] = benchmark::Counter(double(state.iterations() * worker_images), benchmark::Counter::kIsRate);
}

// What follows every virtual batch: the batch sums applied, one Adam step over the 7.8 M
// parameters and the layers' derived data refreshed.
void optimizer_step(benchmark::State& state) {
  net_t net = network();
  std::vector<float> grad(static_cast<std::size_t>(net_t::gradient_size), 1e-3f);
  coda::adam<float> adam(net_t::parameter_count);
  for (auto _ : state) {
    coda::finish_gradients(net, grad.data());
    net.update_parameters([&](float* p, coda::index_t) { adam.step(p, grad.data(), 1e-9); });
  }
}

}  // namespace

BENCHMARK(train_forward_4_images)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(train_gradients_4_images)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(optimizer_step)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(forward_reference)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(forward_fast)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(explain_one_class_fast)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK_MAIN();

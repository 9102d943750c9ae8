// Whole-network timings of cifar10-9l on one image: the reference kernels (plain loops, dynamic
// weights materialised) against the fast path, for the forward pass and the explanation.
//   build/benchmarks/coda-bench-network --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include "coda/attribution/contributions.hpp"
#include "coda/nn/init.hpp"
#include "coda/nn/presets.hpp"
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

}  // namespace

BENCHMARK(forward_reference)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(forward_fast)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(explain_one_class_fast)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK_MAIN();

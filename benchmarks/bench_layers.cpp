// Every DAU layer shape of cifar10-9l, one image, one thread: the forward kernel (without and with
// the training record), the training backward and the frozen backward of all 10 classes, each
// with its GFLOP/s and the fraction of this machine's single-thread FMA peak (measured first, by
// peak_fma below).
//   build/release/benchmarks/coda-bench-layers --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <vector>

#include "coda/kernels/dau_fast.hpp"
#include "coda/nn/norm.hpp"
#include "fma_peak.hpp"
#include "support/random_layer.hpp"

namespace {

using coda::index_t;
using T = float;
/// Images per training backward: coda::trainer::chunk_of at the paper's batch of 8 on 2 threads.
constexpr index_t train_images = 4;

struct layer_shape {
  const char* name;
  coda::kernels::dau_dims dims;
};

// (C_in, H, W, k, stride, pad), C_out, R of the nine layers.
const layer_shape shapes[] = {
    {"L0", {{6, 32, 32, 3, 1, 1}, 16, 32}},  {"L1", {{16, 32, 32, 3, 1, 1}, 16, 32}},
    {"L2", {{16, 32, 32, 3, 2, 1}, 32, 64}}, {"L3", {{32, 16, 16, 3, 1, 1}, 32, 64}},
    {"L4", {{32, 16, 16, 3, 1, 1}, 32, 64}}, {"L5", {{32, 16, 16, 3, 2, 1}, 64, 64}},
    {"L6", {{64, 8, 8, 3, 1, 1}, 64, 64}},   {"L7", {{64, 8, 8, 3, 1, 1}, 64, 64}},
    {"L8", {{64, 8, 8, 1, 1, 0}, 10, 64}},
};

/// A random layer (tests/support/random_layer.hpp) with its forward record and gradient buffers.
struct layer_data : coda::test::random_layer<T> {
  std::vector<T> y, z, t, gz, d, n2, scale, grad_out, grad_in, ga, gb, gbias, sums;
  coda::arena<T> scratch;

  explicit layer_data(const coda::kernels::dau_dims& dims) : random_layer(dims, 7) {
    const index_t O = g.c_out, R = g.rank, P = g.positions();
    y.resize(O * P), z.resize(R * P), t.resize(O * R * P), gz.resize(O * R * P), d.resize(O * P), n2.resize(O * P), scale.resize(O * P);
    grad_out.assign(10 * O * P, 0.01f), grad_in.resize(10 * g.conv.image_size());
    ga.resize(a.size()), gb.resize(b.size()), gbias.resize(bias.size());
    sums.resize(coda::kernels::dau_batch_sums<T>::size(O, R));
    scratch.reserve(std::max({coda::kernels::dau_forward_scratch<T>(g, false), coda::kernels::dau_forward_scratch<T>(g, true),
                              coda::kernels::dau_train_backward_scratch<T>(g, train_images),
                              coda::kernels::dau_explain_scratch<T>(g)}));
    coda::kernels::dau_forward<coda::squash>(g, weights(), x.data(), y.data(), state(), scratch);
  }
  coda::kernels::dau_state<T> state() { return {z.data(), t.data(), gz.data(), d.data(), n2.data(), scale.data()}; }
};

// Multiply-adds of each kernel, as the algorithm in coda/kernels/dau_fast.hpp performs them.
double forward_flops(const coda::kernels::dau_dims& g) {
  const double J = g.patch_size(), O = g.c_out, R = g.rank, P = g.positions();
  return 2 * P * (R * J + O * R * J + O * J + O * R * R + O * R + 2 * O * R);
}
double train_backward_flops(const coda::kernels::dau_dims& g) {
  const double J = g.patch_size(), O = g.c_out, R = g.rank, P = g.positions();
  return 2 * P * (O * R * R + O * R + 2 * J * O * R + 2 * J * O + 2 * R * J + 4 * O * R);
}
double explain_flops(const coda::kernels::dau_dims& g, double seeds) {
  const double J = g.patch_size(), O = g.c_out, R = g.rank, P = g.positions();
  return 2 * P * (J * O * R + seeds * J * O);  // dynamic weights formed once, then one contraction per seed
}

void report(benchmark::State& state, double flops) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops * double(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
  state.counters["peak%"] = benchmark::Counter(flops * double(state.iterations()) * 1e-9 / coda::bench::fma_peak_gflops() * 100,
                                               benchmark::Counter::kIsRate);
}

// The forward pass of inference (no record) or of training (the record the backward reads: t
// and G z are then written for every position, and the products run over the whole image).
void forward(benchmark::State& state, const layer_shape* s, bool records) {
  layer_data L(s->dims);
  const coda::kernels::dau_state<T> record = records ? L.state() : coda::kernels::dau_state<T>{};
  for (auto _ : state) {
    coda::kernels::dau_forward<coda::squash>(L.g, L.weights(), L.x.data(), L.y.data(), record, L.scratch);
    benchmark::DoNotOptimize(L.y.data());
  }
  report(state, forward_flops(L.g));
}

// The training backward of one tape recording: the same image train_images times (the time is
// that of all of them; items_per_second counts images).
void train_backward(benchmark::State& state, const layer_shape* s) {
  layer_data L(s->dims);
  std::vector<T> xs;
  for (index_t n = 0; n < train_images; ++n) xs.insert(xs.end(), L.x.begin(), L.x.end());
  const coda::kernels::dau_param_grads<T> grads{L.ga.data(), L.gb.data(), L.gbias.data()};
  const index_t O = L.g.c_out, R = L.g.rank;
  const coda::kernels::dau_batch_sums<T> sums{L.sums.data(), L.sums.data() + O * R * R, L.sums.data() + O * R * R + O * R};
  for (auto _ : state) {
    coda::kernels::dau_train_backward<coda::squash>(L.g, L.weights(), train_images, xs.data(), [&](index_t) { return L.state(); },
                                                    L.grad_out.data(), L.grad_in.data(), &grads, &sums, L.scratch);
    benchmark::DoNotOptimize(L.grad_in.data());
  }
  state.SetItemsProcessed(state.iterations() * train_images);
  report(state, train_images * train_backward_flops(L.g));
}

void explain_all_classes(benchmark::State& state, const layer_shape* s) {
  layer_data L(s->dims);
  for (auto _ : state) {
    coda::kernels::dau_explain_backward<T>(L.g, L.weights(), L.z.data(), L.scale.data(), 10, L.grad_out.data(), L.grad_in.data(),
                                           L.scratch);
    benchmark::DoNotOptimize(L.grad_in.data());
  }
  report(state, explain_flops(L.g, 10));
}

void peak(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(coda::bench::fma_peak_gflops());
  state.counters["GFLOP/s"] = coda::bench::fma_peak_gflops();
}

int register_all() {
  benchmark::RegisterBenchmark("fma_peak_1_thread", peak)->Iterations(1);
  for (const auto& s : shapes) {
    benchmark::RegisterBenchmark((std::string("forward/") + s.name).c_str(), forward, &s, false)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("forward_train/") + s.name).c_str(), forward, &s, true)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("train_backward/") + s.name).c_str(), train_backward, &s)->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("explain_10_classes/") + s.name).c_str(), explain_all_classes, &s)
        ->Unit(benchmark::kMillisecond);
  }
  return 0;
}
const int registered = register_all();

}  // namespace

BENCHMARK_MAIN();

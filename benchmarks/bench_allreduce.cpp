// coda-bench-allreduce: what the gradient sum of one optimiser step costs when cifar10-9l trains
// over MPI (docs/distributed.md). Every rank sums a gradient of the network's parameter count
// (float32) with coda::mpi_collective, as the trainer does once per optimiser step; rank 0 prints
// the median and the fastest of the repetitions.
//
//   mpirun -np 2 build/bench/benchmarks/coda-bench-allreduce [repetitions]   (default 20)
//
// A fixed repetition count, not Google Benchmark: every rank must make the same number of calls.
#include <algorithm>
#include <chrono>
#include <coda/core/aligned_allocator.hpp>
#include <coda/distributed/mpi.hpp>
#include <coda/nn/presets.hpp>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  coda::mpi_session mpi;
  coda::mpi_collective group;
  const int repetitions = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20;
  constexpr std::size_t count = std::size_t(coda::cifar10_9l<float>::parameter_count);
  coda::detail::aligned_vector<float> gradient(count, 1.0f);
  double start_line = 0;
  std::vector<double> ms;
  for (int r = -2; r < repetitions; ++r) {  // two warm-up calls
    group.sum(&start_line, 1);              // the ranks start each repetition together
    const auto t0 = std::chrono::steady_clock::now();
    group.sum(gradient.data(), count);
    const double took = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (r >= 0) ms.push_back(took);
  }
  std::sort(ms.begin(), ms.end());
  if (group.rank() == 0)
    std::printf("allreduce (sum) of %zu floats (%.1f MB) over %d ranks: median %.2f ms, fastest %.2f ms (%d repetitions)\n",
                count, double(count) * 4 / 1e6, group.size(), ms[ms.size() / 2], ms.front(), repetitions);
  return 0;
}

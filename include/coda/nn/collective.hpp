// The processes of a data-parallel training run, as the trainer sees them: a rank, a size, an
// element-wise sum that every process receives and a broadcast. The library itself stays free
// of any transport: a single process uses single_process() (everything a no-op), and
// coda/distributed/mpi.hpp implements the interface over MPI for programs that link MPI.
#pragma once

#include <cstddef>

#include "coda/core/shape.hpp"

namespace coda {

/// The hook a trainer calls where the processes of a run must agree: the gradient sum of each
/// optimiser step, and the parameters and optimiser state at the start and on resume. Every
/// process calls each operation in the same order (they are collective).
class collective {
 public:
  virtual ~collective() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Element-wise sum over the processes, in place; every process receives the same values.
  virtual void sum(float* data, std::size_t count) = 0;
  virtual void sum(double* data, std::size_t count) = 0;
  /// `bytes` bytes from process `root` to every other process.
  virtual void broadcast(void* data, std::size_t bytes, int root) = 0;
};

/// One process: the sum of one is itself and a broadcast has nobody to reach.
class single_process_collective final : public collective {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void sum(float*, std::size_t) override {}
  void sum(double*, std::size_t) override {}
  void broadcast(void*, std::size_t, int) override {}
};

/// The collective of a run that is one process (the trainer's default).
inline collective& single_process() {
  static single_process_collective one;
  return one;
}

/// The images [first, first + count) of a mini-batch that one process trains.
struct batch_share {
  index_t first = 0, count = 0;
};

/// The contiguous share of an n-image mini-batch that process `rank` of `ranks` trains: the
/// first n % ranks processes take one image more, so every image is trained by exactly one
/// process and a process may get none (n < ranks).
inline batch_share share_of(index_t n, int rank, int ranks) {
  const index_t base = n / ranks, extra = n % ranks, r = rank;
  return {r * base + (r < extra ? r : extra), base + (r < extra ? 1 : 0)};
}

}  // namespace coda

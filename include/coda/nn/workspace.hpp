// Workspace of the embedded single-image path: one buffer of Net::embedded_workspace_size
// elements (a compile-time constant) and room for the network's tape nodes. After construction,
// predict() and explain() on single images do no heap allocation.
#pragma once

#include <cstdint>

#include "coda/ad/tape.hpp"
#include "coda/core/aligned_allocator.hpp"

namespace coda {

template <class Net>
class workspace {
 public:
  using scalar_type = typename Net::scalar_type;
  /// Elements of scalar_type the workspace holds.
  static constexpr std::size_t size = Net::embedded_workspace_size;
  static constexpr std::size_t bytes = size * sizeof(scalar_type);

  /// Allocates the buffer once.
  workspace() { tape_.prepare(record_mode::none, size, Net::tape_nodes); }
  /// Runs from caller storage (64-byte aligned, at least `size` elements), e.g. a static array;
  /// the only allocation left is the node list, made here.
  workspace(scalar_type* buffer, std::size_t count) : tape_(buffer, count, Net::tape_nodes) {
    CODA_REQUIRE(count >= size, "coda::workspace: the buffer is smaller than Net::embedded_workspace_size");
    // The kernels load aligned vectors from it: a misaligned buffer would crash them later.
    CODA_REQUIRE(reinterpret_cast<std::uintptr_t>(buffer) % detail::alignment_bytes == 0,
                 "coda::workspace: the buffer must be 64-byte aligned (alignas(64), or coda::detail::aligned_vector)");
  }

  coda::tape<scalar_type>& tape() { return tape_; }

 private:
  coda::tape<scalar_type> tape_;
};

}  // namespace coda

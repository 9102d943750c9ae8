// Heap allocations seen by the replaced global operator new (examples/common/counting_new.cpp,
// linked into the allocation tests).
#pragma once

#include <atomic>

#include "counting_new.hpp"

namespace coda::test {

using counting_new::allocations;

/// Number of operator new calls made while this object lived.
class allocation_scope {
 public:
  allocation_scope() : start_(allocations.load()) {}
  long count() const { return allocations.load() - start_; }

 private:
  long start_;
};

}  // namespace coda::test

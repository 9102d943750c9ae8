// Heap allocations seen by the replaced global operator new (tests/alloc_main.cpp).
#pragma once

#include <atomic>

namespace coda::test {

extern std::atomic<long> allocations;

/// Number of operator new calls made while this object lived.
class allocation_scope {
 public:
  allocation_scope() : start_(allocations.load()) {}
  long count() const { return allocations.load() - start_; }

 private:
  long start_;
};

}  // namespace coda::test

// Heap allocations of a program, counted by replacing every global operator new and delete:
// link counting_new.cpp into it (coda-stream reports its allocations per frame with it; the
// allocation tests of the embedded path use it too).
#pragma once

#include <atomic>

namespace counting_new {

/// operator new calls so far.
extern std::atomic<long> allocations;

}  // namespace counting_new

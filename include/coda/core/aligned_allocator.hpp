// 64-byte aligned storage: one cache line, and the width of an AVX-512 register, so that SIMD
// kernels may use aligned loads on every buffer the library allocates.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

#include "coda/core/error.hpp"

namespace coda::detail {

inline constexpr std::size_t alignment_bytes = 64;

template <class T>
struct aligned_allocator {
  using value_type = T;

  aligned_allocator() noexcept = default;
  template <class U>
  aligned_allocator(const aligned_allocator<U>&) noexcept {}  // NOLINT: rebinding is implicit

  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) CODA_THROW(std::bad_array_new_length());
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{alignment_bytes}));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t{alignment_bytes}); }

  template <class U>
  bool operator==(const aligned_allocator<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const aligned_allocator<U>&) const noexcept { return false; }
};

template <class T>
using aligned_vector = std::vector<T, aligned_allocator<T>>;

/// Number of elements of T that fill whole 64-byte lines when n are needed; buffers carved out of
/// one arena stay aligned when every piece is rounded up this way.
template <class T>
constexpr std::size_t aligned_count(std::size_t n) {
  constexpr std::size_t per_line = alignment_bytes / sizeof(T);
  return (n + per_line - 1) / per_line * per_line;
}

}  // namespace coda::detail

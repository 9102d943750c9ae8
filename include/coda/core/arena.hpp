// Bump-pointer workspace memory. Forward passes, tapes and kernels carve every buffer they need
// out of one arena, so that after the first reservation a training step or an explanation does
// no heap allocation, and the embedded path can run from a buffer whose size is a compile-time
// constant of the network type.
#pragma once

#include <cstddef>
#include <string>

#include "coda/core/error.hpp"
#include "coda/core/aligned_allocator.hpp"

namespace coda {

template <class Scalar>
class arena {
 public:
  /// An owning arena; reserve() grows it.
  arena() = default;
  /// An arena over caller-provided storage (64-byte aligned, `count` elements); it never allocates.
  arena(Scalar* buffer, std::size_t count) : base_(buffer), capacity_(count), external_(true) {}

  arena(const arena&) = delete;
  arena& operator=(const arena&) = delete;

  /// Makes room for at least `count` elements. Growing discards the contents, so it is only
  /// allowed while nothing is allocated; an external arena that is too small is an error.
  void reserve(std::size_t count) {
    if (count <= capacity_) return;
    if (external_)
      CODA_THROW(argument_error("coda::arena: the workspace holds " + std::to_string(capacity_) + " elements but " +
                           std::to_string(count) + " are needed"));
    if (top_ != 0) CODA_THROW(argument_error("coda::arena: cannot grow while buffers are in use"));
    owned_.assign(count, Scalar(0));
    base_ = owned_.data();
    capacity_ = count;
  }

  /// `count` elements, 64-byte aligned, uninitialised (whatever the last user left there).
  Scalar* allocate(std::size_t count) {
    const std::size_t n = detail::aligned_count<Scalar>(count);
    if (n > capacity_ - top_)
      CODA_THROW(argument_error("coda::arena: out of workspace (" + std::to_string(capacity_ - top_) + " of " +
                           std::to_string(capacity_) + " elements left, " + std::to_string(n) +
                           " requested); reserve the size the network reports"));
    Scalar* p = base_ + top_;
    top_ += n;
    if (top_ > peak_) peak_ = top_;
    return p;
  }

  std::size_t mark() const { return top_; }
  void release(std::size_t mark) { top_ = mark; }
  void clear() { top_ = 0; }

  std::size_t capacity() const { return capacity_; }
  std::size_t used() const { return top_; }
  /// Highest use since construction: tests compare it with the compile-time workspace sizes.
  std::size_t peak() const { return peak_; }

 private:
  detail::aligned_vector<Scalar> owned_;
  Scalar* base_ = nullptr;
  std::size_t capacity_ = 0;
  std::size_t top_ = 0;
  std::size_t peak_ = 0;
  bool external_ = false;
};

/// Releases everything allocated from `a` after this object was made, when it goes out of scope:
/// kernel scratch lives exactly as long as the call that needs it.
template <class Scalar>
class scratch_scope {
 public:
  explicit scratch_scope(arena<Scalar>& a) : arena_(a), mark_(a.mark()) {}
  ~scratch_scope() { arena_.release(mark_); }
  scratch_scope(const scratch_scope&) = delete;
  scratch_scope& operator=(const scratch_scope&) = delete;

 private:
  arena<Scalar>& arena_;
  std::size_t mark_;
};

}  // namespace coda

// Checks that report instead of throwing. Every public entry point that validates its arguments
// does so with one routine returning a result; the throwing function turns a failure into an
// exception (detail::throw_if_failed) and its exception-free twin (try_predict, ... in
// coda/attribution/nothrow.hpp) returns it, so both accept and reject exactly the same input
// with the same message.
#pragma once

#include <cstdarg>
#include <cstdio>
#include <exception>

#include "coda/core/error.hpp"

namespace coda {

enum class status { ok, non_finite_input, class_out_of_range, batch_mismatch, workspace_too_small, failed };

/// The outcome of a check or of a try_ function; true when it succeeded. The message is inline
/// storage, so a failure can be reported without allocating.
struct result {
  status code = status::ok;
  char message[160] = {};

  explicit operator bool() const { return code == status::ok; }
};

namespace detail {

/// A failed result whose message is formatted as by printf.
[[gnu::format(printf, 2, 3)]] inline result failure(status code, const char* format, ...) noexcept {
  result r;
  r.code = code;
  va_list args;
  va_start(args, format);
  std::vsnprintf(r.message, sizeof r.message, format, args);
  va_end(args);
  return r;
}

/// The throwing API's side of a check: a failure is an argument_error with its message.
inline void throw_if_failed(const result& r) {
  if (!r) CODA_THROW(argument_error(r.message));
}

/// Runs f, which cannot fail once the inputs are valid; with exceptions enabled, anything it
/// throws anyway (std::bad_alloc from a workspace that had to grow) becomes status::failed.
template <class F>
result run_checked(F&& f) noexcept {
#if CODA_EXCEPTIONS
  try {
    f();
  } catch (const std::exception& e) {
    return failure(status::failed, "%s", e.what());
  } catch (...) {
    return failure(status::failed, "coda: unknown error");
  }
#else
  f();
#endif
  return {};
}

}  // namespace detail

}  // namespace coda

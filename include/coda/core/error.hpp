// Error reporting: every library function that can fail on caller input throws coda::error
// (or a subclass) with a message that names the offending file, tensor, flag or shape.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

/// 1 when the translation unit is compiled with C++ exceptions (the default), 0 with
/// -fno-exceptions. Without exceptions, CODA_THROW reports the error on stderr and aborts; the
/// exception-free interface (coda/attribution/nothrow.hpp) validates its inputs first so that it
/// never gets there.
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define CODA_EXCEPTIONS 1
#define CODA_THROW(exception) throw exception
#else
#define CODA_EXCEPTIONS 0
#define CODA_THROW(exception) ::coda::detail::fail(exception)
#endif

namespace coda {

namespace detail {
[[noreturn]] inline void fail(const std::exception& e) {
  std::fprintf(stderr, "coda: fatal error (exceptions disabled): %s\n", e.what());
  std::abort();
}
}  // namespace detail

/// Base class of all exceptions thrown by the library for bad input or failed I/O.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A file that exists but whose content is malformed (truncated, inconsistent header, ...).
class format_error : public error {
 public:
  using error::error;
};

/// A file that cannot be opened, read or written.
class io_error : public error {
 public:
  using error::error;
};

/// Runtime shape or argument mismatch (batch sizes, class indices, buffer sizes).
class argument_error : public error {
 public:
  using error::error;
};

}  // namespace coda

/// Throws `coda::argument_error(message)` unless `condition` holds. Used for the checks public
/// functions perform before calling a kernel.
#define CODA_REQUIRE(condition, message)                              \
  do {                                                                \
    if (!(condition)) CODA_THROW(::coda::argument_error(std::string(message))); \
  } while (false)

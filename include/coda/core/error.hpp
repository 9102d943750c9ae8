// Error reporting: every library function that can fail on caller input throws coda::error
// (or a subclass) with a message that names the offending file, tensor, flag or shape.
#pragma once

#include <stdexcept>
#include <string>

namespace coda {

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
    if (!(condition)) throw ::coda::argument_error(std::string(message)); \
  } while (false)

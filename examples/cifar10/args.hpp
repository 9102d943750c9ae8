// Command-line parsing for coda-cifar10: a command accepts exactly the flags its entry in the
// command table lists (command_table.hpp), and anything else (an unknown flag, a missing or
// malformed value, a repeated flag, a stray argument) is a usage error that names the flag, which
// main() turns into "error: ..." and exit code 2.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "command_table.hpp"

namespace cifar {

/// Bad command line: exit code 2.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class args {
 public:
  /// Parses argv[first..argc) against the flags of `command` in the command table; throws
  /// usage_error. A command missing from the table is a bug (std::logic_error).
  args(const std::string& command, int argc, const char* const* argv, int first);

  bool has(const std::string& flag) const;
  /// The value of a flag that must be present.
  const std::string& required(const std::string& flag) const;
  std::optional<std::string> optional(const std::string& flag) const;
  /// The value of a flag, or the table's default when it is absent.
  std::string value(const std::string& flag) const;

  // The value of a flag, checked; the overloads without `fallback` use the table's default when
  // the flag is absent, so that the help shows the default the code uses. Those with one are for
  // defaults the table can only describe in words ("all cores").

  /// Integer value in [min, max].
  long long integer(const std::string& flag, long long min, long long max) const;
  long long integer(const std::string& flag, long long fallback, long long min, long long max) const;
  /// Finite number in [min, max].
  double number(const std::string& flag, double min, double max) const;
  double number(const std::string& flag, double fallback, double min, double max) const;
  /// One of `choices`.
  std::string choice(const std::string& flag, const std::vector<std::string>& choices) const;

 private:
  /// The table's entry of `flag`; asking for a flag the command does not list is a bug.
  const flag_info& spec(const std::string& flag) const;

  const command_info& command_;
  std::map<std::string, std::string> values_;
};

/// Worker threads from --threads (default: all cores).
int thread_count(const args& a);
/// thread_count(), made the library's worker count (coda::set_threads).
int apply_threads(const args& a);

}  // namespace cifar

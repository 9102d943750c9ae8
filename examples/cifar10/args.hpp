// Command-line parsing for coda-cifar10: every subcommand declares its flags, and anything else
// (an unknown flag, a missing or malformed value, a repeated flag, a stray argument) is a usage
// error that names the flag, which main() turns into "error: ..." and exit code 2.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace cifar {

/// Bad command line: exit code 2.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct flag_spec {
  std::string name;   ///< without the leading "--"
  bool takes_value;
};

class args {
 public:
  /// Parses argv[first..argc) for `command` against `specs`; throws usage_error.
  args(const std::string& command, const std::vector<flag_spec>& specs, int argc, const char* const* argv, int first);

  bool has(const std::string& flag) const { return values_.count(flag) != 0; }
  /// The value of a flag that must be present.
  const std::string& required(const std::string& flag) const;
  std::optional<std::string> optional(const std::string& flag) const;
  /// Integer value in [min, max], or `fallback` when the flag is absent.
  long long integer(const std::string& flag, long long fallback, long long min, long long max) const;
  /// Finite number in [min, max], or `fallback` when the flag is absent.
  double number(const std::string& flag, double fallback, double min, double max) const;
  /// One of `choices`, or `fallback` when the flag is absent.
  std::string choice(const std::string& flag, const std::string& fallback, const std::vector<std::string>& choices) const;

 private:
  std::string command_;
  std::map<std::string, std::string> values_;
};

/// Worker threads from --threads (default: all cores).
int thread_count(const args& a);
/// thread_count(), made the library's worker count (coda::set_threads).
int apply_threads(const args& a);

}  // namespace cifar

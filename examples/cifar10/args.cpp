#include "args.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <thread>

#include <coda/core/threads.hpp>

namespace cifar {

namespace {

const command_info& table_entry(const std::string& command) {
  const command_info* entry = find_command(command);
  if (!entry) throw std::logic_error("coda-cifar10: no command table entry for '" + command + "'");
  return *entry;
}

std::optional<long long> to_integer(const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const long long x = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end == text.c_str() || *end != '\0') return std::nullopt;
  return x;
}

std::optional<double> to_number(const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const double x = std::strtod(text.c_str(), &end);
  if (errno != 0 || end == text.c_str() || *end != '\0' || !std::isfinite(x)) return std::nullopt;
  return x;
}

/// A default in the table that the code cannot use is a bug of the table, not of the command line.
[[noreturn]] void bad_default(const std::string& command, const flag_info& f, const char* expected) {
  throw std::logic_error("coda-cifar10: the default '" + f.fallback + "' of --" + f.name + " for '" + command +
                         "' in the command table is not " + expected);
}

}  // namespace

args::args(const std::string& command, int argc, const char* const* argv, int first) : command_(table_entry(command)) {
  for (int i = first; i < argc; ++i) {
    std::string word = argv[i];
    if (word.size() < 3 || word.compare(0, 2, "--") != 0)
      throw usage_error("unexpected argument '" + word + "' for '" + command + "' (flags start with --)");
    std::string name = word.substr(2), value;
    bool inline_value = false;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    const flag_info* flag = command_.find_flag(name);
    if (!flag) throw usage_error("unknown flag --" + name + " for '" + command + "'");
    if (values_.count(name)) throw usage_error("--" + name + " is given more than once");
    if (flag->takes_value() && !inline_value) {
      if (i + 1 >= argc) throw usage_error("--" + name + " needs a value");
      value = argv[++i];
    } else if (!flag->takes_value() && inline_value) {
      throw usage_error("--" + name + " takes no value");
    }
    values_[name] = value;
  }
}

const flag_info& args::spec(const std::string& flag) const {
  const flag_info* f = command_.find_flag(flag);
  if (!f) throw std::logic_error("coda-cifar10: '" + command_.name + "' reads --" + flag + ", which its command table entry lacks");
  return *f;
}

bool args::has(const std::string& flag) const {
  spec(flag);
  return values_.count(flag) != 0;
}

const std::string& args::required(const std::string& flag) const {
  spec(flag);
  const auto it = values_.find(flag);
  if (it == values_.end()) throw usage_error("'" + command_.name + "' needs --" + flag);
  if (it->second.empty()) throw usage_error("--" + flag + " needs a non-empty value");
  return it->second;
}

std::optional<std::string> args::optional(const std::string& flag) const {
  spec(flag);
  const auto it = values_.find(flag);
  if (it == values_.end()) return std::nullopt;
  if (it->second.empty()) throw usage_error("--" + flag + " needs a non-empty value");
  return it->second;
}

std::string args::value(const std::string& flag) const { return optional(flag).value_or(spec(flag).fallback); }

long long args::integer(const std::string& flag, long long min, long long max) const {
  const auto fallback = to_integer(spec(flag).fallback);
  if (!fallback) bad_default(command_.name, spec(flag), "an integer");
  return integer(flag, *fallback, min, max);
}

long long args::integer(const std::string& flag, long long fallback, long long min, long long max) const {
  const auto v = optional(flag);
  if (!v) return fallback;
  const auto x = to_integer(*v);
  if (!x) throw usage_error("--" + flag + " expects an integer, got '" + *v + "'");
  if (*x < min || *x > max)
    throw usage_error("--" + flag + " must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " + *v);
  return *x;
}

double args::number(const std::string& flag, double min, double max) const {
  const auto fallback = to_number(spec(flag).fallback);
  if (!fallback) bad_default(command_.name, spec(flag), "a number");
  return number(flag, *fallback, min, max);
}

double args::number(const std::string& flag, double fallback, double min, double max) const {
  const auto v = optional(flag);
  if (!v) return fallback;
  const auto x = to_number(*v);
  if (!x) throw usage_error("--" + flag + " expects a finite number, got '" + *v + "'");
  if (*x < min || *x > max)
    throw usage_error("--" + flag + " must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " + *v);
  return *x;
}

std::string args::choice(const std::string& flag, const std::vector<std::string>& choices) const {
  const auto v = optional(flag);
  const std::string& value = v ? *v : spec(flag).fallback;
  for (const auto& c : choices)
    if (value == c) return c;
  if (!v) bad_default(command_.name, spec(flag), "one of the choices");
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : "|") + c;
  throw usage_error("--" + flag + " must be one of " + list + ", got '" + *v + "'");
}

int thread_count(const args& a) {
  const long long cores = std::max(1u, std::thread::hardware_concurrency());
  return static_cast<int>(a.integer("threads", cores, 1, 1024));
}

int apply_threads(const args& a) {
  const int threads = thread_count(a);
  coda::set_threads(threads);
  return threads;
}

}  // namespace cifar

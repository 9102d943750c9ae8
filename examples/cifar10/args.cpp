#include "args.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <thread>

#include <coda/core/threads.hpp>

namespace cifar {

args::args(const std::string& command, const std::vector<flag_spec>& specs, int argc, const char* const* argv, int first)
    : command_(command) {
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
    const flag_spec* spec = nullptr;
    for (const auto& s : specs)
      if (s.name == name) spec = &s;
    if (!spec) throw usage_error("unknown flag --" + name + " for '" + command + "'");
    if (values_.count(name)) throw usage_error("--" + name + " is given more than once");
    if (spec->takes_value && !inline_value) {
      if (i + 1 >= argc) throw usage_error("--" + name + " needs a value");
      value = argv[++i];
    } else if (!spec->takes_value && inline_value) {
      throw usage_error("--" + name + " takes no value");
    }
    values_[name] = value;
  }
}

const std::string& args::required(const std::string& flag) const {
  const auto it = values_.find(flag);
  if (it == values_.end()) throw usage_error("'" + command_ + "' needs --" + flag);
  if (it->second.empty()) throw usage_error("--" + flag + " needs a non-empty value");
  return it->second;
}

std::optional<std::string> args::optional(const std::string& flag) const {
  const auto it = values_.find(flag);
  if (it == values_.end()) return std::nullopt;
  if (it->second.empty()) throw usage_error("--" + flag + " needs a non-empty value");
  return it->second;
}

long long args::integer(const std::string& flag, long long fallback, long long min, long long max) const {
  const auto v = optional(flag);
  if (!v) return fallback;
  errno = 0;
  char* end = nullptr;
  const long long x = std::strtoll(v->c_str(), &end, 10);
  if (errno != 0 || end == v->c_str() || *end != '\0')
    throw usage_error("--" + flag + " expects an integer, got '" + *v + "'");
  if (x < min || x > max)
    throw usage_error("--" + flag + " must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " + *v);
  return x;
}

double args::number(const std::string& flag, double fallback, double min, double max) const {
  const auto v = optional(flag);
  if (!v) return fallback;
  errno = 0;
  char* end = nullptr;
  const double x = std::strtod(v->c_str(), &end);
  if (errno != 0 || end == v->c_str() || *end != '\0' || !std::isfinite(x))
    throw usage_error("--" + flag + " expects a finite number, got '" + *v + "'");
  if (x < min || x > max)
    throw usage_error("--" + flag + " must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " + *v);
  return x;
}

std::string args::choice(const std::string& flag, const std::string& fallback, const std::vector<std::string>& choices) const {
  const auto v = optional(flag);
  if (!v) return fallback;
  for (const auto& c : choices)
    if (*v == c) return c;
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

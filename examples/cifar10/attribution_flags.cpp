#include "attribution_flags.hpp"

#include <algorithm>
#include <sstream>
#include <string>

namespace cifar {

std::vector<coda::attribution_method> method_list(const args& a) {
  const auto list = a.optional("method");
  if (!list) return {coda::all_attribution_methods.begin(), coda::all_attribution_methods.end()};
  std::string names;
  for (const auto m : coda::all_attribution_methods) names += std::string(names.empty() ? "" : "|") + coda::method_name(m);
  std::vector<coda::attribution_method> methods;
  std::istringstream in(*list);
  for (std::string m; std::getline(in, m, ',');) {
    const auto parsed = coda::parse_method(m);
    if (!parsed) throw usage_error("--method must name methods among " + names + ", got '" + m + "'");
    if (std::find(methods.begin(), methods.end(), *parsed) != methods.end()) throw usage_error("--method names '" + m + "' twice");
    methods.push_back(*parsed);
  }
  if (methods.empty()) throw usage_error("--method is empty");
  return methods;
}

coda::attribution_options attribution_flags(const args& a) {
  // The library's defaults are the paper's values; the command table shows them, and
  // test_cli_help.cpp checks that it shows these.
  coda::attribution_options o;
  o.intgrad.steps = a.integer("intgrad-steps", o.intgrad.steps, 1, 10000);
  o.rise.masks = a.integer("rise-masks", o.rise.masks, 1, 1000000);
  o.rise.grid = a.integer("rise-grid", o.rise.grid, 1, 32);
  o.rise.keep = a.number("rise-keep", o.rise.keep, 1e-6, 1);
  const long long max_seed = std::numeric_limits<long long>::max();
  o.rise.seed = static_cast<std::uint64_t>(a.integer("rise-seed", static_cast<long long>(o.rise.seed), 0, max_seed));
  return o;
}

}  // namespace cifar

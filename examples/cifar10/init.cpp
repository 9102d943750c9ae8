// coda-cifar10 init --out M [--seed S] [--norm squash|l2] [--temperature T] [--logit-bias B]
// Writes a freshly initialised cifar10-9l model (PyTorch's default initialisation, seeded).
#include <coda/io/model_file.hpp>
#include <coda/nn/init.hpp>
#include <cmath>
#include <iostream>
#include <limits>

#include "args.hpp"
#include "commands.hpp"

namespace cifar {

namespace {

template <class Net>
void write_initialised(const args& a, const std::string& out) {
  // The table can only name the default logit bias, log(1/9), so it is written out here.
  Net net(static_cast<float>(a.number("temperature", 1e-6, 1e12)),
          static_cast<float>(a.number("logit-bias", std::log(1.0 / 9.0), -1e6, 1e6)));
  coda::init_uniform(net, static_cast<std::uint64_t>(a.integer("seed", 0, std::numeric_limits<long long>::max())));
  coda::save_model(net, out);
}

}  // namespace

int run_init(int argc, const char* const* argv) {
  const args a("init", argc, argv, 2);
  const std::string out = a.required("out");
  apply_threads(a);
  if (a.choice("norm", {"squash", "l2"}) == "l2")
    write_initialised<coda::cifar10_9l<float, coda::l2>>(a, out);
  else
    write_initialised<coda::cifar10_9l<float, coda::squash>>(a, out);
  std::cout << "wrote an initialised cifar10-9l model to " << out << "\n";
  return 0;
}

}  // namespace cifar

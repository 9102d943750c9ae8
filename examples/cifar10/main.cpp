// coda-cifar10: the bundled CIFAR-10 program. Interface contract: docs/cli.md.
#include <coda/core/error.hpp>
#include <coda/version.hpp>
#include <iostream>
#include <new>
#include <string>

#include "args.hpp"
#include "commands.hpp"

namespace {

constexpr const char* usage =
    "usage: coda-cifar10 <command> [flags]\n"
    "commands:\n"
    "  init --out M [--seed S] [--norm squash|l2]           write a freshly initialised cifar10-9l model\n"
    "  predict --model M --input X --output Y [--explain]   logits (and contributions) of images in X\n"
    "  train --data DIR --out M [--epochs E] [--batch B] [--virtual-batch V] [--lr LR] ...\n"
    "                                                        train cifar10-9l (the paper's recipe by default)\n"
    "  eval --data DIR --model M [--limit-test N]           test accuracy of a model\n"
    "  explain --model M (--image FILE | --data DIR --index I) --out PNG [--class C]\n"
    "                                                        picture of the contributions, top-3 classes\n"
    "  bench [--batch B] [--threads N] [--seconds S]        inference, training and explanation img/s\n"
    "  attribute --model M --input X --output Y [--method M[,M...]] [--class C]\n"
    "                                                        maps of the paper's attribution methods for images in X\n"
    "  metrics --data DIR --model M [--method M[,M...]] [--localisation] [--pixel-removal] [--samples N] ...\n"
    "                                                        the paper's attribution metrics, CSV and HTML report\n"
    "flags common to all commands: --threads N\n"
    "train, eval and bench: --device cpu|cuda (default cpu; cuda needs a build with CODA_WITH_CUDA=ON\n"
    "                       and a GPU of compute capability 9.0 or newer)\n"
    "see docs/cli.md for the full contract\n";

int dispatch(int argc, const char* const* argv) {
  if (argc < 2) throw cifar::usage_error("missing command (try 'coda-cifar10 --help')");
  const std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << usage;
    return 0;
  }
  if (command == "--version") {
    std::cout << "coda-cifar10 " << CODA_VERSION_STRING << "\n";
    return 0;
  }
  if (command == "init") return cifar::run_init(argc, argv);
  if (command == "predict") return cifar::run_predict(argc, argv);
  if (command == "train") return cifar::run_train(argc, argv);
  if (command == "eval") return cifar::run_eval(argc, argv);
  if (command == "explain") return cifar::run_explain(argc, argv);
  if (command == "bench") return cifar::run_bench(argc, argv);
  if (command == "attribute") return cifar::run_attribute(argc, argv);
  if (command == "metrics") return cifar::run_metrics(argc, argv);
  throw cifar::usage_error("unknown command '" + command + "' (try 'coda-cifar10 --help')");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return dispatch(argc, argv);
  } catch (const cifar::usage_error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "error: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}

// coda-cifar10: the bundled CIFAR-10 program. Interface contract: docs/cli.md.
#include <coda/core/error.hpp>
#include <coda/version.hpp>
#include <iostream>
#include <map>
#include <new>
#include <stdexcept>
#include <string>

#include "args.hpp"
#include "command_table.hpp"
#include "commands.hpp"
#include "help.hpp"
#include "processes.hpp"

namespace {

using runner = int (*)(int, const char* const*);

/// The code of a command of the table; one the table lists without code here is a bug.
runner runner_of(const std::string& command) {
  static const std::map<std::string, runner> runners{
      {"init", cifar::run_init},       {"predict", cifar::run_predict}, {"train", cifar::run_train},
      {"eval", cifar::run_eval},       {"explain", cifar::run_explain}, {"bench", cifar::run_bench},
      {"attribute", cifar::run_attribute}, {"metrics", cifar::run_metrics}};
  const auto it = runners.find(command);
  if (it == runners.end()) throw std::logic_error("coda-cifar10: no code for the command '" + command + "'");
  return it->second;
}

const cifar::command_info& known_command(const std::string& name) {
  const cifar::command_info* command = cifar::find_command(name);
  if (!command) throw cifar::usage_error("unknown command '" + name + "' (try 'coda-cifar10 --help')");
  return *command;
}

/// --help or -h anywhere among a command's arguments asks for its help instead of running it.
bool asks_for_help(int argc, const char* const* argv) {
  for (int i = 2; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") return true;
  return false;
}

int print(const std::string& text) {
  std::cout << text;
  return 0;
}

/// `coda-cifar10 help [command]`.
int help(int argc, const char* const* argv) {
  if (argc < 3) return print(cifar::overview_help());
  if (argc > 3) throw cifar::usage_error("unexpected argument '" + std::string(argv[3]) + "' for 'help'");
  return print(cifar::command_help(known_command(argv[2])));
}

int dispatch(int argc, const char* const* argv) {
  if (argc < 2) throw cifar::usage_error("missing command (try 'coda-cifar10 --help')");
  const std::string command = argv[1];
  if (command == "--help" || command == "-h") return print(cifar::overview_help());
  if (command == "help") return help(argc, argv);
  if (command == "--version") return print(std::string("coda-cifar10 ") + CODA_VERSION_STRING + "\n");
  const cifar::command_info& info = known_command(command);
  if (asks_for_help(argc, argv)) return print(cifar::command_help(info));
  return runner_of(command)(argc, argv);
}

/// The one error line; a rank of a multi-process run names itself and stops the other ranks.
/// The line goes out in one write: std::cerr flushes after every insertion, and the pieces of
/// several ranks' lines would interleave on a shared stderr.
int fail(const char* what, int code) {
  std::cerr << ("error: " + cifar::rank_prefix() + what + "\n") << std::flush;
  cifar::abort_processes(code);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return dispatch(argc, argv);
  } catch (const cifar::usage_error& e) {
    return fail(e.what(), 2);
  } catch (const std::bad_alloc&) {
    return fail("out of memory", 1);
  } catch (const std::exception& e) {
    return fail(e.what(), 1);
  }
}

// coda-cifar10's help: `help`, `--help` and `-h` list every command; `help <command>`,
// `<command> --help` and `<command> -h` (anywhere among its arguments) print the command's flags.
// The help is printed from the command table that the parser checks command lines against
// (examples/cifar10/command_table.cpp, compiled into these tests), so the tests hold the help, the
// table and the parser to each other: the help shows exactly the table's flags, each with its
// default, the parser accepts each of them and refuses any other, and the defaults the table
// shows for the attribution methods are the library's, which the program uses.
#include <catch2/catch.hpp>
#include <cctype>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "coda/attribution/methods.hpp"
#include "command_table.hpp"
#include "support/cli_runner.hpp"
#include "support/text.hpp"

namespace test_cli_help {

using namespace coda;
using cifar::command_info;
using cifar::command_table;
using cifar::flag_info;
using test::expect_one_error;
using test::lines_of;

namespace {

/// The `--name` words of `text` (names without the dashes).
std::set<std::string> flag_tokens(const std::string& text) {
  std::set<std::string> names;
  for (std::size_t at = text.find("--"); at != std::string::npos; at = text.find("--", at + 2)) {
    std::size_t end = at + 2;
    while (end < text.size() && (std::islower(static_cast<unsigned char>(text[end])) ||
                                 std::isdigit(static_cast<unsigned char>(text[end])) || text[end] == '-'))
      ++end;
    if (end > at + 2) names.insert(text.substr(at + 2, end - at - 2));
    at = end - 2;
  }
  return names;
}

std::set<std::string> table_flags(const command_info& command) {
  std::set<std::string> names;
  for (const auto& f : command.flags) names.insert(f.name);
  return names;
}

/// The help line of `flag`: the one that starts with it.
std::string flag_line(const std::string& help, const flag_info& flag) {
  const std::string start = "  --" + flag.name + (flag.takes_value() ? " " + flag.placeholder : "") + " ";
  for (const auto& line : lines_of(help))
    if (line.rfind(start, 0) == 0) return line;
  return "";
}

/// What the help must show as the default of `flag`.
std::string expected_default(const flag_info& flag) {
  if (!flag.takes_value()) return "  off  ";
  if (flag.is_required()) return "  required  ";
  return "  default " + flag.fallback + "  ";
}

/// A value that can stand for the placeholder on a command line run through the shell: a
/// choice's first alternative ("squash" for "squash|l2"), else the placeholder itself.
std::string placeholder_value(const flag_info& flag) { return flag.placeholder.substr(0, flag.placeholder.find('|')); }

std::string argument_of(const flag_info& flag) {
  return "--" + flag.name + (flag.takes_value() ? " " + placeholder_value(flag) : "");
}

std::size_t required_count(const command_info& command) {
  std::size_t n = 0;
  for (const auto& f : command.flags) n += f.is_required() ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("the command table is well formed", "[cli][help]") {
  REQUIRE_FALSE(command_table().empty());
  std::set<std::string> commands;
  for (const auto& command : command_table()) {
    INFO(command.name);
    CHECK(commands.insert(command.name).second);
    CHECK_FALSE(command.synopsis.empty());
    CHECK_FALSE(command.summary.empty());
    std::set<std::string> flags;
    for (const auto& f : command.flags) {
      INFO("--" << f.name);
      CHECK(flags.insert(f.name).second);
      CHECK_FALSE(f.description.empty());
      // A switch has no default to show; a flag with a value always has one.
      CHECK(f.takes_value() != f.fallback.empty());
    }
  }
}

TEST_CASE("<command> --help and help <command> print the same help and exit 0", "[cli][help]") {
  test::scratch_dir dir;
  for (const auto& command : command_table()) {
    INFO(command.name);
    const auto by_flag = test::run_cli(dir, command.name + " --help");
    const auto by_short_flag = test::run_cli(dir, command.name + " -h");
    const auto by_command = test::run_cli(dir, "help " + command.name);
    for (const auto* r : {&by_flag, &by_short_flag, &by_command}) {
      CHECK(r->exit_code == 0);
      CHECK(r->err.empty());
    }
    CHECK(by_flag.out == by_command.out);
    CHECK(by_short_flag.out == by_command.out);
    CHECK(by_command.out.rfind("usage: coda-cifar10 " + command.name + " " + command.synopsis + "\n", 0) == 0);
    CHECK_THAT(by_command.out, Catch::Contains(command.summary));
    CHECK_THAT(by_command.out, Catch::Contains("docs/cli.md"));
  }
}

TEST_CASE("a command's help names exactly the flags of its table entry, each with its default", "[cli][help]") {
  test::scratch_dir dir;
  for (const auto& command : command_table()) {
    INFO(command.name);
    const auto help = test::run_cli(dir, "help " + command.name).out;
    CHECK(flag_tokens(help) == table_flags(command));
    for (const auto& f : command.flags) {
      INFO("--" << f.name);
      const std::string line = flag_line(help, f);
      REQUIRE_FALSE(line.empty());
      CHECK_THAT(line, Catch::Contains(expected_default(f)));
      CHECK_THAT(line, Catch::EndsWith(f.description));
    }
    // Every flag line shows a default: the lines above are all the lines that start with a flag.
    std::size_t flag_lines = 0;
    for (const auto& line : lines_of(help)) flag_lines += line.rfind("  --", 0) == 0 ? 1 : 0;
    CHECK(flag_lines == command.flags.size());
  }
}

TEST_CASE("--help or -h anywhere among a command's arguments prints its help", "[cli][help]") {
  test::scratch_dir dir;
  const auto help = test::run_cli(dir, "help train").out;
  for (const char* args : {"train --data nowhere --help", "train --epochs 3 -h --out model.safetensors",
                                 "train --no-such-flag --help"}) {
    INFO(args);
    const auto r = test::run_cli(dir, args);
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    CHECK(r.out == help);
  }
}

TEST_CASE("the top-level help lists every command of the table", "[cli][help]") {
  test::scratch_dir dir;
  const auto help = test::run_cli(dir, "help");
  CHECK(help.exit_code == 0);
  CHECK(help.err.empty());
  for (const char* args : {"--help", "-h"}) {
    const auto r = test::run_cli(dir, args);
    CHECK(r.exit_code == 0);
    CHECK(r.out == help.out);
  }
  for (const auto& command : command_table()) CHECK_THAT(help.out, Catch::Contains("  " + command.name + "  "));
  CHECK_THAT(help.out, Catch::Contains("coda-cifar10 help <command>"));
  CHECK_THAT(help.out, Catch::Contains("<command> --help"));
  CHECK_THAT(help.out, Catch::Contains("docs/cli.md"));
}

TEST_CASE("help for an unknown command is a usage error", "[cli][help][errors]") {
  test::scratch_dir dir;
  const auto r = test::run_cli(dir, "help nosuch");
  expect_one_error(r, 2, "unknown command 'nosuch'");
  CHECK(r.out.empty());
  expect_one_error(test::run_cli(dir, "help train extra"), 2, "unexpected argument 'extra' for 'help'");
}

TEST_CASE("every command refuses a flag its table entry lacks", "[cli][help][errors]") {
  test::scratch_dir dir;
  for (const auto& command : command_table()) {
    INFO(command.name);
    expect_one_error(test::run_cli(dir, command.name + " --no-such-flag 1"), 2,
                     "unknown flag --no-such-flag for '" + command.name + "'");
  }
}

TEST_CASE("every command accepts each flag of its table entry", "[cli][help]") {
  test::scratch_dir dir;
  // Parsing goes left to right, so the error names the flag after --F only when --F was taken,
  // with a value exactly when the table gives it one; nothing runs, as the line is refused.
  for (const auto& command : command_table())
    for (const auto& f : command.flags) {
      INFO(command.name << " --" << f.name);
      expect_one_error(test::run_cli(dir, command.name + " " + argument_of(f) + " --no-such-flag"), 2,
                       "unknown flag --no-such-flag for '" + command.name + "'");
    }
}

TEST_CASE("a flag of the table alone is parsed, and refused only for what is missing", "[cli][help]") {
  test::scratch_dir dir;
  // A command with two required flags lacks one whatever single flag it gets, so it stops with a
  // usage error before doing any work; that error must not be about the flag itself being unknown.
  for (const auto& command : command_table()) {
    if (required_count(command) < 2) continue;
    for (const auto& f : command.flags) {
      INFO(command.name << " --" << f.name);
      const auto r = test::run_cli(dir, command.name + " " + argument_of(f));
      CHECK(r.exit_code == 2);
      CHECK_THAT(r.err, !Catch::Contains("unknown flag") && !Catch::Contains("unexpected argument"));
    }
  }
}

TEST_CASE("the attribution defaults the help shows are the library's", "[cli][help]") {
  const attribution_options library;
  for (const char* name : {"attribute", "metrics"}) {
    INFO(name);
    const command_info* command = cifar::find_command(name);
    REQUIRE(command);
    const auto fallback = [&](const std::string& flag) { return command->find_flag(flag)->fallback; };
    CHECK(fallback("intgrad-steps") == std::to_string(library.intgrad.steps));
    CHECK(fallback("rise-masks") == std::to_string(library.rise.masks));
    CHECK(fallback("rise-grid") == std::to_string(library.rise.grid));
    CHECK(std::stod(fallback("rise-keep")) == library.rise.keep);
    CHECK(fallback("rise-seed") == std::to_string(library.rise.seed));
    for (const auto method : all_attribution_methods)
      CHECK_THAT(command->find_flag("method")->description, Catch::Contains(std::string(" ") + method_name(method)));
  }
}

}  // namespace test_cli_help

// Runs the coda-cifar10 executable in a scratch directory and captures its exit code and output.
#pragma once

#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/scratch_dir.hpp"

namespace coda::test {

struct cli_result {
  int exit_code;
  std::string out;
  std::string err;

  /// Lines of stderr.
  std::vector<std::string> error_lines() const {
    std::vector<std::string> lines;
    std::istringstream s(err);
    for (std::string l; std::getline(s, l);) lines.push_back(l);
    return lines;
  }
};

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

/// Runs `CODA_CIFAR10_EXE args` (args are passed through the shell: keep them free of quotes).
inline cli_result run_cli(const scratch_dir& dir, const std::string& args) {
  const std::string out = dir / "stdout.txt", err = dir / "stderr.txt";
  const std::string cmd = std::string(CODA_CIFAR10_EXE) + " " + args + " > " + out + " 2> " + err;
  const int status = std::system(cmd.c_str());
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return {code, read_text(out), read_text(err)};
}

/// A failed command: exit code `code` and, on stderr, exactly one line, an `error: ` line that
/// contains `what`.
inline void expect_one_error(const cli_result& r, int code, const std::string& what) {
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == code);
  const auto lines = r.error_lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].rfind("error: ", 0) == 0);
  CHECK_THAT(lines[0], Catch::Contains(what));
}

}  // namespace coda::test

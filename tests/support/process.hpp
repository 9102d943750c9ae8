// A program run in the background with fork/exec (stdout and stderr to files), for tests that
// watch, kill or time it while it runs: the kill-and-resume tests and the MPI tests.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/cli_runner.hpp"

namespace coda::test {

inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

/// `exe args...` started with fork/exec, stdin from /dev/null, stdout and stderr to `log`.out /
/// `log`.err. wait() kills it with SIGKILL after `timeout_seconds`; so does the destructor of a
/// process still running.
class process {
 public:
  process(const std::string& exe, std::vector<std::string> args, const std::string& log, double timeout_seconds)
      : out_(log + ".out"), err_(log + ".err"), timeout_(timeout_seconds) {
    args.insert(args.begin(), exe);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    start_ = std::chrono::steady_clock::now();
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {  // only async-signal-safe calls until exec
      const int in = ::open("/dev/null", O_RDONLY);
      const int out = ::open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || out < 0 || err < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0) ::_exit(126);
      ::execv(exe.c_str(), argv.data());
      ::_exit(127);
    }
  }
  ~process() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }
  process(const process&) = delete;
  process& operator=(const process&) = delete;

  bool running() {
    if (reaped_) return false;
    if (::waitpid(pid_, &status_, WNOHANG) == pid_) reaped_ = true;
    return !reaped_;
  }
  /// Waits for the exit (killing the process after the timeout) and returns the status.
  int wait() {
    while (running()) {
      if (seconds() > timeout_) {
        timed_out_ = true;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status_, 0);
        reaped_ = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return status_;
  }
  void kill() { ::kill(pid_, SIGKILL); }
  pid_t pid() const { return pid_; }
  double seconds() const { return seconds_since(start_); }
  bool timed_out() const { return timed_out_; }
  bool killed_by_sigkill() const { return reaped_ && WIFSIGNALED(status_) && WTERMSIG(status_) == SIGKILL; }
  int exit_code() const { return reaped_ && WIFEXITED(status_) ? WEXITSTATUS(status_) : -1; }
  std::string out() const { return read_text(out_); }
  std::string err() const { return read_text(err_); }

 private:
  std::string out_, err_;
  double timeout_;
  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false, timed_out_ = false;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace coda::test

// POSIX file helpers shared by the readers and the crash-safe writer of coda/io/.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "coda/core/error.hpp"

namespace coda::detail {

[[noreturn]] inline void throw_io_error(const std::string& path, const std::string& what, int err) {
  CODA_THROW(io_error(path + ": " + what + ": " + std::generic_category().message(err)));
}

/// Owns a POSIX file descriptor.
class unique_fd {
 public:
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() {
    if (fd_ >= 0) ::close(fd_);
  }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }

  /// Closes now and reports close()'s result: on network file systems a failed write may only
  /// surface here, so the writer must not ignore it.
  int close() noexcept {
    const int result = ::close(fd_);
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

/// The whole content of a regular file. Directories, FIFOs and devices are refused up front, so a
/// wrong path gives an error naming it instead of a hang or a stream-library message (O_NONBLOCK
/// keeps open() itself from waiting for a FIFO's writer; it does not affect regular files).
inline std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
  const unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd.valid()) throw_io_error(path, "cannot open", errno);
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) throw_io_error(path, "cannot stat", errno);
  if (!S_ISREG(info.st_mode)) CODA_THROW(io_error(path + ": not a regular file"));
  // The size comes from the file system, never from the header, so a corrupt length field
  // cannot make the reader allocate more than the file holds.
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(info.st_size));
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t got = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw_io_error(path, "cannot read", errno);
    if (got == 0) CODA_THROW(io_error(path + ": the file shrank while it was being read"));
    done += static_cast<std::size_t>(got);
  }
  return bytes;
}

}  // namespace coda::detail

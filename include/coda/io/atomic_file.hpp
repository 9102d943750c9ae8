// Crash-safe file replacement: the new content goes to a temporary file next to the target, is
// forced to disk, and only then renamed over the target. rename() within one directory is atomic
// on POSIX, so a reader (or a restart after a crash) sees either the old file or the complete new
// one, never a truncated mix. Note that the result gets fresh permissions (0666 less the umask),
// not those of the file it replaces.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <ostream>
#include <streambuf>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "coda/core/error.hpp"
#include "coda/detail/posix_file.hpp"

namespace coda::detail {

/// Writes all `n` bytes, retrying short writes and interrupted calls. Returns 0 or the errno.
inline int write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t written = ::write(fd, data, n);
    if (written < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data += written;
    n -= static_cast<std::size_t>(written);
  }
  return 0;
}

/// Stream buffer over a file descriptor that remembers the errno of the first failed write, so
/// that the error message can say why (disk full, quota, ...) instead of just "stream failed".
class fd_streambuf : public std::streambuf {
 public:
  explicit fd_streambuf(int fd) : fd_(fd) { setp(buffer_.data(), buffer_.data() + buffer_.size()); }

  int error() const noexcept { return error_; }

 protected:
  int_type overflow(int_type ch) override {
    if (sync() != 0) return traits_type::eof();
    if (traits_type::eq_int_type(ch, traits_type::eof())) return traits_type::not_eof(ch);
    *pptr() = traits_type::to_char_type(ch);
    pbump(1);
    return ch;
  }

  int sync() override {
    if (error_ == 0) error_ = write_all(fd_, pbase(), static_cast<std::size_t>(pptr() - pbase()));
    if (error_ != 0) return -1;
    setp(buffer_.data(), buffer_.data() + buffer_.size());
    return 0;
  }

 private:
  int fd_;
  int error_ = 0;
  std::vector<char> buffer_ = std::vector<char>(std::size_t{1} << 16);  // on the heap: callers may run on small stacks
};

/// Deletes the temporary file unless the rename consumed it, whichever way the writer exits.
class temp_file_guard {
 public:
  explicit temp_file_guard(std::string path) : path_(std::move(path)) {}
  temp_file_guard(const temp_file_guard&) = delete;
  temp_file_guard& operator=(const temp_file_guard&) = delete;
  ~temp_file_guard() {
    if (armed_) ::unlink(path_.c_str());
  }

  const std::string& path() const noexcept { return path_; }
  void release() noexcept { armed_ = false; }

 private:
  std::string path_;
  bool armed_ = true;
};

/// The pid separates processes and the counter separates threads and successive calls, so that
/// concurrent writers of one target never share a temporary file.
inline std::string temporary_path_for(const std::string& path) {
  static std::atomic<unsigned long> counter{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
}

/// The rename is only durable once the directory entry is on disk. The new content is already in
/// place when this runs, so a failure only weakens crash safety and is not reported.
inline void sync_parent_directory(const std::string& path) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  const unique_fd dir(::open(parent.empty() ? "." : parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.valid()) ::fsync(dir.get());
}

}  // namespace coda::detail

namespace coda {

/// Replaces `path` with what `write` puts into the stream, atomically: on any failure (the
/// temporary file cannot be created, a write, fsync or the rename fails, or `write` throws) the
/// temporary file is removed, an existing `path` keeps its old content, and io_error (or the
/// exception `write` threw) propagates.
inline void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  detail::temp_file_guard temp(detail::temporary_path_for(path));
  detail::unique_fd fd(::open(temp.path().c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
  if (!fd.valid()) detail::throw_io_error(path, "cannot create temporary file '" + temp.path() + "'", errno);

  detail::fd_streambuf buffer(fd.get());
  std::ostream out(&buffer);
  write(out);
  out.flush();
  if (!out) {
    if (buffer.error() != 0) detail::throw_io_error(path, "cannot write '" + temp.path() + "'", buffer.error());
    CODA_THROW(io_error(path + ": writing '" + temp.path() + "' failed"));
  }
  if (::fsync(fd.get()) != 0) detail::throw_io_error(path, "cannot fsync '" + temp.path() + "'", errno);
  if (fd.close() != 0) detail::throw_io_error(path, "cannot close '" + temp.path() + "'", errno);
  if (::rename(temp.path().c_str(), path.c_str()) != 0)
    detail::throw_io_error(path, "cannot rename '" + temp.path() + "' over it", errno);
  temp.release();
  detail::sync_parent_directory(path);
}

/// Byte overload of the above.
inline void write_file_atomically(const std::string& path, const void* data, std::size_t size) {
  write_file_atomically(path, [&](std::ostream& out) {
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
  });
}

}  // namespace coda

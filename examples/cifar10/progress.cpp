#include "progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace cifar {

namespace {

std::string clock_text(double seconds) {
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

}  // namespace

progress::progress(std::string what, coda::index_t total)
    : what_(std::move(what)), total_(total), tty_(::isatty(STDERR_FILENO) == 1), start_(std::chrono::steady_clock::now()),
      last_(start_) {}

double progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void progress::update(coda::index_t done, double loss, double accuracy) {
  done_ = done;
  loss_ = loss;
  accuracy_ = accuracy;
  const auto now = std::chrono::steady_clock::now();
  if (std::chrono::duration<double>(now - last_).count() < (tty_ ? 0.2 : 10.0)) return;
  last_ = now;
  if (silent_) return;
  if (tty_)
    std::fprintf(stderr, "\r%s\033[K", line(false).c_str());
  else
    std::fprintf(stderr, "%s\n", line(false).c_str());
}

void progress::note(const std::string& text) {
  if (silent_) return;
  if (tty_) std::fprintf(stderr, "\r\033[K");
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
  if (tty_) std::fprintf(stderr, "%s", line(false).c_str());
}

void progress::finish() {
  if (!silent_) std::fprintf(stderr, tty_ ? "\r%s\033[K\n" : "%s\n", line(true).c_str());
}

std::string progress::line(bool final) const {
  const double s = seconds(), rate = s > 0 ? double(done_) / s : 0;
  std::string text = what_;
  if (tty_) {
    constexpr int width = 24;
    const int filled = total_ > 0 ? static_cast<int>(width * double(done_) / double(total_)) : width;
    text += " [" + std::string(static_cast<std::size_t>(filled), '#') + std::string(static_cast<std::size_t>(width - filled), '.') + "]";
  }
  char buf[160];
  std::snprintf(buf, sizeof buf, " %td/%td  %.1f img/s  %s %s", done_, total_, rate, final ? "took" : "eta",
                clock_text(final ? s : (rate > 0 ? double(total_ - done_) / rate : 0)).c_str());
  text += buf;
  if (loss_ >= 0) {
    std::snprintf(buf, sizeof buf, "  loss %.4f", loss_);
    text += buf;
  }
  if (accuracy_ >= 0) {
    std::snprintf(buf, sizeof buf, "  acc %.2f%%", 100 * accuracy_);
    text += buf;
  }
  return text;
}

}  // namespace cifar

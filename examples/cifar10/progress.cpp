#include "progress.hpp"

#include <cstdio>

namespace cifar {

progress::progress(std::string what, coda::index_t total)
    : what_(std::move(what)), total_(total), start_(std::chrono::steady_clock::now()), last_(start_) {}

double progress::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void progress::update(coda::index_t done, double loss, double accuracy) {
  done_ = done;
  loss_ = loss;
  accuracy_ = accuracy;
  const auto now = std::chrono::steady_clock::now();
  if (std::chrono::duration<double>(now - last_).count() >= 10) {
    last_ = now;
    print(false);
  }
}

void progress::finish() { print(true); }

void progress::print(bool final) {
  const double s = seconds(), rate = s > 0 ? double(done_) / s : 0;
  const double eta = rate > 0 ? double(total_ - done_) / rate : 0;
  std::fprintf(stderr, "%s %td/%td  %.1f img/s  %s %.0fs", what_.c_str(), done_, total_, rate, final ? "took" : "eta",
               final ? s : eta);
  if (loss_ >= 0) std::fprintf(stderr, "  loss %.4f", loss_);
  if (accuracy_ >= 0) std::fprintf(stderr, "  acc %.2f%%", 100 * accuracy_);
  std::fprintf(stderr, "\n");
}

}  // namespace cifar

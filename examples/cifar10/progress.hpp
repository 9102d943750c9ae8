// Progress of long work: a plain line to stderr every few seconds (and at the end), with the rate,
// the ETA and the running loss and accuracy when known.
#pragma once

#include <chrono>
#include <string>

#include <coda/core/shape.hpp>

namespace cifar {

class progress {
 public:
  progress(std::string what, coda::index_t total);
  /// `done` of `total` items; loss < 0 means unknown.
  void update(coda::index_t done, double loss, double accuracy);
  void finish();
  double seconds() const;

 private:
  void print(bool final);

  std::string what_;
  coda::index_t total_, done_ = 0;
  double loss_ = -1, accuracy_ = -1;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace cifar

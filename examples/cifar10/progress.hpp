// Progress of long work (training, evaluation, decoding). On a terminal: one bar redrawn in
// place with the rate, the ETA and the running loss and accuracy. Otherwise (a log file, a
// pipe): a plain line every 10 seconds and one at the end.
#pragma once

#include <chrono>
#include <string>

#include <coda/core/shape.hpp>

namespace cifar {

class progress {
 public:
  progress(std::string what, coda::index_t total);
  /// `done` of `total` items; a negative loss or accuracy is not shown.
  void update(coda::index_t done, double loss = -1, double accuracy = -1);
  /// Final state: a complete line ("took" instead of "eta").
  void finish();
  /// A line on stdout in the middle of the work; on a terminal the bar is redrawn below it.
  void note(const std::string& text);
  void set_total(coda::index_t total) { total_ = total; }
  double seconds() const;
  /// Progress of this process is not shown from now on (the other ranks of a multi-process run:
  /// rank 0 reports for all).
  static void silence() { silent_ = true; }

 private:
  std::string line(bool final) const;

  std::string what_;
  coda::index_t total_, done_ = 0;
  double loss_ = -1, accuracy_ = -1;
  bool tty_;
  static inline bool silent_ = false;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace cifar

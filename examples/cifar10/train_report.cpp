#include "train_report.hpp"

#include <coda/io/atomic_file.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace cifar {

namespace {

/// Appends an epoch's row, dropping rows of that epoch and later ones (a run killed after logging
/// an epoch and before its checkpoint repeats it).
void put_epoch(std::vector<coda::report::epoch_row>& history, const coda::report::epoch_row& row) {
  history.erase(std::remove_if(history.begin(), history.end(), [&](const auto& old) { return old.epoch >= row.epoch; }),
                history.end());
  history.push_back(row);
}

}  // namespace

std::vector<coda::report::epoch_row> read_log_history(const std::string& log) {
  std::vector<coda::report::epoch_row> rows;
  std::ifstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    coda::report::epoch_row r{};
    if (std::sscanf(line.c_str(), "%ld,%lf,%lf,%lf,%lf,%lf", &r.epoch, &r.loss, &r.train_accuracy, &r.test_accuracy, &r.lr,
                    &r.seconds) != 6)
      continue;  // the header, or a line cut short by a crash
    put_epoch(rows, r);
  }
  return rows;
}

void report_file::set_estimate(const std::string& text) {
  report_.estimate = text;
  write();
}

void report_file::add_epoch(const coda::report::epoch_row& row, std::vector<coda::report::explained_image> explanations) {
  put_epoch(report_.history, row);
  report_.explanations = std::move(explanations);
  write();
}

void report_file::write() const {
  if (!enabled()) return;
  const std::string html = coda::report::render_training_html(report_);
  coda::write_file_atomically(path_, html.data(), html.size());
}

double rate_probe::after_batch(double seconds, long images, bool last_of_epoch) {
  if (done_) return 0;
  if (!started_) {
    started_ = true;
    start_ = seconds;
    if (!last_of_epoch) return 0;
    start_ = 0;  // an epoch of one mini-batch: that batch is all there is to measure
  }
  images_ += images;
  const double elapsed = seconds - start_;
  if ((elapsed < 10 && !last_of_epoch) || elapsed <= 0) return 0;
  done_ = true;
  return double(images_) / elapsed;
}

std::string estimate_text(long epochs, long images, double images_per_second, long measured_images) {
  const double seconds = double(epochs) * double(images) / images_per_second;
  char span[64], text[256];
  if (seconds >= 2 * 86400)
    std::snprintf(span, sizeof span, "%.1f days", seconds / 86400);
  else if (seconds >= 3600)
    std::snprintf(span, sizeof span, "%.1f hours", seconds / 3600);
  else if (seconds >= 120)  // below that, "1 minutes" or "2 minutes" for 119 s: seconds say it better
    std::snprintf(span, sizeof span, "%.0f minutes", seconds / 60);
  else
    std::snprintf(span, sizeof span, "%.0f seconds", seconds);
  std::snprintf(text, sizeof text,
                "%ld epoch%s of %ld images take%s about %s of training on this machine (%.1f img/s, measured over %ld "
                "images; testing after each epoch adds to it)",
                epochs, epochs == 1 ? "" : "s", images, epochs == 1 ? "s" : "", span, images_per_second, measured_images);
  return text;
}

std::vector<coda::index_t> report_images(coda::index_t test_size) {
  std::vector<coda::index_t> indices;
  const coda::index_t k = std::min<coda::index_t>(8, test_size);
  for (coda::index_t i = 0; i < k; ++i) indices.push_back(i * test_size / k);
  return indices;
}

}  // namespace cifar

// train --report FILE: the training report (src/report/training_report.hpp) filled from the run,
// rewritten atomically after every epoch, and the estimate of the whole run's time that train
// prints early on.
#pragma once

#include <coda/attribution/contributions.hpp>
#include <coda/data/cifar.hpp>
#include <report/training_report.hpp>
#include <string>
#include <vector>

namespace cifar {

/// The epochs of a --log file (a resumed run's earlier epochs); empty when there is none. Rows
/// that do not parse are skipped; a repeated epoch (a run killed after logging it and before its
/// checkpoint) keeps its last row.
std::vector<coda::report::epoch_row> read_log_history(const std::string& log);

/// train --report FILE: the page of one run, rewritten atomically (never half-written) whenever
/// something new is known. Without a path it does nothing.
class report_file {
 public:
  report_file(std::string path, coda::report::training_report start) : path_(std::move(path)), report_(std::move(start)) {}
  bool enabled() const { return !path_.empty(); }
  void set_estimate(const std::string& text);
  /// An epoch's row (replacing an earlier row of the same epoch) and the latest explanations.
  void add_epoch(const coda::report::epoch_row& row, std::vector<coda::report::explained_image> explanations);

 private:
  void write() const;
  std::string path_;
  coda::report::training_report report_;
};

/// The training rate early in a run, for the estimate of the whole run: measured from the end of
/// the first mini-batch (which allocates and warms up) over about ten seconds, or to the end of
/// the epoch when that comes first.
class rate_probe {
 public:
  /// After a mini-batch of `images` that ended `seconds` into the measurement's epoch: the rate
  /// in images per second once, when enough is measured; 0 before and after.
  double after_batch(double seconds, long images, bool last_of_epoch);
  long measured_images() const { return images_; }

 private:
  bool done_ = false, started_ = false;
  double start_ = 0;
  long images_ = 0;
};

/// How long `epochs` epochs of `images` images take at a measured training rate, in words.
std::string estimate_text(long epochs, long images, double images_per_second, long measured_images);

/// The test images the report explains: eight, spread evenly over the test split.
std::vector<coda::index_t> report_images(coda::index_t test_size);

/// The contributions of `images` to the predicted class, summed over the input channels.
template <class Net>
std::vector<coda::report::explained_image> explain_for_report(const Net& net, const coda::cifar10_dataset& test) {
  const auto indices = report_images(test.size());
  const auto k = static_cast<coda::index_t>(indices.size());
  coda::tensor<float, typename Net::image_shape> images(k);
  for (coda::index_t n = 0; n < k; ++n) test.image_as(indices[static_cast<std::size_t>(n)], images.sample_data(n));
  const auto logits = coda::predict(net, images.view());
  std::vector<coda::index_t> predicted(static_cast<std::size_t>(k));
  for (coda::index_t n = 0; n < k; ++n) logits.sample_array(n).maxCoeff(&predicted[static_cast<std::size_t>(n)]);
  const auto maps = coda::contributions(net, images.view(), predicted);
  constexpr coda::index_t pixels = Net::encoded_shape::size / Net::encoded_shape::dim(0);
  std::vector<coda::report::explained_image> out;
  for (coda::index_t n = 0; n < k; ++n) {
    const auto i = static_cast<std::size_t>(n);
    std::vector<float> map(static_cast<std::size_t>(pixels));
    // Summed over the channels through the view's unaligned map: Eigen 3.4 splits the column sum of
    // a row-major 64-byte-aligned map into blocks at 32-byte offsets that it still loads as aligned.
    Eigen::Map<Eigen::RowVectorXf>(map.data(), pixels) = maps.view().sample_matrix(n).colwise().sum();
    out.push_back({static_cast<long>(indices[i]), test.labels[static_cast<std::size_t>(indices[i])], static_cast<int>(predicted[i]),
                   double(logits(n, predicted[i])),
                   std::vector<float>(images.sample_data(n), images.sample_data(n) + Net::image_shape::size), std::move(map)});
  }
  return out;
}

}  // namespace cifar

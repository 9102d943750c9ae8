// The training report of coda-cifar10 train --report: one self-contained HTML page, rewritten after
// every epoch, with the learning curves, the time per epoch and the time left, and the
// explanations of a fixed set of test images by the latest model. Plain data in, text out (as
// report.hpp), so that it is tested apart from the program.
#pragma once

#include <string>
#include <vector>

namespace coda::report {

struct epoch_row {
  long epoch;  ///< 1-based
  double loss, train_accuracy, test_accuracy, lr, seconds;
};

/// One test image explained by the latest model: its contributions to the predicted class.
struct explained_image {
  long index;
  int label, predicted;
  double logit;              ///< of the predicted class
  std::vector<float> image;  ///< 3x32x32 in [0, 1]
  std::vector<float> map;    ///< 32x32, contributions summed over the input channels
};

struct training_report {
  std::string model, data, recipe;  ///< recipe: the settings, as the program prints them
  std::string estimate;             ///< how long the whole run takes, measured early in the run
  long epochs = 0;                  ///< planned
  std::vector<epoch_row> history;   ///< the epochs done, in order
  std::vector<explained_image> explanations;
};

/// The report as one HTML document (inline SVG and PNG data URIs, no external files).
std::string render_training_html(const training_report& report);

}  // namespace coda::report

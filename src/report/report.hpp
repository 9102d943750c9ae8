// The self-contained HTML report of coda-cifar10 metrics: SVG box plots of the localisation
// scores per method, the pixel-removal curves, and a gallery of attribution maps per method.
// Its own module (src/report/, the static library coda_report) so that it is built and tested
// apart from the CLI: it takes plain data and returns the document's text.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace coda::report {

struct method_localisation {
  std::string method;
  std::vector<double> scores;  ///< one per grid cell
};

struct method_removal {
  std::string method;
  std::vector<double> least_first;  ///< mean sigmoid(true logit), coda::removal_points values
  std::vector<double> most_first;
};

/// One picture of the gallery: an image and one method's map for its label.
struct gallery_entry {
  std::string method;
  long image_index;
  int label;
  std::vector<float> image;  ///< 3x32x32 in [0, 1]
  std::vector<float> map;    ///< 32x32, summed over channels
};

struct metrics_report {
  std::string model, data;
  long grid = 3, samples = 0, images = 0;
  double min_confidence = 0.5;
  std::uint64_t seed = 0;
  std::vector<method_localisation> localisation;
  std::vector<method_removal> removal;
  std::vector<gallery_entry> gallery;
};

/// The whole report as one HTML document (inline SVG and PNG data URIs, no external files).
std::string render_html(const metrics_report& report);

}  // namespace coda::report

// The training report (training_report.hpp), written with coda_report's HTML blocks (html.hpp).
#include "report/training_report.hpp"

#include <algorithm>
#include <cmath>

#include "report/html.hpp"

namespace coda::report {

namespace {

using namespace html;

constexpr const char *train_colour = "#1f77b4", *test_colour = "#d62728";

/// "3 h 05 min", "4 min 10 s", "12 s".
std::string duration(double seconds) {
  const long s = std::lround(std::max(0.0, seconds));
  if (s >= 3600) return std::to_string(s / 3600) + " h " + format("%02.0f", double(s % 3600 / 60)) + " min";
  if (s >= 60) return std::to_string(s / 60) + " min " + format("%02.0f", double(s % 60)) + " s";
  return std::to_string(s) + " s";
}

double mean_seconds(const std::vector<epoch_row>& history) {
  double sum = 0;
  for (const auto& e : history) sum += e.seconds;
  return history.empty() ? 0 : sum / double(history.size());
}

/// The top of the y axis: the largest value rounded up to a multiple of its leading power of ten.
double axis_top(double largest) {
  if (!(largest > 0) || !std::isfinite(largest)) return 1;
  const double step = std::pow(10.0, std::floor(std::log10(largest)));
  return std::ceil(largest / step) * step;
}

std::string header_section(const training_report& r) {
  const long done = r.history.empty() ? 0 : r.history.back().epoch;
  const double per_epoch = mean_seconds(r.history);
  std::vector<std::pair<std::string, std::string>> rows{
      {"model", escape(r.model)}, {"data", escape(r.data)}, {"recipe", escape(r.recipe)},
      {"progress", "epoch " + std::to_string(done) + " of " + std::to_string(r.epochs)}};
  if (!r.history.empty()) {
    rows.push_back({"time per epoch", duration(per_epoch) + " (mean; last " + duration(r.history.back().seconds) + ")"});
    rows.push_back({"time left", "about " + duration(per_epoch * double(std::max(0L, r.epochs - done))) + " of training"});
  }
  if (!r.estimate.empty()) rows.push_back({"estimate at the start", escape(r.estimate)});
  std::string dl;
  for (const auto& [name, value] : rows) dl += element("dt", name) + element("dd", value) + "\n";
  return element("header", "\n" + element("h1", "CoDA-Net training") + "\n" + element("dl", "\n" + dl, "class=\"settings\"")) + "\n";
}

/// The x axis of a learning curve: epochs 1..last with at most about ten labelled ticks.
std::string epoch_axis(const frame& f) {
  const long last = std::lround(f.x_max), every = std::max(1L, (last + 9) / 10);
  std::string out;
  for (long e = every; e <= last; e += every)
    out += line(f.x(double(e)), f.y_end(), f.x(double(e)), f.y_end() + 5, stroke("#333", 1)) +
           text(f.x(double(e)), f.y_end() + 18, std::to_string(e));
  return out + text((f.left + f.x_end()) / 2, f.height - 6, "epoch");
}

/// One series: a line through the epochs' values and a dot on each (one epoch is one dot).
template <class Value>
std::string series(const frame& f, const std::vector<epoch_row>& history, Value value, const std::string& colour) {
  std::string points, dots;
  for (const auto& e : history) {
    const double x = f.x(double(e.epoch)), y = f.y(value(e));
    points += coord(x) + "," + coord(y) + " ";
    dots += circle(x, y, 3, "fill=\"" + colour + "\"");
  }
  return "<polyline fill=\"none\" " + stroke(colour, 2) + " points=\"" + points + "\"/>" + dots;
}

std::string loss_plot(const training_report& r) {
  double largest = 0;
  for (const auto& e : r.history) largest = std::max(largest, e.loss);
  const frame f{560, 300, 70, 30, 15, 45, double(std::max(1L, r.history.back().epoch)), axis_top(largest)};
  return svg(f, y_axis(f, "training loss") + epoch_axis(f) + series(f, r.history, [](const epoch_row& e) { return e.loss; }, train_colour),
             "Training loss per epoch");
}

std::string accuracy_plot(const training_report& r) {
  const frame f{700, 300, 70, 170, 15, 45, double(std::max(1L, r.history.back().epoch))};
  return svg(f,
             y_axis(f, "accuracy") + epoch_axis(f) +
                 series(f, r.history, [](const epoch_row& e) { return e.train_accuracy; }, train_colour) +
                 series(f, r.history, [](const epoch_row& e) { return e.test_accuracy; }, test_colour) +
                 legend_entry(f, 0, train_colour, "", "training") + legend_entry(f, 1, test_colour, "", "test"),
             "Training and test accuracy per epoch");
}

std::string curves_section(const training_report& r) {
  if (r.history.empty()) return section("curves", "Learning curves", note("No epoch has finished yet."));
  std::vector<cells> rows;
  for (const auto& e : r.history)
    rows.push_back({std::to_string(e.epoch), format("%.4f", e.loss), format("%.2f%%", 100 * e.train_accuracy),
                    format("%.2f%%", 100 * e.test_accuracy), format("%.3g", e.lr), duration(e.seconds)});
  return section("curves", "Learning curves",
                 loss_plot(r) + accuracy_plot(r) +
                     note("Training loss and accuracy are running means over each epoch's mini-batches (with augmentation); "
                          "test accuracy is measured after the epoch.") +
                     table({"epoch", "loss", "train accuracy", "test accuracy", "learning rate", "time"}, rows));
}

bool well_formed(const explained_image& e) { return e.image.size() == 3 * image_pixels && e.map.size() == image_pixels; }

std::string explanations_section(const training_report& r) {
  if (r.explanations.empty()) return "";
  cells inputs, maps;
  for (const auto& e : r.explanations) {
    if (!well_formed(e)) continue;
    const std::string image = "test image " + std::to_string(e.index);
    inputs.push_back(figure(image_picture(e.image), class_name(e.label), image));
    maps.push_back(figure(map_picture(e.map), "predicted " + class_name(e.predicted),
                          "logit " + format("%.3g", e.logit) + ", range ±" + format("%.3g", map_range(e.map))));
  }
  return section("explanations", "Explanations by the latest model",
                 note("Top: test images and their true class. Bottom: the contributions of the input pixels to the predicted "
                      "class's logit, summed over the input channels, on a symmetric colour range per map: " +
                      element("span", "", "class=\"colourbar\"") + " negative &ndash; 0 &ndash; positive.") +
                     element("div", table(inputs, {maps}, "class=\"gallery\""), "class=\"scroll\""));
}

}  // namespace

std::string render_training_html(const training_report& report) {
  return page("CoDA-Net training", header_section(report) + curves_section(report) + explanations_section(report));
}

}  // namespace coda::report

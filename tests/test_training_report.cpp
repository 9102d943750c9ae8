// The training report of coda-cifar10 train --report (src/report/training_report.hpp) on small
// hand-made data: one HTML5 document, the learning curves as two SVG plots with one dot per epoch
// and series, the time left from the mean epoch time, one PNG per picture, names escaped. The
// program writing it after every epoch is tested in tests/download/test_main_job.sh.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "report/training_report.hpp"
#include "support/text.hpp"

namespace test_training_report {

using namespace coda::report;
using coda::test::occurrences;

namespace {

explained_image explained(long index, int label, int predicted) {
  std::vector<float> map(32 * 32);
  for (std::size_t i = 0; i < map.size(); ++i) map[i] = float(i) / float(map.size() - 1) * 2 - 1;
  return {index, label, predicted, 2.5, std::vector<float>(3 * 32 * 32, 0.25f), map};
}

/// Three of ten epochs done, 60 s each; two explained images.
training_report three_epochs() {
  training_report r;
  r.model = "out/<model> & co.safetensors";
  r.data = "data/cifar10";
  r.recipe = "batch 8, virtual batch 16";
  r.estimate = "10 epochs take about 10 min";
  r.epochs = 10;
  r.history = {{1, 0.9, 0.3, 0.35, 2.5e-4, 60}, {2, 0.7, 0.45, 0.5, 2.5e-4, 60}, {3, 0.6, 0.55, 0.52, 2.5e-4, 60}};
  r.explanations = {explained(0, 3, 3), explained(1000, 8, 1)};
  return r;
}

}  // namespace

TEST_CASE("training report: one HTML5 document with the run's settings", "[report][training]") {
  const std::string html = render_training_html(three_epochs());
  CHECK(html.rfind("<!DOCTYPE html>\n<html lang=\"en\">", 0) == 0);
  CHECK(html.find("</body>\n</html>\n") == html.size() - 16);
  CHECK(html.find("out/&lt;model&gt; &amp; co.safetensors") != std::string::npos);
  CHECK(html.find("<model>") == std::string::npos);
  CHECK(html.find("epoch 3 of 10") != std::string::npos);
  CHECK(html.find("10 epochs take about 10 min") != std::string::npos);
}

TEST_CASE("training report: the time left is the epochs left at the mean epoch time", "[report][training]") {
  const std::string html = render_training_html(three_epochs());
  CHECK(html.find("about 7 min 00 s of training") != std::string::npos);  // 7 epochs x 60 s
  training_report r = three_epochs();
  r.epochs = 200;
  CHECK(render_training_html(r).find("about 3 h 17 min of training") != std::string::npos);  // 197 x 60 s
}

TEST_CASE("training report: two plots with a dot per epoch and series, and the epochs' table", "[report][training]") {
  const std::string html = render_training_html(three_epochs());
  CHECK(occurrences(html, "<svg") == 2);
  CHECK(occurrences(html, "<polyline") == 3);  // loss; training and test accuracy
  CHECK(occurrences(html, "<circle") == 3 * 3);
  CHECK(html.find("<td>2</td><td>0.7000</td><td>45.00%</td><td>50.00%</td>") != std::string::npos);
}

TEST_CASE("training report: an image and a map per explained image", "[report][training]") {
  training_report r = three_epochs();
  CHECK(occurrences(render_training_html(r), "data:image/png;base64,") == 4);
  CHECK(render_training_html(r).find("predicted automobile") != std::string::npos);
  r.explanations[1].map.resize(5);  // malformed: left out, not drawn from garbage
  CHECK(occurrences(render_training_html(r), "data:image/png;base64,") == 2);
}

TEST_CASE("training report: before the first epoch it says so", "[report][training]") {
  training_report r = three_epochs();
  r.history.clear();
  r.explanations.clear();
  const std::string html = render_training_html(r);
  CHECK(html.find("No epoch has finished yet.") != std::string::npos);
  CHECK(occurrences(html, "<svg") == 0);
  CHECK(html.find("epoch 0 of 10") != std::string::npos);
}

}  // namespace test_training_report

// coda-cifar10 metrics, end to end, on a tiny image-folder data set generated at test time: the
// printed lines, the CSV files and the HTML report for one method and for all nine, sections
// left out when their metric is not computed, and bad flags, a missing model and a data set
// too small for a grid failing with one error line.
//
// The data set: make_grids needs grid^2 classes with correctly classified test images, and an
// untrained model classifies almost nothing correctly. Rather than training (slow, and an epoch
// on a few images still gives no guarantee), the test labels its images with the model's own
// predictions: it generates varied candidate images, runs `coda-cifar10 predict` on them and
// files each under test/<predicted class>/. Every image is then classified correctly by
// construction, and --min-confidence 0 keeps them all; the test requires that the candidates
// cover at least 5 classes (the authors draw a 2x2 grid while more than 4 classes have
// images). Everything is deterministic: init is seeded (seed 5
// gives 5 classes; an untrained network reaches only a few classes whatever the images).
//
// Cost: one forward pass of cifar10-9l takes milliseconds, and occlusion runs one per window:
// on the 64x64 image of a 2x2 grid that is about 900 (occlusion5) and 800 (occlusion9) passes
// of a 4x larger image (RISE one per mask), minutes of CPU for the localisation of all nine
// methods. The test of all nine methods at once therefore runs the pixel-removal metric only,
// on one image, with 4 RISE masks and 2 integrated-gradients steps (the test checks that every
// method gives a curve, not the maps' values: tests/cli/test_cli_attribute.cpp compares the maps
// with references); the complete run is the real-data run of docs/attribution.md. Even so each
// method costs 2 x 129 forward passes of the removal curves, and occlusion 256 per map.
#include <stb/stb_image_write.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "coda/data/cifar.hpp"
#include "coda/io/safetensors.hpp"
#include "support/cli_runner.hpp"
#include "support/fixtures.hpp"
#include "support/text.hpp"

namespace test_cli_metrics {

using namespace coda;
using test::lines_of;
namespace fs = std::filesystem;

namespace {

constexpr int candidates = 40;
constexpr int side = 32, plane = side * side;

/// CHW bytes of candidate `id`: two colours mixed along a direction and a stripe frequency that
/// vary with id, so that even an untrained network predicts several classes.
std::vector<std::uint8_t> candidate(int id) {
  std::vector<std::uint8_t> px(static_cast<std::size_t>(3 * plane));
  const auto hash = [](unsigned v) { return (v * 2654435761u) >> 13; };
  for (int c = 0; c < 3; ++c) {
    const int a = int(hash(unsigned(id * 3 + c)) % 256), b = int(hash(unsigned(id * 3 + c + 101)) % 256);
    for (int y = 0; y < side; ++y)
      for (int x = 0; x < side; ++x) {
        const int t = ((x * (id % 5) + y * (id % 7 + 1)) * (id % 3 + 1)) % 64;  // 0..63 stripes
        px[static_cast<std::size_t>(c * plane + y * side + x)] = static_cast<std::uint8_t>(a + (b - a) * t / 63);
      }
  }
  return px;
}

void write_png(const std::string& path, const std::vector<std::uint8_t>& chw) {
  std::vector<std::uint8_t> rgb(chw.size());
  for (int i = 0; i < plane; ++i)
    for (int c = 0; c < 3; ++c) rgb[static_cast<std::size_t>(i * 3 + c)] = chw[static_cast<std::size_t>(c * plane + i)];
  REQUIRE(stbi_write_png(path.c_str(), side, side, 3, rgb.data(), side * 3) != 0);
}

/// A model and a test split it classifies correctly (see the top of the file); built once.
struct tiny_setup {
  test::scratch_dir dir;
  std::string model = dir / "model.safetensors", data = dir / "data";
  std::set<int> classes;

  tiny_setup() {
    REQUIRE(test::run_cli(dir, "init --seed 5 --out " + model).exit_code == 0);
    std::vector<std::vector<std::uint8_t>> images;
    std::vector<float> pixels;
    for (int id = 0; id < candidates; ++id) {
      images.push_back(candidate(id));
      for (const std::uint8_t b : images.back()) pixels.push_back(static_cast<float>(b) / 255.f);  // as image_dataset::image_as
    }
    safetensors_writer w;
    w.add_values("images", {candidates, 3, side, side}, pixels.data());
    w.write(dir / "candidates.safetensors");
    const auto r = test::run_cli(dir, "predict --model " + model + " --input " + dir / "candidates.safetensors" + " --output " +
                                          dir / "logits.safetensors");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    const auto logits = test::fixture_values<float>(safetensors_file::read(dir / "logits.safetensors"), "logits");
    REQUIRE(logits.size() == static_cast<std::size_t>(candidates * 10));
    for (const char* cls : cifar10_classes) fs::create_directories(data + "/test/" + cls);
    for (int id = 0; id < candidates; ++id) {
      const auto row = logits.begin() + id * 10;
      const int label = static_cast<int>(std::max_element(row, row + 10) - row);
      classes.insert(label);
      write_png(data + "/test/" + cifar10_classes[static_cast<std::size_t>(label)] + "/" + std::to_string(id) + ".png",
                images[static_cast<std::size_t>(id)]);
    }
    INFO("classes predicted: " << classes.size());
    REQUIRE(classes.size() >= 5);
  }

  std::string metrics(const std::string& out, const std::string& flags) const {
    return "metrics --data " + data + " --model " + model + " --out " + dir / out + " --min-confidence 0 --seed 3 " + flags;
  }
};

const tiny_setup& setup() {
  static const tiny_setup s;
  return s;
}

/// The two numbers of the stdout lines "<metric> <method>: <a> X <b> Y", each in [0, 1], by method.
std::vector<std::pair<std::string, std::string>> metric_lines(const std::string& out, const std::string& metric, const std::string& a,
                                                              const std::string& b) {
  const std::regex pattern(metric + " ([a-z0-9]+): " + a + " (\\S+) " + b + " (\\S+)");
  std::vector<std::pair<std::string, std::string>> found;
  for (const auto& l : lines_of(out)) {
    std::smatch m;
    if (!std::regex_match(l, m, pattern)) continue;
    found.push_back({m[1], l});
    for (const double v : {std::stod(m[2]), std::stod(m[3])}) {
      INFO(l);
      CHECK(v >= 0);
      CHECK(v <= 1);
    }
  }
  return found;
}

/// The rows of a CSV file after checking its header.
std::vector<std::string> csv_rows(const std::string& path, const std::string& header) {
  auto lines = lines_of(test::read_text(path));
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.front() == header);
  lines.erase(lines.begin());
  return lines;
}

double last_field(const std::string& row) { return std::stod(row.substr(row.rfind(',') + 1)); }

/// Exit code `code` and exactly one stderr line starting with "error: " (progress lines may come
/// before it), the last one, which contains `what`.
void check_one_error(const test::cli_result& r, int code, const std::string& what) {
  INFO("stdout: " << r.out);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == code);
  const auto lines = r.error_lines();
  CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.rfind("error:", 0) == 0; }) == 1);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.back().rfind("error: ", 0) == 0);
  CHECK_THAT(lines.back(), Catch::Contains(what));
}

}  // namespace

TEST_CASE("metrics for one method writes the lines, the CSV files and the report", "[cli][metrics][slow]") {
  const tiny_setup& s = setup();
  const auto r = test::run_cli(s.dir, s.metrics("one", "--grid 2 --localisation --pixel-removal --samples 2 --images 1 --gallery 2 --method coda"));
  INFO("stdout: " << r.out);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(metric_lines(r.out, "localisation", "mean", "median").size() == 1);
  CHECK(metric_lines(r.out, "pixel-removal", "start", "end").size() == 1);

  const auto loc = csv_rows(s.dir / "one/localisation.csv", "method,grid,cell,class,image,score");
  CHECK(loc.size() == 2 * 4);
  for (const auto& row : loc) {
    INFO(row);
    CHECK(row.rfind("coda,", 0) == 0);
    CHECK(last_field(row) >= 0);
    CHECK(last_field(row) <= 1);
  }
  const auto rem = csv_rows(s.dir / "one/pixel_removal.csv", "method,order,step,pixels_removed,fraction_removed,mean_probability");
  CHECK(rem.size() == 2 * 129);
  CHECK(std::count_if(rem.begin(), rem.end(), [](const std::string& row) { return row.rfind("coda,least_first,", 0) == 0; }) == 129);
  CHECK(rem.back() == "coda,most_first,128,256,0.25," + rem.back().substr(rem.back().rfind(',') + 1));

  const std::string html = test::read_text(s.dir / "one/report.html");
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK_THAT(html, Catch::Contains("<svg") && Catch::Contains("data:image/png;base64,") && Catch::Contains("<h2>Pixel removal</h2>") &&
                       Catch::Contains("<h2>Localisation") && Catch::Contains("</html>"));
}

namespace {

/// Runs the pixel-removal metric of all nine methods at once: one line per method.
void check_all_methods(const tiny_setup& s) {
  const auto r = test::run_cli(s.dir, s.metrics("all", "--grid 2 --images 1 --gallery 1 --pixel-removal --rise-masks 4 --intgrad-steps 2"));
  INFO("stdout: " << r.out);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  const auto loc = metric_lines(r.out, "localisation", "mean", "median");
  const auto rem = metric_lines(r.out, "pixel-removal", "start", "end");
  CHECK(loc.empty());
  CHECK(rem.size() == 9);
  const std::string html = test::read_text(s.dir / "all/report.html");
  for (const char* method : {"coda", "grad", "ixg", "intgrad", "deeplift", "gradcam", "occlusion5", "occlusion9", "rise"}) {
    const auto named = [&](const auto& line) { return line.first == method; };
    INFO(method);
    CHECK(std::count_if(rem.begin(), rem.end(), named) == 1);
    CHECK_THAT(html, Catch::Contains(" · " + std::string(method) + "<br>"));  // a gallery caption
  }
  CHECK(csv_rows(s.dir / "all/pixel_removal.csv", "method,order,step,pixels_removed,fraction_removed,mean_probability").size() ==
        9 * 2 * 129);
}

}  // namespace

TEST_CASE("metrics for all nine methods at once prints a pixel-removal line per method", "[cli][metrics][slow]") {
  check_all_methods(setup());
}

TEST_CASE("the report leaves out the sections of metrics not computed", "[cli][metrics]") {
  const tiny_setup& s = setup();
  const auto r = test::run_cli(s.dir, s.metrics("loc", "--grid 2 --localisation --samples 1 --gallery 0 --method gradcam,coda"));
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  const auto loc = metric_lines(r.out, "localisation", "mean", "median");
  REQUIRE(loc.size() == 2);  // a list of methods runs in the order given
  CHECK(loc[0].first == "gradcam");
  CHECK(loc[1].first == "coda");
  CHECK(metric_lines(r.out, "pixel-removal", "start", "end").empty());
  CHECK(fs::exists(s.dir / "loc/localisation.csv"));
  CHECK_FALSE(fs::exists(s.dir / "loc/pixel_removal.csv"));
  const std::string html = test::read_text(s.dir / "loc/report.html");
  CHECK_THAT(html, Catch::Contains("<svg") && !Catch::Contains("<h2>Pixel removal</h2>") && !Catch::Contains("data:image/png"));
}

TEST_CASE("bad metrics flags exit 2 and a missing model exits 1, with one error line", "[cli][metrics][errors]") {
  const tiny_setup& s = setup();
  check_one_error(test::run_cli(s.dir, s.metrics("bad", "--method foo")), 2, "--method must name methods among");
  check_one_error(test::run_cli(s.dir, s.metrics("bad", "--method coda,,grad")), 2, "got ''");
  check_one_error(test::run_cli(s.dir, s.metrics("bad", "--method grad,coda,grad")), 2, "--method names 'grad' twice");
  check_one_error(test::run_cli(s.dir, s.metrics("bad", "--grid 4")), 2, "--grid must be in [2, 3]");
  check_one_error(test::run_cli(s.dir, s.metrics("bad", "--samples 0")), 2, "--samples must be in");
  check_one_error(test::run_cli(s.dir, s.metrics("bad", "--rise-grid 0")), 2, "--rise-grid must be in");
  // A 3x3 grid needs confident images of more than 9 classes; the tiny set has fewer.
  REQUIRE(s.classes.size() < 10);
  check_one_error(test::run_cli(s.dir, s.metrics("bad", "--grid 3 --localisation --method coda")), 1,
                  "no localisation grid can be drawn");
  check_one_error(test::run_cli(s.dir, "metrics --data " + s.data + " --model " + s.dir / "nowhere.safetensors" + " --out " + s.dir / "bad"), 1,
                  "nowhere.safetensors");
}

}  // namespace test_cli_metrics

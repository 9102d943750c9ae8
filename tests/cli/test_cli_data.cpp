// coda-cifar10 on image-folder data sets generated at test time: train and eval with
// --format auto|folder (and binary refused), the --log CSV, explain pictures from a data set and
// from an image file, and bad images failing with one error line naming the file.
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "coda/data/cifar.hpp"
#include "support/cli_runner.hpp"

namespace test_cli_data {

using namespace coda;
namespace fs = std::filesystem;

namespace {

using bytes = std::vector<std::uint8_t>;

/// Interleaved RGB pixels of a w x h image: a pattern identified by `id` (smooth enough for JPEG).
bytes pattern(int w, int h, int id) {
  bytes px(static_cast<std::size_t>(w * h * 3));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        px[static_cast<std::size_t>((y * w + x) * 3 + c)] = static_cast<std::uint8_t>((x * 3 + y * (c + 2) + id * 23 + c * 60) & 255);
  return px;
}

void write_png(const std::string& path, int w, int h, int id) {
  fs::create_directories(fs::path(path).parent_path());
  const bytes px = pattern(w, h, id);
  REQUIRE(stbi_write_png(path.c_str(), w, h, 3, px.data(), w * 3) != 0);
}

void write_jpg(const std::string& path, int w, int h, int id) {
  fs::create_directories(fs::path(path).parent_path());
  const bytes px = pattern(w, h, id);
  REQUIRE(stbi_write_jpg(path.c_str(), w, h, 3, px.data(), 95) != 0);
}

/// DIR/train/<class>/ with `train_per_class` PNGs and DIR/test/<class>/ with `test_per_class`.
std::string make_folder(const test::scratch_dir& dir, const std::string& name, int train_per_class = 2, int test_per_class = 1) {
  const std::string root = dir / name;
  int id = 0;
  for (const char* cls : cifar10_classes) {
    for (int k = 0; k < train_per_class; ++k)
      write_png(root + "/train/" + cls + "/" + std::to_string(k) + ".png", 32, 32, id++);
    for (int k = 0; k < test_per_class; ++k)
      write_png(root + "/test/" + cls + "/" + std::to_string(k) + ".png", 32, 32, id++);
  }
  return root;
}

const std::string small_run = " --epochs 1 --batch 4 --virtual-batch 4 --limit-test 10";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream s(text);
  for (std::string l; std::getline(s, l);) lines.push_back(l);
  return lines;
}

/// Exit code `code` and exactly one stderr line starting with "error: " (progress lines may come
/// before it), the last one, which contains every string of `what`.
void check_one_error(const test::cli_result& r, int code, const std::vector<std::string>& what) {
  INFO("stdout: " << r.out);
  INFO("stderr: " << r.err);
  CHECK(r.exit_code == code);
  const auto lines = r.error_lines();
  int errors = 0;
  for (const auto& l : lines) errors += l.rfind("error:", 0) == 0;
  CHECK(errors == 1);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.back().rfind("error: ", 0) == 0);
  for (const auto& w : what) CHECK_THAT(lines.back(), Catch::Contains(w));
}

/// The number on the last line of stdout, which must read "test accuracy: NN.NN%".
double last_line_accuracy(const std::string& out) {
  const auto lines = lines_of(out);
  REQUIRE_FALSE(lines.empty());
  std::smatch m;
  INFO("last line: " << lines.back());
  REQUIRE(std::regex_match(lines.back(), m, std::regex(R"(test accuracy: (\d+\.\d\d)%)")));
  return std::stod(m[1]);
}

/// A string that is a whole number (nothing left over).
bool parse_number(const std::string& s, double& value) {
  try {
    std::size_t used = 0;
    value = std::stod(s, &used);
    return used == s.size() && std::isfinite(value);
  } catch (const std::exception&) {
    return false;
  }
}

/// The explain output: a "top classes" header followed by exactly three ranked class lines.
void check_top_classes(const std::string& out) {
  INFO("stdout: " << out);
  const auto lines = lines_of(out);
  std::size_t header = lines.size();
  for (std::size_t i = 0; i < lines.size(); ++i)
    if (lines[i].rfind("top classes", 0) == 0) header = i;
  REQUIRE(header < lines.size());
  const std::regex ranked(R"(  ([1-9])\. ([a-z]+) +logit +(-?\d+\.\d+|-?inf|nan)  p (\d\.\d+))");
  int ranks = 0;
  for (const auto& l : lines) ranks += std::regex_match(l, ranked);
  CHECK(ranks == 3);
  std::smatch m;
  for (int k = 1; k <= 3; ++k) {
    REQUIRE(header + static_cast<std::size_t>(k) < lines.size());
    const std::string& l = lines[header + static_cast<std::size_t>(k)];
    REQUIRE(std::regex_match(l, m, ranked));
    CHECK(std::stoi(m[1]) == k);
    bool known = false;
    for (const char* c : cifar10_classes) known = known || m[2] == c;
    CHECK(known);
  }
}

/// A PNG that stb decodes to 800 x 272 RGB.
void check_picture(const std::string& path) {
  INFO(path);
  REQUIRE(fs::is_regular_file(path));
  int w = 0, h = 0, c = 0;
  REQUIRE(stbi_info(path.c_str(), &w, &h, &c) == 1);
  CHECK(w == 800);
  CHECK(h == 272);
  CHECK(c == 3);
  unsigned char* px = stbi_load(path.c_str(), &w, &h, &c, 0);
  REQUIRE(px != nullptr);
  CHECK(c == 3);
  stbi_image_free(px);
}

}  // namespace

TEST_CASE("train and eval read an image folder with --format auto", "[cli][data]") {
  test::scratch_dir dir;
  const std::string data = make_folder(dir, "folder"), model = dir / "m.safetensors";
  const auto r = test::run_cli(dir, "train --data " + data + " --format auto --out " + model + small_run);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(fs::is_regular_file(model));
  CHECK_THAT(r.out, Catch::Contains("epoch 1/1"));
  const double trained = last_line_accuracy(r.out);
  CHECK(trained >= 0);
  CHECK(trained <= 100);
  const auto ev = test::run_cli(dir, "eval --data " + data + " --format auto --model " + model + " --limit-test 10");
  INFO("eval stderr: " << ev.err);
  REQUIRE(ev.exit_code == 0);
  CHECK(last_line_accuracy(ev.out) == trained);
  // No --format at all is auto.
  const auto plain = test::run_cli(dir, "eval --data " + data + " --model " + model);
  REQUIRE(plain.exit_code == 0);
  CHECK(last_line_accuracy(plain.out) == trained);
}

TEST_CASE("train and eval read an image folder with --format folder", "[cli][data]") {
  test::scratch_dir dir;
  const std::string data = make_folder(dir, "folder"), model = dir / "m.safetensors";
  // A JPEG among the PNGs, and a file that is not an image.
  write_jpg(data + "/train/cat/extra.jpg", 32, 32, 99);
  std::ofstream(data + "/train/cat/notes.txt") << "not an image\n";
  const auto r = test::run_cli(dir, "train --data " + data + " --format folder --out " + model + small_run);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  const double trained = last_line_accuracy(r.out);
  const auto ev = test::run_cli(dir, "eval --data " + data + " --format folder --model " + model + " --limit-test 10");
  INFO("eval stderr: " << ev.err);
  REQUIRE(ev.exit_code == 0);
  CHECK(last_line_accuracy(ev.out) == trained);
}

TEST_CASE("format binary on an image folder fails naming the directory", "[cli][data][errors]") {
  test::scratch_dir dir;
  const std::string data = make_folder(dir, "folder"), model = dir / "m.safetensors";
  check_one_error(test::run_cli(dir, "train --data " + data + " --format binary --out " + model + small_run), 1, {data});
  CHECK_FALSE(fs::exists(model));
  REQUIRE(test::run_cli(dir, "init --out " + model).exit_code == 0);
  check_one_error(test::run_cli(dir, "eval --data " + data + " --format binary --model " + model), 1, {data});
  // And a directory that is neither layout, with auto.
  fs::create_directories(dir / "empty");
  check_one_error(test::run_cli(dir, "eval --data " + dir / "empty" + " --model " + model), 1, {dir / "empty"});
}

TEST_CASE("train with a log file writes one CSV row per epoch", "[cli][data]") {
  test::scratch_dir dir;
  const std::string data = make_folder(dir, "folder"), log = dir / "log.csv";
  const auto r = test::run_cli(dir, "train --data " + data + " --out " + dir / "m.safetensors" +
                                        " --epochs 2 --batch 4 --virtual-batch 4 --limit-test 10 --log " + log);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  const std::string text = test::read_text(log);
  INFO("log:\n" << text);
  const auto lines = lines_of(text);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "epoch,loss,train_accuracy,test_accuracy,lr,seconds");
  for (std::size_t row = 1; row <= 2; ++row) {
    std::vector<std::string> fields;
    std::istringstream s(lines[row]);
    for (std::string f; std::getline(s, f, ',');) fields.push_back(f);
    REQUIRE(fields.size() == 6);
    std::vector<double> v(6);
    for (std::size_t k = 0; k < 6; ++k) {
      INFO("field " << k << ": '" << fields[k] << "'");
      CHECK(parse_number(fields[k], v[k]));
    }
    CHECK(v[0] == double(row));           // epoch, counted from 1
    CHECK(v[1] >= 0);                     // loss
    CHECK(v[2] >= 0);                     // train accuracy
    CHECK(v[2] <= 1);
    CHECK(v[3] >= 0);                     // test accuracy
    CHECK(v[3] <= 1);
    CHECK(v[4] == Approx(0.00025).epsilon(1e-9));  // the default lr, not yet decayed
    CHECK(v[5] >= 0);                     // seconds
  }
  // The last row's test accuracy is the one printed last.
  std::vector<std::string> last;
  std::istringstream s(lines[2]);
  for (std::string f; std::getline(s, f, ',');) last.push_back(f);
  CHECK(std::stod(last[3]) * 100 == Approx(last_line_accuracy(r.out)).margin(0.006));
}

TEST_CASE("explain draws a data set image and prints the top classes", "[cli][data]") {
  test::scratch_dir dir;
  const std::string data = make_folder(dir, "folder", 0, 1), model = dir / "m.safetensors", out = dir / "x.png";
  // make_folder with no training images leaves no train/ directories: explain reads only test/.
  REQUIRE(test::run_cli(dir, "init --seed 2 --out " + model).exit_code == 0);
  const auto r = test::run_cli(dir, "explain --model " + model + " --data " + data + " --index 7 --out " + out);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  check_top_classes(r.out);
  check_picture(out);
  CHECK_THAT(r.out, Catch::Contains("800x272"));
  // --class by index.
  const auto cls = test::run_cli(dir, "explain --model " + model + " --data " + data + " --index 0 --class 9 --out " + dir / "y.png");
  REQUIRE(cls.exit_code == 0);
  CHECK_THAT(cls.out, Catch::Contains("explained class: truck"));
  check_picture(dir / "y.png");
}

TEST_CASE("explain draws an image file of any size for a chosen class", "[cli][data]") {
  test::scratch_dir dir;
  const std::string model = dir / "m.safetensors", image = dir / "photo.jpg", out = dir / "y.png";
  REQUIRE(test::run_cli(dir, "init --out " + model).exit_code == 0);
  write_jpg(image, 50, 40, 3);
  const auto r = test::run_cli(dir, "explain --model " + model + " --image " + image + " --out " + out + " --class cat");
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  check_top_classes(r.out);
  CHECK_THAT(r.out, Catch::Contains("explained class: cat"));
  check_picture(out);
  // A PNG of 32x32 needs no resizing.
  write_png(dir / "small.png", 32, 32, 4);
  const auto p = test::run_cli(dir, "explain --model " + model + " --image " + dir / "small.png" + " --out " + dir / "z.png");
  REQUIRE(p.exit_code == 0);
  check_top_classes(p.out);
  check_picture(dir / "z.png");
}

TEST_CASE("explain with an --index outside the test split is a usage error", "[cli][data][errors]") {
  test::scratch_dir dir;
  const std::string data = make_folder(dir, "folder", 0, 1), model = dir / "m.safetensors", out = dir / "x.png";
  REQUIRE(test::run_cli(dir, "init --out " + model).exit_code == 0);
  check_one_error(test::run_cli(dir, "explain --model " + model + " --data " + data + " --index 10 --out " + out), 2,
                  {"--index 10", "10 test images"});
  CHECK_FALSE(fs::exists(out));
  check_one_error(test::run_cli(dir, "explain --model " + model + " --data " + data + " --out " + out), 2, {"--index"});
}

TEST_CASE("explain with a corrupt --image fails naming the file", "[cli][data][errors]") {
  test::scratch_dir dir;
  const std::string model = dir / "m.safetensors", image = dir / "broken.jpg", out = dir / "x.png";
  REQUIRE(test::run_cli(dir, "init --out " + model).exit_code == 0);
  {
    std::ofstream f(image, std::ios::binary);
    std::uint32_t s = 7;
    for (int k = 0; k < 400; ++k) f.put(static_cast<char>((s = s * 1664525u + 1013904223u) >> 24));
  }
  check_one_error(test::run_cli(dir, "explain --model " + model + " --image " + image + " --out " + out), 1, {image});
  CHECK_FALSE(fs::exists(out));
  check_one_error(test::run_cli(dir, "explain --model " + model + " --image " + dir / "missing.png" + " --out " + out), 1,
                  {dir / "missing.png"});
}

TEST_CASE("an image that is not 32x32 in a folder data set fails naming the file", "[cli][data][errors]") {
  test::scratch_dir dir;
  const std::string data = make_folder(dir, "folder"), model = dir / "m.safetensors";
  SECTION("in the training split") {
    const std::string bad = data + "/train/dog/wide.png";
    write_png(bad, 33, 32, 0);
    check_one_error(test::run_cli(dir, "train --data " + data + " --out " + model + small_run), 1, {bad, "33x32"});
  }
  SECTION("in the test split") {
    const std::string bad = data + "/test/airplane/0.png";
    write_png(bad, 33, 32, 0);
    check_one_error(test::run_cli(dir, "train --data " + data + " --format folder --out " + model + small_run), 1,
                    {bad, "33x32"});
  }
  CHECK_FALSE(fs::exists(model));
}

}  // namespace test_cli_data

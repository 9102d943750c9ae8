// coda-cifar10 attribute against the captum-convention references of the independent PyTorch
// model (tests/fixtures/make_attribution_fixtures.py): the seeded cifar10-9l network, two images,
// every method for the predicted classes and for a fixed class; one image from --data or --image
// and its picture; and its errors.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "coda/attribution/methods.hpp"
#include "coda/data/cifar.hpp"
#include "support/cli_runner.hpp"
#include "support/fixtures.hpp"
#include "support/picture.hpp"
#include "support/tolerance.hpp"

namespace test_cli_attribute {

using namespace coda;

namespace {

/// Float32 maps against float32 references computed in float64: the methods accumulate up to a
/// few thousand float32 logit differences (occlusion, RISE) or gradient terms, whose rounding
/// stays orders below 1e-3 of the map's largest value; a wrong convention (channel, sign,
/// window, quadrature, layer) is an error of order one.
inline constexpr double map_tolerance = 1e-3;

struct attribution_fixture {
  safetensors_file file = safetensors_file::read(test::fixture_path("attribution_cifar10_9l_seed7.safetensors"));
  std::vector<float> images = test::fixture_values<float>(file, "images");
  index_t count = static_cast<index_t>(images.size() / 3072);
};

/// Writes the fixture's images and the seed-7 model (the fixture's weights: the library's seeded
/// initialisation, which the fixture script reproduces) into `dir`.
void prepare_inputs(const test::scratch_dir& dir, const attribution_fixture& f) {
  safetensors_writer w;
  w.add_values("images", {f.count, 3, 32, 32}, f.images.data());
  w.write(dir / "images.safetensors");
  const auto r = test::run_cli(dir, "init --out " + dir / "model.safetensors" + " --seed 7");
  REQUIRE(r.exit_code == 0);
}

/// Every method's maps in `out` against the fixture's tensors `<method>.<which>`, image by image.
void check_maps(const attribution_fixture& f, const std::string& out, const std::string& which) {
  const auto got = safetensors_file::read(out);
  const auto targets = test::fixture_values<std::int64_t>(got, "targets");
  CHECK(targets == test::fixture_values<std::int64_t>(f.file, "targets." + which));
  for (const auto method : all_attribution_methods) {
    const std::string name = method_name(method);
    if (method == attribution_method::coda && which != "predicted") continue;  // the fixture has coda for one choice
    const auto expect = test::fixture_values<float>(f.file, name + "." + which);
    const auto actual = test::fixture_values<float>(got, name);
    REQUIRE(actual.size() == expect.size());
    const std::size_t per_image = expect.size() / std::size_t(f.count);
    for (std::size_t n = 0; n < std::size_t(f.count); ++n) {
      INFO(name << "." << which << ", image " << n);
      CHECK(test::relative_error(actual.data() + n * per_image, expect.data() + n * per_image, per_image) < map_tolerance);
    }
  }
}

}  // namespace

TEST_CASE("attribute matches the captum-convention references for the predicted and a fixed class",
          "[cli][attribute][golden][slow]") {
  const attribution_fixture f;
  test::scratch_dir dir;
  prepare_inputs(dir, f);
  const std::string common = "attribute --model " + dir / "model.safetensors" + " --input " + dir / "images.safetensors" +
                             " --rise-masks 500 --threads 2";
  for (const std::string which : {"predicted", "fixed"}) {
    const auto r = test::run_cli(dir, common + (which == "fixed" ? " --class 3" : "") + " --output " + dir / which);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    check_maps(f, dir / which, which);
  }
  // RISE weighs every mask by sigmoid(logit) ~ 0.1 for every class of this network, so a map of the
  // wrong class would pass the check above: the class-specific part, the difference of the two
  // maps, is 1e-4 of them. It must match too, within what float rounding leaves of it.
  const auto rise_of = [&](const safetensors_file& file, const std::string& name) { return test::fixture_values<float>(file, name); };
  const auto predicted = rise_of(safetensors_file::read(dir / "predicted"), "rise");
  const auto fixed = rise_of(safetensors_file::read(dir / "fixed"), "rise");
  const auto ref_predicted = rise_of(f.file, "rise.predicted"), ref_fixed = rise_of(f.file, "rise.fixed");
  std::vector<double> got(predicted.size()), expect(predicted.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    got[i] = double(predicted[i]) - double(fixed[i]);
    expect[i] = double(ref_predicted[i]) - double(ref_fixed[i]);
  }
  CHECK(test::relative_error(got.data(), expect.data(), got.size()) < 2e-2);
}

TEST_CASE("attribute writes the requested methods in their natural shapes", "[cli][attribute]") {
  const attribution_fixture f;
  test::scratch_dir dir;
  prepare_inputs(dir, f);
  const auto r = test::run_cli(dir, "attribute --model " + dir / "model.safetensors" + " --input " + dir / "images.safetensors" +
                                        " --output " + dir / "out.safetensors" + " --method gradcam,coda,ixg");
  REQUIRE(r.exit_code == 0);
  const auto out = safetensors_file::read(dir / "out.safetensors");
  CHECK(out.find("grad") == nullptr);
  CHECK(out.find("gradcam")->shape == std::vector<std::int64_t>{f.count, 1, 32, 32});
  CHECK(out.find("coda")->shape == std::vector<std::int64_t>{f.count, 6, 32, 32});
  CHECK(out.find("ixg")->shape == std::vector<std::int64_t>{f.count, 3, 32, 32});
  CHECK(out.find("targets")->type == dtype::i64);
}

TEST_CASE("attribute takes one image from --data with --index or --image and draws a row of panels per method",
          "[cli][attribute][picture]") {
  const attribution_fixture f;
  test::scratch_dir dir;
  prepare_inputs(dir, f);
  const std::string data = test::fixture_path("cifar48"), model = " --model " + dir / "model.safetensors";
  const std::string methods = " --method coda,ixg,gradcam";
  // Test image 5 of the data as a tensor file: --data --index must give the same maps.
  const auto test_split = read_cifar_binary(data, dataset_split::test);
  std::vector<float> image(3072);
  test_split.image_as(5, image.data());
  safetensors_writer w;
  w.add_values("images", {1, 3, 32, 32}, image.data());
  w.write(dir / "one.safetensors");
  const auto by_index = test::run_cli(dir, "attribute" + model + methods + " --data " + data + " --index 5 --output " +
                                               dir / "a.safetensors" + " --picture " + dir / "a.png");
  INFO(by_index.err);
  REQUIRE(by_index.exit_code == 0);
  CHECK(by_index.out.find("picture of image 0: " + dir / "a.png" + " (800x816, a row per method: coda, ixg, gradcam)") !=
        std::string::npos);
  const auto by_tensor = test::run_cli(dir, "attribute" + model + methods + " --input " + dir / "one.safetensors" +
                                                " --output " + dir / "b.safetensors");
  REQUIRE(by_tensor.exit_code == 0);
  const auto a = safetensors_file::read(dir / "a.safetensors"), b = safetensors_file::read(dir / "b.safetensors");
  for (const std::string name : {"targets", "coda", "ixg", "gradcam"}) {
    INFO(name);
    CHECK(a.find(name)->shape == b.find(name)->shape);
  }
  CHECK(test::fixture_values<float>(a, "coda") == test::fixture_values<float>(b, "coda"));
  CHECK(test::fixture_values<float>(a, "gradcam") == test::fixture_values<float>(b, "gradcam"));
  // The picture's first row is explain's picture of the same image and class: the coda map summed
  // over its channels, drawn alike (a colour may differ by one level: explain sums in double).
  const auto target = test::fixture_values<std::int64_t>(a, "targets")[0];
  REQUIRE(test::run_cli(dir, "explain" + model + " --data " + data + " --index 5 --class " + std::to_string(target) + " --out " +
                                 dir / "e.png")
              .exit_code == 0);
  const test::picture drawn(dir / "a.png"), explained(dir / "e.png");
  REQUIRE(drawn.width == 800);
  REQUIRE(drawn.height == 3 * 272);
  REQUIRE(explained.height == 272);
  int largest = 0;
  for (std::size_t i = 0; i < explained.rgb.size(); ++i) largest = std::max(largest, std::abs(drawn.rgb[i] - explained.rgb[i]));
  CHECK(largest <= 1);
  // The rows differ: each is its own method's map.
  CHECK(!std::equal(drawn.rgb.begin(), drawn.rgb.begin() + 800 * 272 * 3, drawn.rgb.begin() + 800 * 272 * 3));
  // --image: any picture, resized to 32x32.
  const auto by_image = test::run_cli(dir, "attribute" + model + " --method ixg --image " + test::fixture_path("jpeg/progressive.jpg") +
                                               " --picture " + dir / "i.png");
  INFO(by_image.err);
  REQUIRE(by_image.exit_code == 0);
  CHECK(test::picture(dir / "i.png").height == 272);
  CHECK_FALSE(std::filesystem::exists(dir / "i.safetensors"));
}

TEST_CASE("attribute refuses bad flags and inputs with one error line and writes nothing", "[cli][attribute][errors]") {
  const attribution_fixture f;
  test::scratch_dir dir;
  prepare_inputs(dir, f);
  const std::string base = "attribute --model " + dir / "model.safetensors" + " --output " + dir / "out.safetensors";
  const std::string input = " --input " + dir / "images.safetensors";
  test::expect_one_error(test::run_cli(dir, base + input + " --method coda,occlusion7"), 2, "--method");
  test::expect_one_error(test::run_cli(dir, base + input + " --method grad,grad"), 2, "twice");
  test::expect_one_error(test::run_cli(dir, base + input + " --class 10"), 2, "--class");
  test::expect_one_error(test::run_cli(dir, base + input + " --rise-keep 0"), 2, "--rise-keep");
  test::expect_one_error(test::run_cli(dir, base + input + " --intgrad-steps 0"), 2, "--intgrad-steps");
  test::expect_one_error(test::run_cli(dir, base + " --input " + dir / "model.safetensors"), 1, "no tensor 'images'");
  test::expect_one_error(test::run_cli(dir, base + " --input " + dir / "missing.safetensors"), 1, "missing.safetensors");
  const std::string cifar = " --data " + test::fixture_path("cifar48");
  test::expect_one_error(test::run_cli(dir, base), 2, "'attribute' needs --input X, --image FILE, or --data DIR with --index I");
  test::expect_one_error(test::run_cli(dir, base + input + cifar + " --index 0"), 2, "give one of --input, --image, or --data with --index");
  test::expect_one_error(test::run_cli(dir, base + cifar + " --index 10"), 2, "--index 10 is outside the 10 test images");
  test::expect_one_error(test::run_cli(dir, "attribute --model " + dir / "model.safetensors" + input), 2,
                         "'attribute' needs --output Y, --picture PNG, or both");
  CHECK_FALSE(std::filesystem::exists(dir / "out.safetensors"));
}

}  // namespace test_cli_attribute

// coda-cifar10 with --arch imagenet100-9l: a 4-class image folder of 64x64 and 300x200 images
// (PNG and JPEG) trains for one optimiser step, evaluates with top-1 and top-5 accuracy, and is
// explained at 240x240; the model file records its arch, and flags this path does not take are
// refused with one error line.
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "coda/io/model_file.hpp"
#include "support/cli_runner.hpp"

namespace test_cli_imagenet {

using namespace coda;
namespace fs = std::filesystem;

namespace {

/// A w x h picture of class c: a colour per class with a gradient, so the classes differ.
std::vector<std::uint8_t> picture_of(int c, int w, int h) {
  std::vector<std::uint8_t> rgb(static_cast<std::size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int ch = 0; ch < 3; ++ch)
        rgb[(static_cast<std::size_t>(y) * w + x) * 3 + ch] = static_cast<std::uint8_t>((ch == c % 3 ? 200 : 40) + (x + y) % 50);
  return rgb;
}

/// DIR/{train,test}/{ant,bee,cat,dog}/: a 64x64 PNG and a 300x200 JPEG per class, but no JPEG in
/// train/dog.
void write_folder(const test::scratch_dir& dir) {
  const std::vector<std::string> classes = {"ant", "bee", "cat", "dog"};
  for (const std::string split : {"train", "test"})
    for (int c = 0; c < 4; ++c) {
      const fs::path at = dir.path() / "data" / split / classes[static_cast<std::size_t>(c)];
      fs::create_directories(at);
      REQUIRE(stbi_write_png((at / "small.png").c_str(), 64, 64, 3, picture_of(c, 64, 64).data(), 64 * 3) != 0);
      if (split == "train" && c == 3) continue;
      REQUIRE(stbi_write_jpg((at / "photo.jpg").c_str(), 300, 200, 3, picture_of(c, 300, 200).data(), 90) != 0);
    }
}

/// The "top-1 A%, top-5 B%" of a line, as fractions.
std::pair<double, double> top_accuracies(const std::string& out, const std::string& prefix) {
  std::smatch m;
  const std::regex line(prefix + R"(top-1 ([0-9.]+)%,? +top-5 ([0-9.]+)%)");
  REQUIRE(std::regex_search(out, m, line));
  return {std::stod(m[1]) / 100, std::stod(m[2]) / 100};
}

}  // namespace

TEST_CASE("imagenet100-9l trains on an image folder of any size, evaluates top-1/top-5 and explains", "[cli][imagenet][slow]") {
  test::scratch_dir dir;
  write_folder(dir);
  const std::string data = dir / "data", model = dir / "m.safetensors";
  const auto trained = test::run_cli(dir, "train --arch imagenet100-9l --data " + data + " --out " + model +
                                              " --epochs 1 --limit-train 4 --batch 4 --virtual-batch 4 --threads 2");
  INFO("stdout: " << trained.out);
  INFO("stderr: " << trained.err);
  REQUIRE(trained.exit_code == 0);
  // One epoch of 4 images (one per class, a 64x64 and three 300x200): one optimiser step, at the
  // first warm-up rate.
  CHECK_THAT(trained.out, Catch::Contains("epoch 1/1  loss ") && Catch::Contains("lr 0.00025"));
  const auto [top1, top5] = top_accuracies(trained.out, "test accuracy: ");
  CHECK(top1 <= top5);
  const auto meta = read_model_metadata(safetensors_file::read(model));
  CHECK(meta.arch == "imagenet100-9l");
  CHECK(meta.norm == "squash");
  CHECK(meta.temperature == 1e5);

  const auto evaluated = test::run_cli(dir, "eval --model " + model + " --data " + data + " --threads 2");
  INFO("eval stdout: " << evaluated.out);
  REQUIRE(evaluated.exit_code == 0);
  CHECK(top_accuracies(evaluated.out, "test accuracy: ") == std::make_pair(top1, top5));  // the same test split, the same model

  const std::string picture = dir / "wide.png";
  const auto explained = test::run_cli(dir, "explain --model " + model + " --image " + data + "/test/bee/photo.jpg --out " +
                                                picture + " --all-layers --threads 2");
  INFO("explain stdout: " << explained.out);
  REQUIRE(explained.exit_code == 0);
  CHECK_THAT(explained.out, Catch::Contains("contributions at the input of layer 0 (6x240x240) sum to") &&
                                Catch::Contains("layer 8 (64x20x20)") && Catch::Contains("explained class: class "));
  int w = 0, h = 0, channels = 0;
  REQUIRE(stbi_info(picture.c_str(), &w, &h, &channels) != 0);
  CHECK(w == 3 * 240 + 4 * 8);       // three 240x240 panels, gaps of 8
  CHECK(h == 9 * (240 + 2 * 8));     // a row per layer
}

TEST_CASE("imagenet100-9l refuses what its path does not take, with one error line", "[cli][imagenet][errors]") {
  test::scratch_dir dir;
  write_folder(dir);
  const std::string data = dir / "data", out = " --out " + dir / "m.safetensors";
  const std::string train = "train --arch imagenet100-9l --data " + data + out + " --epochs 1";
  test::expect_one_error(test::run_cli(dir, train + " --checkpoint-dir " + dir / "c"), 2,
                        "--checkpoint-dir is not available with --arch imagenet100-9l");
  test::expect_one_error(test::run_cli(dir, train + " --norm l2"), 2, "trains with the squash norm");
  test::expect_one_error(test::run_cli(dir, "train --data " + data + out + " --warmup-epochs 3"), 2,
                        "--warmup-epochs is for --arch imagenet100-9l");
  test::expect_one_error(test::run_cli(dir, "train --arch resnet --data " + data + out), 2, "--arch");
  for (int c = 0; c < 100; ++c) fs::create_directories(dir.path() / "data/train" / ("extra" + std::to_string(c)));
  test::expect_one_error(test::run_cli(dir, train), 1, "104 class directories, more than the 100 classes of imagenet100-9l");
  CHECK_FALSE(fs::exists(dir / "m.safetensors"));
}

}  // namespace test_cli_imagenet

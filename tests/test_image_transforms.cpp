// Images of any size to a network's input: torchvision's Resize(int), CenterCrop, RandomCrop and
// flip conventions, the training and test pipelines, folder listings of any number of classes,
// and top-k accuracy.
#include <stb/stb_image_write.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "coda/data/image_folder.hpp"
#include "coda/data/image_transforms.hpp"
#include "coda/nn/inference.hpp"
#include "support/scratch_dir.hpp"

namespace test_image_transforms {

using namespace coda;

namespace {

/// A w x h image whose byte at (c, y, x) is c * 100 + y * 10 + x (small sizes only).
rgb_image numbered(int w, int h) {
  rgb_image img{w, h, std::vector<std::uint8_t>(static_cast<std::size_t>(3 * w * h))};
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) img.chw[static_cast<std::size_t>((c * h + y) * w + x)] = static_cast<std::uint8_t>(c * 100 + y * 10 + x);
  return img;
}

std::uint8_t at(const rgb_image& img, int c, int y, int x) {
  return img.chw[static_cast<std::size_t>((c * img.height + y) * img.width + x)];
}

}  // namespace

TEST_CASE("resize_short_side keeps the aspect ratio as torchvision's Resize(int) does", "[data][transforms]") {
  // torchvision: the long side becomes int(side * long / short).
  const rgb_image wide = resize_short_side(rgb_image{300, 200, std::vector<std::uint8_t>(3 * 300 * 200, 7)}, 256);
  CHECK(wide.height == 256);
  CHECK(wide.width == 384);
  const rgb_image tall = resize_short_side(rgb_image{200, 333, std::vector<std::uint8_t>(3 * 200 * 333, 7)}, 256);
  CHECK(tall.width == 256);
  CHECK(tall.height == 426);  // 256 * 333 / 200 = 426.24
  const rgb_image square = resize_short_side(rgb_image{64, 64, std::vector<std::uint8_t>(3 * 64 * 64, 7)}, 256);
  CHECK((square.width == 256 && square.height == 256));
  CHECK(square.chw[1000] == 7);  // a flat image stays flat
}

TEST_CASE("crop and centre_crop take torchvision's windows", "[data][transforms]") {
  const rgb_image img = numbered(7, 6);
  const rgb_image c = crop(img, 1, 2, 3, 4);
  REQUIRE((c.width == 4 && c.height == 3));
  for (int ch = 0; ch < 3; ++ch)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 4; ++x) CHECK(at(c, ch, y, x) == at(img, ch, y + 1, x + 2));
  CHECK_THROWS_AS(crop(img, 4, 0, 3, 3), argument_error);
  // Offsets round((size - crop) / 2) with Python's round: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2.
  CHECK(at(centre_crop(img, 5, 6), 0, 0, 0) == at(img, 0, 0, 0));  // room 1 and 1: offsets 0
  CHECK(at(centre_crop(img, 3, 4), 0, 0, 0) == at(img, 0, 2, 2));  // room 3 and 3: offsets 2
  CHECK(at(centre_crop(img, 1, 2), 0, 0, 0) == at(img, 0, 2, 2));  // room 5 and 5: offsets 2
  CHECK(at(centre_crop(img, 2, 3), 0, 0, 0) == at(img, 0, 2, 2));  // room 4 and 4: offsets 2
}

TEST_CASE("flip_horizontally mirrors every row of every channel", "[data][transforms]") {
  rgb_image img = numbered(5, 3);
  const rgb_image original = img;
  flip_horizontally(img);
  for (int ch = 0; ch < 3; ++ch)
    for (int y = 0; y < 3; ++y)
      for (int x = 0; x < 5; ++x) CHECK(at(img, ch, y, x) == at(original, ch, y, 4 - x));
}

TEST_CASE("the test transform resizes the shorter side and takes the centre crop", "[data][transforms]") {
  CHECK(resize_side_for(240) == 256);
  CHECK(resize_side_for(32) == 34);
  // A 300x200 picture: left half 0, right half 255. After the resize to 384x256 the centre 240
  // crop starts at column 72, so the boundary stays in the middle of the crop.
  rgb_image img{300, 200, std::vector<std::uint8_t>(3 * 300 * 200)};
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 200; ++y)
      for (int x = 150; x < 300; ++x) img.chw[static_cast<std::size_t>((c * 200 + y) * 300 + x)] = 255;
  const rgb_image out = test_transform(img, 240);
  REQUIRE((out.width == 240 && out.height == 240));
  CHECK(at(out, 0, 120, 100) == 0);
  CHECK(at(out, 0, 120, 140) == 255);
  std::vector<float> input(3 * 240 * 240);
  image_to_input(out, input.data());
  CHECK(input[120 * 240 + 140] == 1.f);
  CHECK(input[120 * 240 + 100] == 0.f);
}

TEST_CASE("the training transform is drawn from its key: same key, same image", "[data][transforms]") {
  const rgb_image img = resize_short_side(numbered(9, 9), 64);
  const rgb_image a = train_transform(img, 48, 11), b = train_transform(img, 48, 11);
  CHECK((a.width == 48 && a.height == 48));
  CHECK(a.chw == b.chw);
  bool some_key_differs = false;
  for (std::uint64_t key = 12; key < 20 && !some_key_differs; ++key) some_key_differs = train_transform(img, 48, key).chw != a.chw;
  CHECK(some_key_differs);
  // Without RandAugment (n = 0) the output is a window of the resized image, maybe mirrored.
  const rgb_image resized = resize_short_side(img, resize_side_for(48));
  const rgb_image plain = train_transform(img, 48, 5, 0);
  bool found = false;
  for (int top = 0; top + 48 <= resized.height && !found; ++top)
    for (int left = 0; left + 48 <= resized.width && !found; ++left) {
      rgb_image window = crop(resized, top, left, 48, 48);
      found = window.chw == plain.chw;
      flip_horizontally(window);
      found = found || window.chw == plain.chw;
    }
  CHECK(found);
}

TEST_CASE("list_image_folder lists any number of classes; balanced_subset keeps a quota per class", "[data][folder]") {
  test::scratch_dir dir;
  const std::vector<std::uint8_t> pixels(3 * 4 * 4, 100);
  const std::vector<std::string> classes = {"ant", "bee", "cat", "dog"};
  for (std::size_t c = 0; c < classes.size(); ++c)
    for (std::size_t k = 0; k <= c; ++k) {
      std::filesystem::create_directories(dir.path() / "train" / classes[c]);
      const std::string file = dir / ("train/" + classes[c] + "/" + std::to_string(k) + ".png");
      REQUIRE(stbi_write_png(file.c_str(), 4, 4, 3, pixels.data(), 12) != 0);
    }
  const image_folder_listing all = list_image_folder(dir.path().string(), dataset_split::train);
  CHECK(all.classes == classes);
  REQUIRE(all.files.size() == 10);
  CHECK(all.labels == std::vector<int>({0, 1, 1, 2, 2, 2, 3, 3, 3, 3}));
  const image_folder_listing some = balanced_subset(all, 6);
  // 6 over 4 classes: 2 for the first two classes, 1 for the others; ant has only one image.
  CHECK(some.labels == std::vector<int>({0, 1, 1, 2, 3}));
  CHECK(balanced_subset(all, 0).files.size() == 10);
  CHECK_THROWS_WITH(list_image_folder(dir.path().string(), dataset_split::test), Catch::Contains("no such directory"));
  std::filesystem::create_directories(dir.path() / "test/ant");
  CHECK_THROWS_WITH(list_image_folder(dir.path().string(), dataset_split::test), Catch::Contains("no .png or .jpg images"));
}

TEST_CASE("in_top_k counts the classes with a larger logit", "[inference][topk]") {
  const float logits[6] = {0.5f, 2.f, -1.f, 2.f, 3.f, 0.f};
  CHECK(in_top_k(logits, 6, 4, 1));
  CHECK_FALSE(in_top_k(logits, 6, 1, 1));
  CHECK(in_top_k(logits, 6, 1, 2));  // a tie with class 3 counts for the label
  CHECK(in_top_k(logits, 6, 3, 2));
  CHECK_FALSE(in_top_k(logits, 6, 2, 5));
  CHECK(in_top_k(logits, 6, 5, 5));
  CHECK_THROWS_AS(in_top_k(logits, 6, 6, 1), argument_error);
}

}  // namespace test_image_transforms

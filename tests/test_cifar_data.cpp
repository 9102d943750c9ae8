// CIFAR-10 data: the binary layout reader, the image-folder reader, balanced subsets, slices, the order
// of an epoch and the augmentation of a mini-batch. Every fixture is generated in a scratch
// directory at test time (binary records, PNG and JPEG files written with stb).
#include <stdlib.h>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "coda/data/augment.hpp"
#include "coda/data/cifar.hpp"
#include "coda/io/image.hpp"
#include "coda/data/image_folder.hpp"

namespace test_cifar_data {

using namespace coda;
namespace fs = std::filesystem;

namespace {

/// A fresh directory, removed with the object.
class scratch {
 public:
  scratch() {
    std::string templ = (fs::temp_directory_path() / "coda-data-test-XXXXXX").string();
    if (!mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~scratch() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  scratch(const scratch&) = delete;
  scratch& operator=(const scratch&) = delete;
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

using bytes = std::vector<std::uint8_t>;

/// The pixels of image `id` (CHW, 3x32x32): every byte depends on the image, channel and position.
bytes image_pixels(int id) {
  bytes px(static_cast<std::size_t>(cifar_image_bytes));
  for (std::size_t k = 0; k < px.size(); ++k) px[k] = static_cast<std::uint8_t>((k * 7 + static_cast<std::size_t>(id) * 31 + k / 1024 * 5) & 255);
  return px;
}

/// One binary record: the label byte, then the image.
bytes record(int label, int id) {
  bytes r{static_cast<std::uint8_t>(label)};
  const bytes px = image_pixels(id);
  r.insert(r.end(), px.begin(), px.end());
  return r;
}

void write_bytes(const std::string& path, const bytes& data) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  REQUIRE(f.good());
}

/// A binary file of records with the given labels; record k holds image_pixels(first_id + k).
void write_records(const std::string& path, const std::vector<int>& labels, int first_id) {
  bytes data;
  for (std::size_t k = 0; k < labels.size(); ++k) {
    const bytes r = record(labels[k], first_id + static_cast<int>(k));
    data.insert(data.end(), r.begin(), r.end());
  }
  write_bytes(path, data);
}

bytes dataset_image(const cifar10_dataset& d, index_t i) { return bytes(d.image(i), d.image(i) + cifar_image_bytes); }

/// Interleaved (HWC) pixels with `channels` channels: a pattern identified by `id`.
bytes hwc_pattern(int w, int h, int channels, int id) {
  bytes px(static_cast<std::size_t>(w * h * channels));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c)
        px[static_cast<std::size_t>((y * w + x) * channels + c)] = static_cast<std::uint8_t>((x * 5 + y * 11 + c * 70 + id * 37) & 255);
  return px;
}

/// A smooth pattern (JPEG-friendly): slow gradients per channel.
bytes hwc_smooth(int w, int h, int id) {
  bytes px(static_cast<std::size_t>(w * h * 3));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        px[static_cast<std::size_t>((y * w + x) * 3 + c)] = static_cast<std::uint8_t>(40 + x * 2 + y * (c + 1) + id * 3);
  return px;
}

/// Interleaved RGB -> CHW.
bytes to_chw(const bytes& hwc, int w, int h) {
  bytes chw(hwc.size());
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        chw[static_cast<std::size_t>((c * h + y) * w + x)] = hwc[static_cast<std::size_t>((y * w + x) * 3 + c)];
  return chw;
}

void png(const std::string& path, int w, int h, int channels, const bytes& px) {
  fs::create_directories(fs::path(path).parent_path());
  REQUIRE(stbi_write_png(path.c_str(), w, h, channels, px.data(), w * channels) != 0);
}

void jpg(const std::string& path, int w, int h, const bytes& px) {
  fs::create_directories(fs::path(path).parent_path());
  REQUIRE(stbi_write_jpg(path.c_str(), w, h, 3, px.data(), 100) != 0);
}

/// A uniformly coloured 32x32 RGB image whose colour identifies it (JPEG keeps flat colours).
bytes flat(int r, int g, int b) {
  bytes px(32 * 32 * 3);
  for (std::size_t k = 0; k < px.size(); k += 3) {
    px[k] = static_cast<std::uint8_t>(r);
    px[k + 1] = static_cast<std::uint8_t>(g);
    px[k + 2] = static_cast<std::uint8_t>(b);
  }
  return px;
}

/// DIR/<split>/<class>/ for the ten CIFAR-10 classes, each with one valid PNG (so that a test can
/// add the file it is about to one class).
void ten_classes(const scratch& dir, const std::string& split) {
  for (std::size_t c = 0; c < cifar10_classes.size(); ++c)
    png(dir / (split + "/" + cifar10_classes[c] + "/base.png"), 32, 32, 3, hwc_pattern(32, 32, 3, static_cast<int>(c)));
}

int max_abs_diff(const std::uint8_t* a, const std::uint8_t* b, std::size_t n) {
  int worst = 0;
  for (std::size_t k = 0; k < n; ++k) worst = std::max(worst, std::abs(int(a[k]) - int(b[k])));
  return worst;
}

/// A synthetic in-memory data set: image i has pixels image_pixels(i) and the given label.
cifar10_dataset synthetic(const std::vector<int>& labels) {
  cifar10_dataset d;
  for (std::size_t i = 0; i < labels.size(); ++i) d.append(image_pixels(static_cast<int>(i)).data(), labels[i]);
  return d;
}

}  // namespace

// ---- binary layout -------------------------------------------------------------------------------

TEST_CASE("binary: a file of any whole number of records is read in file order", "[data]") {
  scratch dir;
  for (int records : {1, 3}) {
    std::vector<int> labels;
    for (int k = 0; k < records; ++k) labels.push_back((k * 4 + 7) % 10);
    write_records(dir / "test_batch.bin", labels, 100);
    const cifar10_dataset d = read_cifar_binary(dir.path().string(), dataset_split::test);
    REQUIRE(d.size() == records);
    REQUIRE(d.pixels.size() == static_cast<std::size_t>(records * cifar_image_bytes));
    CHECK(d.labels == labels);
    for (int k = 0; k < records; ++k) CHECK(dataset_image(d, k) == image_pixels(100 + k));
    // image_as: the same bytes scaled to [0, 1].
    std::vector<float> f(static_cast<std::size_t>(cifar_image_bytes));
    d.image_as(records - 1, f.data());
    const bytes px = image_pixels(100 + records - 1);
    for (std::size_t k = 0; k < f.size(); k += 97) CHECK(f[k] == float(px[k]) / 255.f);
  }
}

TEST_CASE("binary: the training split concatenates all five data_batch files in order", "[data]") {
  scratch dir;
  std::vector<int> expect_labels;
  std::vector<int> expect_ids;
  for (int k = 1; k <= 5; ++k) {
    std::vector<int> labels;
    for (int r = 0; r < k; ++r) labels.push_back((k + r) % 10);  // file k holds k records
    write_records(dir / ("data_batch_" + std::to_string(k) + ".bin"), labels, 10 * k);
    for (int r = 0; r < k; ++r) {
      expect_labels.push_back(labels[static_cast<std::size_t>(r)]);
      expect_ids.push_back(10 * k + r);
    }
  }
  write_records(dir / "test_batch.bin", {9, 9}, 900);
  const cifar10_dataset d = read_cifar_binary(dir.path().string(), dataset_split::train);
  REQUIRE(d.size() == 15);
  CHECK(d.labels == expect_labels);
  for (index_t i = 0; i < d.size(); ++i) CHECK(dataset_image(d, i) == image_pixels(expect_ids[static_cast<std::size_t>(i)]));
}

TEST_CASE("binary: the training split reads whichever data_batch files are present", "[data]") {
  scratch dir;
  write_records(dir / "data_batch_1.bin", {1, 2}, 10);
  write_records(dir / "data_batch_4.bin", {4}, 40);
  cifar10_dataset d = read_cifar_binary(dir.path().string(), dataset_split::train);
  REQUIRE(d.size() == 3);
  CHECK(d.labels == std::vector<int>{1, 2, 4});
  CHECK(dataset_image(d, 2) == image_pixels(40));

  // Without data_batch_1.bin, the others are still read.
  fs::remove(dir / "data_batch_1.bin");
  write_records(dir / "data_batch_3.bin", {3, 0, 8}, 30);
  d = read_cifar_binary(dir.path().string(), dataset_split::train);
  REQUIRE(d.size() == 4);
  CHECK(d.labels == std::vector<int>{3, 0, 8, 4});
  CHECK(dataset_image(d, 0) == image_pixels(30));
  CHECK(dataset_image(d, 3) == image_pixels(40));
}

TEST_CASE("binary: the test split is test_batch.bin alone", "[data]") {
  scratch dir;
  write_records(dir / "data_batch_1.bin", {1, 1, 1}, 10);
  write_records(dir / "test_batch.bin", {5, 6}, 50);
  const cifar10_dataset d = read_cifar_binary(dir.path().string(), dataset_split::test);
  REQUIRE(d.size() == 2);
  CHECK(d.labels == std::vector<int>{5, 6});
  CHECK(dataset_image(d, 1) == image_pixels(51));

  fs::remove(dir / "test_batch.bin");
  CHECK_THROWS_AS(read_cifar_binary(dir.path().string(), dataset_split::test), io_error);
  CHECK_THROWS_WITH(read_cifar_binary(dir.path().string(), dataset_split::test), Catch::Contains(dir / "test_batch.bin"));
}

TEST_CASE("binary: a partial record is an error naming the file", "[data]") {
  scratch dir;
  write_records(dir / "data_batch_1.bin", {1}, 0);
  bytes data;
  for (int k = 0; k < 2; ++k) {
    const bytes r = record(k, k);
    data.insert(data.end(), r.begin(), r.end());
  }
  data.resize(data.size() - 1);  // 6145 bytes
  const std::string bad = dir / "data_batch_2.bin";
  write_bytes(bad, data);
  CHECK_THROWS_AS(read_cifar_binary(dir.path().string(), dataset_split::train), format_error);
  CHECK_THROWS_WITH(read_cifar_binary(dir.path().string(), dataset_split::train),
                    Catch::Contains(bad + ": 6145 bytes is not a whole number of 3073-byte records"));
  // A file shorter than one record.
  write_bytes(dir / "test_batch.bin", bytes(100, 3));
  CHECK_THROWS_WITH(read_cifar_binary(dir.path().string(), dataset_split::test), Catch::Contains(dir / "test_batch.bin"));
}

TEST_CASE("binary: a label above 9 is an error naming the file and record", "[data]") {
  scratch dir;
  write_records(dir / "data_batch_1.bin", {0, 9, 3}, 0);
  const std::string bad = dir / "data_batch_2.bin";
  write_records(bad, {2, 4, 10, 5}, 0);
  CHECK_THROWS_AS(read_cifar_binary(dir.path().string(), dataset_split::train), format_error);
  CHECK_THROWS_WITH(read_cifar_binary(dir.path().string(), dataset_split::train),
                    Catch::Contains(bad + ": record 2 has label 10"));
  write_records(dir / "test_batch.bin", {255}, 0);
  CHECK_THROWS_WITH(read_cifar_binary(dir.path().string(), dataset_split::test),
                    Catch::Contains(dir / "test_batch.bin") && Catch::Contains("label 255"));
}

TEST_CASE("binary: an empty file is an error naming the file", "[data]") {
  scratch dir;
  write_records(dir / "data_batch_1.bin", {0}, 0);
  write_bytes(dir / "data_batch_3.bin", {});
  write_bytes(dir / "test_batch.bin", {});
  CHECK_THROWS_AS(read_cifar_binary(dir.path().string(), dataset_split::train), format_error);
  CHECK_THROWS_WITH(read_cifar_binary(dir.path().string(), dataset_split::train), Catch::Contains(dir / "data_batch_3.bin"));
  CHECK_THROWS_WITH(read_cifar_binary(dir.path().string(), dataset_split::test), Catch::Contains(dir / "test_batch.bin"));
}

TEST_CASE("binary: no training files is an error naming the directory", "[data]") {
  scratch dir;
  write_records(dir / "test_batch.bin", {0}, 0);
  write_records(dir / "data_batch_6.bin", {0}, 0);  // not one of 1..5
  write_records(dir / "data_batch.bin", {0}, 0);
  CHECK_THROWS_AS(read_cifar_binary(dir.path().string(), dataset_split::train), io_error);
  CHECK_THROWS_WITH(read_cifar_binary(dir.path().string(), dataset_split::train),
                    Catch::Contains(dir.path().string()) && Catch::Contains("data_batch_1.bin"));
  CHECK_THROWS_WITH(read_cifar_binary(dir / "nowhere", dataset_split::train), Catch::Contains(dir / "nowhere"));
}

TEST_CASE("is_cifar_binary_dir recognises test_batch.bin or data_batch_1.bin", "[data]") {
  scratch dir;
  const std::string d = dir.path().string();
  CHECK_FALSE(is_cifar_binary_dir(d));
  CHECK_FALSE(is_cifar_binary_dir(dir / "nowhere"));
  write_records(dir / "data_batch_2.bin", {0}, 0);
  CHECK_FALSE(is_cifar_binary_dir(d));
  fs::create_directories(dir / "test_batch.bin");  // a directory of that name is not the file
  CHECK_FALSE(is_cifar_binary_dir(d));
  write_records(dir / "data_batch_1.bin", {0}, 0);
  CHECK(is_cifar_binary_dir(d));
  fs::remove(dir / "data_batch_1.bin");
  fs::remove(dir / "test_batch.bin");
  write_records(dir / "test_batch.bin", {0}, 0);
  CHECK(is_cifar_binary_dir(d));
  // An image folder is not the binary layout.
  scratch folder;
  ten_classes(folder, "train");
  CHECK_FALSE(is_cifar_binary_dir(folder.path().string()));
  CHECK(is_image_folder_dir(folder.path().string()));
  CHECK_FALSE(is_image_folder_dir(d));
}

// ---- image-folder layout ------------------------------------------------------------------------

TEST_CASE("folder: labels follow sorted class order and files are sorted within a class", "[data]") {
  scratch dir;
  // Classes and files are created in reverse order; each image has a flat colour (r = class * 20,
  // g = file * 60 + 30) that identifies it, and each class mixes PNG and JPEG.
  for (const char* name : {"train", "test"}) {
    const std::string split = name;
    const int per_class = split == "train" ? 3 : 2;
    for (int c = 9; c >= 0; --c)
      for (int f = per_class - 1; f >= 0; --f) {
        const std::string base = dir / (split + "/" + cifar10_classes[static_cast<std::size_t>(c)] + "/img_" + std::to_string(f));
        const bytes px = flat(c * 20 + (split == "test" ? 5 : 0), f * 60 + 30, 128);
        if (f % 2)
          jpg(base + ".jpg", 32, 32, px);
        else
          png(base + ".png", 32, 32, 3, px);
      }
  }
  for (const char* name : {"train", "test"}) {
    const std::string split = name;
    const int per_class = split == "train" ? 3 : 2;
    for (unsigned threads : {1u, 3u}) {
      const cifar10_dataset d = read_image_folder(dir.path().string(), split == "train" ? dataset_split::train : dataset_split::test, threads);
      INFO(split << ", " << threads << " threads");
      REQUIRE(d.size() == 10 * per_class);
      for (int c = 0; c < 10; ++c)
        for (int f = 0; f < per_class; ++f) {
          const index_t i = c * per_class + f;
          CHECK(d.labels[static_cast<std::size_t>(i)] == c);
          const std::uint8_t* p = d.image(i);
          CHECK(std::abs(int(p[0]) - (c * 20 + (split == "test" ? 5 : 0))) <= 2);
          CHECK(std::abs(int(p[1024 + 500]) - (f * 60 + 30)) <= 2);
          CHECK(std::abs(int(p[2048 + 1023]) - 128) <= 2);
        }
    }
  }
}

TEST_CASE("folder: PNG pixels round-trip exactly in CHW order", "[data]") {
  scratch dir;
  ten_classes(dir, "train");
  const bytes a = hwc_pattern(32, 32, 3, 77), b = hwc_pattern(32, 32, 3, 78);
  png(dir / "train/horse/a.png", 32, 32, 3, a);
  png(dir / "train/horse/b.png", 32, 32, 3, b);
  const cifar10_dataset d = read_image_folder(dir.path().string(), dataset_split::train, 2);
  REQUIRE(d.size() == 12);
  // horse is class 7: airplane..frog hold one image each, then horse/a, horse/b, horse/base.
  CHECK(d.labels[7] == 7);
  CHECK(d.labels[8] == 7);
  CHECK(d.labels[9] == 7);
  CHECK(dataset_image(d, 7) == to_chw(a, 32, 32));
  CHECK(dataset_image(d, 8) == to_chw(b, 32, 32));
  CHECK(dataset_image(d, 0) == to_chw(hwc_pattern(32, 32, 3, 0), 32, 32));
  CHECK(dataset_image(d, 11) == to_chw(hwc_pattern(32, 32, 3, 9), 32, 32));
  // load_image agrees with the folder reader.
  const rgb_image img = load_image(dir / "train/horse/a.png");
  CHECK(img.width == 32);
  CHECK(img.height == 32);
  CHECK(img.chw == to_chw(a, 32, 32));
}

TEST_CASE("folder: JPEG pixels round-trip closely", "[data]") {
  scratch dir;
  ten_classes(dir, "test");
  const bytes px = hwc_smooth(32, 32, 4);
  jpg(dir / "test/cat/smooth.jpg", 32, 32, px);
  const cifar10_dataset d = read_image_folder(dir.path().string(), dataset_split::test, 1);
  REQUIRE(d.size() == 11);
  CHECK(d.labels[3] == 3);
  CHECK(d.labels[4] == 3);
  const bytes expect = to_chw(px, 32, 32);
  const std::uint8_t* got = d.image(4);  // cat/base.png sorts before cat/smooth.jpg
  CHECK(dataset_image(d, 3) == to_chw(hwc_pattern(32, 32, 3, 3), 32, 32));
  double mean = 0;
  for (std::size_t k = 0; k < expect.size(); ++k) mean += std::abs(int(got[k]) - int(expect[k]));
  mean /= double(expect.size());
  CHECK(max_abs_diff(got, expect.data(), expect.size()) <= 16);
  CHECK(mean < 2.0);
}

TEST_CASE("folder: greyscale and RGBA PNGs become RGB", "[data]") {
  scratch dir;
  ten_classes(dir, "train");
  const bytes grey = hwc_pattern(32, 32, 1, 5), rgba = hwc_pattern(32, 32, 4, 6), grey_alpha = hwc_pattern(32, 32, 2, 7);
  png(dir / "train/ship/1_grey.png", 32, 32, 1, grey);
  png(dir / "train/ship/2_rgba.png", 32, 32, 4, rgba);
  png(dir / "train/ship/3_grey_alpha.png", 32, 32, 2, grey_alpha);
  const cifar10_dataset d = read_image_folder(dir.path().string(), dataset_split::train, 2);
  REQUIRE(d.size() == 13);
  // ship is class 8: images 8, 9, 10 are 1_grey, 2_rgba, 3_grey_alpha (base.png sorts after).
  for (index_t i = 8; i <= 11; ++i) CHECK(d.labels[static_cast<std::size_t>(i)] == 8);
  const std::uint8_t* g = d.image(8);
  const std::uint8_t* a = d.image(9);
  const std::uint8_t* ga = d.image(10);
  bool grey_ok = true, rgba_ok = true, grey_alpha_ok = true;
  for (std::size_t p = 0; p < 1024; ++p)
    for (std::size_t c = 0; c < 3; ++c) {
      grey_ok = grey_ok && g[c * 1024 + p] == grey[p];
      rgba_ok = rgba_ok && a[c * 1024 + p] == rgba[p * 4 + c];
      grey_alpha_ok = grey_alpha_ok && ga[c * 1024 + p] == grey_alpha[p * 2];
    }
  CHECK(grey_ok);
  CHECK(rgba_ok);
  CHECK(grey_alpha_ok);
}

TEST_CASE("folder: an image that is not 32x32 is an error naming the file", "[data]") {
  scratch dir;
  ten_classes(dir, "train");
  const std::string bad = dir / "train/frog/wide.png";
  png(bad, 31, 32, 3, hwc_pattern(31, 32, 3, 1));
  CHECK_THROWS_AS(read_image_folder(dir.path().string(), dataset_split::train, 2), format_error);
  CHECK_THROWS_WITH(read_image_folder(dir.path().string(), dataset_split::train, 2),
                    Catch::Contains(bad + ": image is 31x32, expected 32x32"));
  fs::remove(bad);
  const std::string tall = dir / "train/bird/tall.jpg";
  jpg(tall, 32, 33, hwc_smooth(32, 33, 0));
  CHECK_THROWS_WITH(read_image_folder(dir.path().string(), dataset_split::train, 1),
                    Catch::Contains(tall + ": image is 32x33, expected 32x32"));
}

TEST_CASE("folder: a corrupt image file is an error naming the file", "[data]") {
  scratch dir;
  ten_classes(dir, "test");
  const std::string bad = dir / "test/dog/broken.png";
  bytes junk(500);
  std::uint64_t s = 12345;
  for (auto& b : junk) b = static_cast<std::uint8_t>((s = detail::splitmix64(s)) >> 56);
  write_bytes(bad, junk);
  CHECK_THROWS_AS(read_image_folder(dir.path().string(), dataset_split::test, 2), format_error);
  CHECK_THROWS_WITH(read_image_folder(dir.path().string(), dataset_split::test, 2), Catch::Contains(bad + ":"));
  // A PNG truncated after its header, and an empty .jpg.
  fs::remove(bad);
  const std::string whole = dir / "test/dog/base.png";
  std::ifstream in(whole, std::ios::binary);
  bytes png_bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  png_bytes.resize(60);
  write_bytes(dir / "test/dog/cut.png", png_bytes);
  CHECK_THROWS_WITH(read_image_folder(dir.path().string(), dataset_split::test, 2), Catch::Contains(dir / "test/dog/cut.png"));
  fs::remove(dir / "test/dog/cut.png");
  write_bytes(dir / "test/airplane/empty.jpg", {});
  CHECK_THROWS_WITH(read_image_folder(dir.path().string(), dataset_split::test, 2), Catch::Contains(dir / "test/airplane/empty.jpg"));
}

TEST_CASE("folder: the first bad file in sorted order is the one reported", "[data]") {
  scratch dir;
  ten_classes(dir, "train");
  write_bytes(dir / "train/truck/zz.png", bytes(40, 1));
  png(dir / "train/automobile/b.png", 16, 16, 3, hwc_pattern(16, 16, 3, 0));
  write_bytes(dir / "train/automobile/c.png", bytes(40, 1));
  for (unsigned threads : {1u, 4u})
    CHECK_THROWS_WITH(read_image_folder(dir.path().string(), dataset_split::train, threads),
                      Catch::Contains(dir / "train/automobile/b.png"));
}

TEST_CASE("folder: other than 10 class directories is an error", "[data]") {
  scratch dir;
  ten_classes(dir, "train");
  fs::remove_all(dir / "train/truck");
  CHECK_THROWS_AS(read_image_folder(dir.path().string(), dataset_split::train, 1), format_error);
  CHECK_THROWS_WITH(read_image_folder(dir.path().string(), dataset_split::train, 1),
                    Catch::Contains(dir / "train") && Catch::Contains("expected 10 class directories, found 9"));
  png(dir / "train/truck/a.png", 32, 32, 3, hwc_pattern(32, 32, 3, 0));
  png(dir / "train/unicorn/a.png", 32, 32, 3, hwc_pattern(32, 32, 3, 0));
  CHECK_THROWS_WITH(read_image_folder(dir.path().string(), dataset_split::train, 1), Catch::Contains("found 11"));
  // A missing split directory.
  CHECK_THROWS_AS(read_image_folder(dir.path().string(), dataset_split::test, 1), io_error);
  CHECK_THROWS_WITH(read_image_folder(dir.path().string(), dataset_split::test, 1), Catch::Contains(dir / "test"));
}

TEST_CASE("folder: a split without images is an error", "[data]") {
  scratch dir;
  for (const char* name : cifar10_classes) fs::create_directories(dir / (std::string("test/") + name));
  write_bytes(dir / "test/cat/notes.txt", bytes(10, 'x'));
  CHECK_THROWS_AS(read_image_folder(dir.path().string(), dataset_split::test, 1), format_error);
  CHECK_THROWS_WITH(read_image_folder(dir.path().string(), dataset_split::test, 1),
                    Catch::Contains(dir / "test") && Catch::Contains("no .png or .jpg images"));
}

TEST_CASE("folder: upper-case extensions and .jpeg are accepted", "[data]") {
  scratch dir;
  ten_classes(dir, "train");
  jpg(dir / "train/deer/A.JPG", 32, 32, flat(10, 20, 30));
  jpg(dir / "train/deer/B.JPEG", 32, 32, flat(40, 50, 60));
  png(dir / "train/deer/C.PNG", 32, 32, 3, flat(70, 80, 90));
  jpg(dir / "train/deer/d.jpeg", 32, 32, flat(100, 110, 120));
  const cifar10_dataset d = read_image_folder(dir.path().string(), dataset_split::train, 2);
  REQUIRE(d.size() == 14);
  // deer is class 4: A.JPG, B.JPEG, C.PNG, base.png, d.jpeg ("B" < "C" < "b" < "d" byte-wise).
  for (index_t i = 4; i <= 8; ++i) CHECK(d.labels[static_cast<std::size_t>(i)] == 4);
  CHECK(std::abs(int(d.image(4)[0]) - 10) <= 2);
  CHECK(std::abs(int(d.image(5)[1024]) - 50) <= 2);
  CHECK(int(d.image(6)[2048]) == 90);
  CHECK(dataset_image(d, 7) == to_chw(hwc_pattern(32, 32, 3, 4), 32, 32));
  CHECK(std::abs(int(d.image(8)[0]) - 100) <= 2);
}

TEST_CASE("folder: files that are not images are ignored", "[data]") {
  scratch dir;
  ten_classes(dir, "train");
  write_bytes(dir / "train/cat/README.txt", bytes(30, 'r'));
  write_bytes(dir / "train/cat/labels", bytes(30, 'l'));
  write_bytes(dir / "train/cat/a.png.bak", bytes(30, 'b'));
  write_bytes(dir / "train/cat/.DS_Store", bytes(30, 0));
  write_bytes(dir / "train/cat/image.gif", bytes(30, 'g'));
  fs::create_directories(dir / "train/cat/nested.png");  // a directory, not a file
  png(dir / "train/cat/nested.png/deep.png", 32, 32, 3, hwc_pattern(32, 32, 3, 50));
  write_bytes(dir / "train/list.csv", bytes(30, ','));  // a file beside the class directories
  const cifar10_dataset d = read_image_folder(dir.path().string(), dataset_split::train, 2);
  REQUIRE(d.size() == 10);
  for (int c = 0; c < 10; ++c) {
    CHECK(d.labels[static_cast<std::size_t>(c)] == c);
    CHECK(dataset_image(d, c) == to_chw(hwc_pattern(32, 32, 3, c), 32, 32));
  }
}

// ---- balanced subsets ---------------------------------------------------------------------------

TEST_CASE("balanced_subset takes n/10 per class, the remainder to the first classes, in file order", "[data]") {
  // 100 images, 10 per class, labels interleaved in a scrambled order.
  std::vector<int> labels;
  for (int i = 0; i < 100; ++i) labels.push_back((i * 3 + i / 10) % 10);
  const cifar10_dataset d = synthetic(labels);
  for (index_t n : {10, 23, 37, 99}) {
    INFO("n = " << n);
    const cifar10_dataset s = balanced_subset(d, n);
    REQUIRE(s.size() == n);
    std::array<index_t, 10> count{};
    for (int l : s.labels) ++count[static_cast<std::size_t>(l)];
    for (index_t c = 0; c < 10; ++c) CHECK(count[static_cast<std::size_t>(c)] == n / 10 + (c < n % 10 ? 1 : 0));
    // The expected selection: the first quota[c] images of each class, in file order.
    std::array<index_t, 10> quota{};
    for (index_t c = 0; c < 10; ++c) quota[static_cast<std::size_t>(c)] = n / 10 + (c < n % 10 ? 1 : 0);
    std::vector<int> chosen;
    for (int i = 0; i < 100; ++i)
      if (quota[static_cast<std::size_t>(labels[static_cast<std::size_t>(i)])]-- > 0) chosen.push_back(i);
    REQUIRE(chosen.size() == static_cast<std::size_t>(n));
    for (index_t k = 0; k < n; ++k) {
      const int i = chosen[static_cast<std::size_t>(k)];
      CHECK(s.labels[static_cast<std::size_t>(k)] == labels[static_cast<std::size_t>(i)]);
      CHECK(dataset_image(s, k) == image_pixels(i));
    }
  }
  // n <= 0 or n >= size: the whole data set.
  for (index_t n : {0, -3, 100, 1000}) {
    const cifar10_dataset s = balanced_subset(d, n);
    CHECK(s.labels == d.labels);
    CHECK(s.pixels == d.pixels);
  }
}

TEST_CASE("balanced_subset of a data set short of some classes stops at what there is", "[data]") {
  // Classes 0 and 1 only: quota n/10 each, the rest cannot be filled.
  const cifar10_dataset d = synthetic({0, 1, 0, 1, 0, 1, 0, 1});
  const cifar10_dataset s = balanced_subset(d, 4);  // quota 1, 1, 1, 1, 0...
  CHECK(s.labels == std::vector<int>{0, 1});
  CHECK(dataset_image(s, 1) == image_pixels(1));
}

TEST_CASE("slice copies a range of images with their labels and refuses one outside the data", "[data]") {
  const cifar10_dataset d = synthetic({3, 1, 4, 1, 5, 9});
  const cifar10_dataset s = slice(d, 2, 3);
  CHECK(s.labels == std::vector<int>{4, 1, 5});
  CHECK(dataset_image(s, 0) == image_pixels(2));
  CHECK(dataset_image(s, 2) == image_pixels(4));
  CHECK(slice(d, 6, 0).size() == 0);
  CHECK_THROWS_AS(slice(d, 4, 3), argument_error);
  CHECK_THROWS_AS(slice(d, -1, 1), argument_error);
}

// ---- order of an epoch --------------------------------------------------------------------------

TEST_CASE("epoch_order is a permutation fixed by (seed, epoch), identity without shuffle", "[data]") {
  const index_t n = 1000;
  std::vector<index_t> identity(static_cast<std::size_t>(n));
  std::iota(identity.begin(), identity.end(), index_t(0));
  CHECK(epoch_order(n, 7, 3, false) == identity);
  CHECK(epoch_order(n, 99, 0, false) == identity);
  const auto a = epoch_order(n, 7, 3, true);
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == identity);
  CHECK(a != identity);
  CHECK(epoch_order(n, 7, 3, true) == a);    // deterministic
  CHECK(epoch_order(n, 7, 4, true) != a);    // another epoch
  CHECK(epoch_order(n, 8, 3, true) != a);    // another seed
  CHECK(epoch_order(n, 8, 4, true) != epoch_order(n, 7, 4, true));
  // Every epoch of a run is a permutation, and they all differ.
  std::set<std::vector<index_t>> seen;
  for (index_t e = 0; e < 20; ++e) {
    auto o = epoch_order(50, 1, e, true);
    seen.insert(o);
    std::sort(o.begin(), o.end());
    CHECK(o == std::vector<index_t>(identity.begin(), identity.begin() + 50));
  }
  CHECK(seen.size() == 20);
  CHECK(epoch_order(0, 1, 0, true).empty());
  CHECK(epoch_order(1, 1, 0, true) == std::vector<index_t>{0});
  // Roughly uniform: over many permutations of 4 each element lands in each position often.
  std::array<std::array<int, 4>, 4> where{};
  for (index_t e = 0; e < 4000; ++e) {
    const auto o = epoch_order(4, 3, e, true);
    for (std::size_t p = 0; p < 4; ++p) ++where[static_cast<std::size_t>(o[p])][p];
  }
  for (const auto& row : where)
    for (int count : row) CHECK(count > 850);  // expected 1000
}

// ---- augmentation -------------------------------------------------------------------------------

TEST_CASE("prepare_batch draws the same augmentation however the batch is split", "[data]") {
  std::vector<int> labels;
  for (int i = 0; i < 12; ++i) labels.push_back(i % 10);
  const cifar10_dataset d = synthetic(labels);
  const auto order = epoch_order(d.size(), 11, 2, true);
  const std::size_t img = static_cast<std::size_t>(cifar_image_bytes);
  std::vector<float> whole(8 * img), halves(8 * img), other_epoch(8 * img), again(8 * img);
  std::vector<int> l_whole(8), l_halves(8), l_other(8);
  prepare_batch(d, order, 0, 8, true, 11, 2, whole.data(), l_whole.data());
  prepare_batch(d, order, 0, 4, true, 11, 2, halves.data(), l_halves.data());
  prepare_batch(d, order, 4, 4, true, 11, 2, halves.data() + 4 * img, l_halves.data() + 4);
  CHECK(whole == halves);
  CHECK(l_whole == l_halves);
  for (std::size_t b = 0; b < 8; ++b) CHECK(l_whole[b] == labels[static_cast<std::size_t>(order[b])]);
  prepare_batch(d, order, 0, 8, true, 11, 2, again.data(), l_other.data());
  CHECK(again == whole);
  // Another epoch (same order) draws other augmentations.
  prepare_batch(d, order, 0, 8, true, 11, 3, other_epoch.data(), l_other.data());
  CHECK(l_other == l_whole);
  CHECK(other_epoch != whole);
  // Each sample is its own augmentation::draw applied to its image.
  std::vector<float> one(img);
  for (index_t b = 0; b < 8; ++b) {
    augmentation::draw(11, 2, b).apply(d.image(order[static_cast<std::size_t>(b)]), one.data());
    CHECK(std::equal(one.begin(), one.end(), whole.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(b) * img)));
  }
}

TEST_CASE("prepare_batch without augmentation is the plain conversion to [0, 1]", "[data]") {
  const cifar10_dataset d = synthetic({3, 1, 4, 1, 5, 9, 2, 6});
  const auto order = epoch_order(d.size(), 5, 0, true);
  const std::size_t img = static_cast<std::size_t>(cifar_image_bytes);
  std::vector<double> batch(5 * img), plain(img);
  std::vector<int> l(5);
  prepare_batch(d, order, 2, 5, false, 5, 0, batch.data(), l.data());
  for (index_t b = 0; b < 5; ++b) {
    const index_t idx = order[static_cast<std::size_t>(2 + b)];
    CHECK(l[static_cast<std::size_t>(b)] == d.labels[static_cast<std::size_t>(idx)]);
    d.image_as(idx, plain.data());
    CHECK(std::equal(plain.begin(), plain.end(), batch.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(b) * img)));
    CHECK(plain[5] == double(d.image(idx)[5]) / 255.0);
  }
  // The identity augmentation equals the plain conversion too.
  std::vector<float> a(img), p(img);
  augmentation{false, 0, 0}.apply(d.image(3), a.data());
  d.image_as(3, p.data());
  CHECK(a == p);
}

TEST_CASE("an augmentation crops by (dy, dx), then flips, with a zero border", "[data]") {
  // Every input byte is non-zero, so zeros in the output come from the border alone.
  bytes src(static_cast<std::size_t>(cifar_image_bytes));
  for (std::size_t k = 0; k < src.size(); ++k) src[k] = static_cast<std::uint8_t>(1 + (k * 13 + k / 1024) % 255);
  const auto at = [&](index_t c, index_t y, index_t x) { return float(src[static_cast<std::size_t>(c * 1024 + y * 32 + x)]) / 255.f; };
  std::vector<float> out(static_cast<std::size_t>(cifar_image_bytes), -1.f);
  const augmentation aug{true, 2, -3};
  aug.apply(src.data(), out.data());
  // Output (y, x) reads input (y + 2, (31 - x) - 3): rows 30, 31 and columns 29..31 fall outside.
  int mismatches = 0, zeros = 0;
  for (index_t c = 0; c < 3; ++c)
    for (index_t y = 0; y < 32; ++y)
      for (index_t x = 0; x < 32; ++x) {
        const float v = out[static_cast<std::size_t>(c * 1024 + y * 32 + x)];
        const bool border = y >= 30 || x >= 29;
        if (border) {
          zeros += v == 0.f;
          mismatches += v != 0.f;
        } else {
          mismatches += v != at(c, y + 2, 28 - x);
        }
      }
  CHECK(mismatches == 0);
  CHECK(zeros == 3 * (32 * 32 - 30 * 29));
  // A few pixels spelt out.
  CHECK(out[0] == at(0, 2, 28));                      // (0, 0) <- (2, 28)
  CHECK(out[28] == at(0, 2, 0));                      // (0, 28) <- (2, 0)
  CHECK(out[29] == 0.f);                              // (0, 29) <- column -1
  CHECK(out[1024 + 29 * 32 + 5] == at(1, 31, 23));    // (29, 5) <- (31, 23)
  CHECK(out[2048 + 30 * 32 + 5] == 0.f);              // row 32 is outside

  // Shift alone: output (y, x) reads (y + dy, x + dx).
  const augmentation shift{false, -4, 4};
  shift.apply(src.data(), out.data());
  CHECK(out[0] == 0.f);
  CHECK(out[4 * 32 + 0] == at(0, 0, 4));
  CHECK(out[31 * 32 + 27] == at(0, 27, 31));
  CHECK(out[31 * 32 + 28] == 0.f);
  // Flip alone: a mirror image.
  const augmentation flip{true, 0, 0};
  flip.apply(src.data(), out.data());
  for (index_t x = 0; x < 32; ++x) CHECK(out[static_cast<std::size_t>(2048 + 7 * 32 + x)] == at(2, 7, 31 - x));
}

TEST_CASE("augmentation and prepare_batch work on the data set's image shape", "[data]") {
  // A 2x5x7 image (not square, not CIFAR-10's size); every byte is non-zero and distinct.
  using small = shape<2, 5, 7>;
  bytes src(static_cast<std::size_t>(small::size));
  for (std::size_t k = 0; k < src.size(); ++k) src[k] = static_cast<std::uint8_t>(1 + k);
  const auto at = [&](index_t c, index_t y, index_t x) { return float(src[static_cast<std::size_t>((c * 5 + y) * 7 + x)]) / 255.f; };
  const augmentation aug{true, 1, -2};
  std::vector<float> out(static_cast<std::size_t>(small::size) + 1, -1.f);  // one guard element
  aug.apply<small>(src.data(), out.data());
  for (index_t c = 0; c < 2; ++c)
    for (index_t y = 0; y < 5; ++y)
      for (index_t x = 0; x < 7; ++x) {
        // Output (y, x) reads input (y + 1, (6 - x) - 2).
        const index_t sy = y + 1, sx = 4 - x;
        const bool inside = sy < 5 && sx >= 0;
        INFO("c " << c << ", y " << y << ", x " << x);
        CHECK(out[static_cast<std::size_t>((c * 5 + y) * 7 + x)] == (inside ? at(c, sy, sx) : 0.f));
      }
  CHECK(out.back() == -1.f);

  image_dataset<small> d;
  d.append(src.data(), 1);
  d.append(src.data(), 0);
  const std::vector<index_t> order{1, 0};
  std::vector<float> batch(2 * static_cast<std::size_t>(small::size)), one(static_cast<std::size_t>(small::size));
  std::vector<int> labels(2);
  prepare_batch(d, order, 0, 2, true, 7, 0, batch.data(), labels.data());
  CHECK(labels == std::vector<int>{0, 1});
  for (index_t b = 0; b < 2; ++b) {
    augmentation::draw(7, 0, b).apply<small>(d.image(order[static_cast<std::size_t>(b)]), one.data());
    CHECK(std::equal(one.begin(), one.end(), batch.begin() + b * small::size));
  }
}

TEST_CASE("drawn augmentations cover shifts -4..4 and flip about half the time", "[data]") {
  std::array<int, 9> dy{}, dx{};
  int flips = 0;
  const int draws = 9000;
  std::set<std::tuple<bool, index_t, index_t>> distinct;
  for (int k = 0; k < draws; ++k) {
    const augmentation a = augmentation::draw(42, k / 300, k % 300);
    REQUIRE(a.dy >= -4);
    REQUIRE(a.dy <= 4);
    REQUIRE(a.dx >= -4);
    REQUIRE(a.dx <= 4);
    ++dy[static_cast<std::size_t>(a.dy + 4)];
    ++dx[static_cast<std::size_t>(a.dx + 4)];
    flips += a.flip;
    distinct.insert({a.flip, a.dy, a.dx});
  }
  for (int v = 0; v < 9; ++v) {
    INFO("shift " << v - 4);
    CHECK(dy[static_cast<std::size_t>(v)] > 800);  // expected 1000
    CHECK(dx[static_cast<std::size_t>(v)] > 800);
  }
  CHECK(flips > draws * 0.45);
  CHECK(flips < draws * 0.55);
  CHECK(distinct.size() == 2 * 9 * 9);
  // Deterministic in (seed, epoch, position); another seed draws differently.
  int same = 0;
  for (int k = 0; k < 100; ++k) {
    const augmentation a = augmentation::draw(42, 1, k), b = augmentation::draw(42, 1, k), c = augmentation::draw(43, 1, k);
    CHECK((a.flip == b.flip && a.dy == b.dy && a.dx == b.dx));
    same += a.flip == c.flip && a.dy == c.dy && a.dx == c.dx;
  }
  CHECK(same < 20);
}

}  // namespace test_cifar_data

// Labelled image data sets, and CIFAR-10 in the official binary layout: data_batch_1.bin ...
// data_batch_5.bin (training) and test_batch.bin (test), each a whole number of 3073-byte records
// (one label byte, then the 32x32 red, green and blue planes). Images stay as bytes (150 MB for
// the CIFAR-10 training set instead of 600 MB as float) and are converted per mini-batch.
#pragma once

#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "coda/core/error.hpp"
#include "coda/core/shape.hpp"
#include "coda/core/eigen.hpp"
#include "coda/detail/posix_file.hpp"

namespace coda {

inline constexpr std::array<const char*, 10> cifar10_classes{"airplane", "automobile", "bird",  "cat",  "deer",
                                                             "dog",      "frog",       "horse", "ship", "truck"};
using cifar10_image_shape = shape<3, 32, 32>;
inline constexpr index_t cifar_image_bytes = cifar10_image_shape::size;
inline constexpr index_t cifar_record_bytes = 1 + cifar_image_bytes;

/// Labelled images of shape Shape (C x H x W) as bytes, CHW order. The shape is part of the
/// type so that the functions which feed a data set to a network can check at compile time that
/// its images are the network's (detail::require_dataset_shape).
template <class Shape>
struct image_dataset {
  static_assert(is_shape_v<Shape> && Shape::rank == 3, "coda::image_dataset: the image shape must be a shape<C, H, W>");
  using image_shape = Shape;
  static constexpr index_t image_size = Shape::size;

  std::vector<std::uint8_t> pixels;
  std::vector<int> labels;

  index_t size() const { return static_cast<index_t>(labels.size()); }
  const std::uint8_t* image(index_t i) const { return pixels.data() + i * image_size; }
  /// Image i as floats in [0, 1].
  template <class T>
  void image_as(index_t i, T* out) const {
    Eigen::Map<Eigen::Array<T, image_size, 1>> floats(out);
    floats = Eigen::Map<const Eigen::Array<std::uint8_t, image_size, 1>>(image(i)).template cast<T>() / T(255);
  }
  void append(const std::uint8_t* image, int label) {
    pixels.insert(pixels.end(), image, image + image_size);
    labels.push_back(label);
  }
};

/// CIFAR-10 images, as the readers below return them.
using cifar10_dataset = image_dataset<cifar10_image_shape>;

enum class dataset_split { train, test };

namespace detail {

/// The compile-time check of every function that feeds the images of an image_dataset<Shape> to
/// a network: a network of another image shape would read past (or short of) each image.
template <class Net, class Shape>
constexpr void require_dataset_shape() {
  static_assert(std::is_same_v<typename Net::image_shape, Shape>,
                "coda: the data set's image shape differs from the network's image_shape: an image_dataset<S> feeds only "
                "networks of image shape S");
}

inline bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace detail

/// Rejects sizes that are not a positive whole number of records (checked before reading).
inline void check_cifar_binary_size(std::size_t size, const std::string& origin) {
  if (size == 0) CODA_THROW(format_error(origin + ": holds no records"));
  if (size % cifar_record_bytes != 0)
    CODA_THROW(format_error(origin + ": " + std::to_string(size) + " bytes is not a whole number of " +
                       std::to_string(cifar_record_bytes) + "-byte records (truncated or not CIFAR-10 binary)"));
}

/// Appends the records in `bytes` (a binary file's content); `origin` names the file in errors.
inline void parse_cifar_binary(const std::uint8_t* bytes, std::size_t size, const std::string& origin, cifar10_dataset& out) {
  check_cifar_binary_size(size, origin);
  const auto records = static_cast<index_t>(size / cifar_record_bytes);
  for (index_t r = 0; r < records; ++r)
    if (bytes[r * cifar_record_bytes] > 9)
      CODA_THROW(format_error(origin + ": record " + std::to_string(r) + " has label " + std::to_string(bytes[r * cifar_record_bytes]) +
                         " (expected 0-9)"));
  out.pixels.reserve(out.pixels.size() + static_cast<std::size_t>(records * cifar_image_bytes));
  for (index_t r = 0; r < records; ++r) out.append(bytes + r * cifar_record_bytes + 1, bytes[r * cifar_record_bytes]);
}

/// Appends the records of one binary file; every malformed case names the file.
inline void read_cifar_binary_file(const std::string& path, cifar10_dataset& out) {
  const std::vector<std::uint8_t> bytes = detail::read_file_bytes(path);
  check_cifar_binary_size(bytes.size(), path);
  parse_cifar_binary(bytes.data(), bytes.size(), path, out);
}

/// Whether `dir` holds the binary layout (test_batch.bin or data_batch_1.bin).
inline bool is_cifar_binary_dir(const std::string& dir) {
  return detail::file_exists(dir + "/test_batch.bin") || detail::file_exists(dir + "/data_batch_1.bin");
}

/// The training split (every data_batch_<k>.bin present for k = 1..5, in order; at least one) or
/// the test split (test_batch.bin).
inline cifar10_dataset read_cifar_binary(const std::string& dir, dataset_split split) {
  cifar10_dataset data;
  if (split == dataset_split::test) {
    read_cifar_binary_file(dir + "/test_batch.bin", data);
    return data;
  }
  for (int k = 1; k <= 5; ++k) {
    const std::string path = dir + "/data_batch_" + std::to_string(k) + ".bin";
    if (detail::file_exists(path)) read_cifar_binary_file(path, data);
  }
  if (data.size() == 0) CODA_THROW(io_error(dir + ": no data_batch_1.bin ... data_batch_5.bin (CIFAR-10 binary training files)"));
  return data;
}

/// Images [first, first + count) of a data set, copied (e.g. one process's share of a test set).
template <class Shape>
image_dataset<Shape> slice(const image_dataset<Shape>& data, index_t first, index_t count) {
  CODA_REQUIRE(first >= 0 && count >= 0 && first + count <= data.size(), "coda::slice: the range is outside the data set");
  image_dataset<Shape> part;
  part.pixels.assign(data.image(first), data.image(first) + count * Shape::size);
  part.labels.assign(data.labels.begin() + first, data.labels.begin() + first + count);
  return part;
}

/// A class-balanced subset of n images: the first images of each class in file order, n / 10
/// per class and one more for the first n % 10 classes; file order is kept.
inline cifar10_dataset balanced_subset(const cifar10_dataset& data, index_t n) {
  if (n <= 0 || n >= data.size()) return data;
  std::array<index_t, 10> quota{};
  for (index_t c = 0; c < 10; ++c) quota[static_cast<std::size_t>(c)] = n / 10 + (c < n % 10 ? 1 : 0);
  cifar10_dataset out;
  for (index_t i = 0; i < data.size() && out.size() < n; ++i) {
    auto& q = quota[static_cast<std::size_t>(data.labels[static_cast<std::size_t>(i)])];
    if (q > 0) {
      --q;
      out.append(data.image(i), data.labels[static_cast<std::size_t>(i)]);
    }
  }
  return out;
}

}  // namespace coda

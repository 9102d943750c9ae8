// CIFAR-10 data in the official binary layout: data_batch_1.bin ... data_batch_5.bin (training)
// and test_batch.bin (test), each a whole number of 3073-byte records (one label byte, then the
// 32x32 red, green and blue planes). Images stay as bytes (150 MB for the training set instead of
// 600 MB as float) and are converted per mini-batch.
#pragma once

#include <sys/stat.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "coda/core/error.hpp"
#include "coda/core/shape.hpp"
#include "coda/detail/eigen.hpp"
#include "coda/detail/posix_file.hpp"

namespace coda {

inline constexpr std::array<const char*, 10> cifar10_classes{"airplane", "automobile", "bird",  "cat",  "deer",
                                                             "dog",      "frog",       "horse", "ship", "truck"};
inline constexpr index_t cifar_image_bytes = 3 * 32 * 32;
inline constexpr index_t cifar_record_bytes = 1 + cifar_image_bytes;

/// Labelled 3x32x32 images as bytes, CHW order.
struct image_dataset {
  std::vector<std::uint8_t> pixels;
  std::vector<int> labels;

  index_t size() const { return static_cast<index_t>(labels.size()); }
  const std::uint8_t* image(index_t i) const { return pixels.data() + i * cifar_image_bytes; }
  /// Image i as floats in [0, 1].
  template <class T>
  void image_as(index_t i, T* out) const {
    Eigen::Map<Eigen::Array<T, cifar_image_bytes, 1>> floats(out);
    floats = Eigen::Map<const Eigen::Array<std::uint8_t, cifar_image_bytes, 1>>(image(i)).template cast<T>() / T(255);
  }
  void append(const std::uint8_t* image, int label) {
    pixels.insert(pixels.end(), image, image + cifar_image_bytes);
    labels.push_back(label);
  }
};

enum class dataset_split { train, test };

namespace detail {

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
inline void parse_cifar_binary(const std::uint8_t* bytes, std::size_t size, const std::string& origin, image_dataset& out) {
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
inline void read_cifar_binary_file(const std::string& path, image_dataset& out) {
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
inline image_dataset read_cifar_binary(const std::string& dir, dataset_split split) {
  image_dataset data;
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

/// A class-balanced subset of n images: the first images of each class in file order, n / 10
/// per class and one more for the first n % 10 classes; file order is kept.
inline image_dataset balanced_subset(const image_dataset& data, index_t n) {
  if (n <= 0 || n >= data.size()) return data;
  std::array<index_t, 10> quota{};
  for (index_t c = 0; c < 10; ++c) quota[static_cast<std::size_t>(c)] = n / 10 + (c < n % 10 ? 1 : 0);
  image_dataset out;
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

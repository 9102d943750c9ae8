// Image folders: DIR/train/<class>/*.png|jpg and DIR/test/<class>/*.png|jpg, classes in sorted
// order (label = position), files in sorted order within a class. list_image_folder() lists a
// split of any number of classes, for data sets whose images are decoded and transformed as they
// are used (data/image_transforms.hpp). read_image_folder() reads CIFAR-10 whole: every image
// must decode to the data set's image size, 32x32 (greyscale and alpha are converted to RGB); the
// first bad file, in that order, is reported by name. Decoding runs on several threads: 60,000
// small JPEGs take seconds.
#pragma once

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <exception>
#include <filesystem>
#include <functional>
#include <thread>

#include "coda/data/cifar.hpp"
#include "coda/io/image.hpp"

namespace coda {

namespace detail {

inline bool is_image_name(const std::filesystem::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

inline std::vector<std::filesystem::path> sorted_entries(const std::filesystem::path& dir, bool directories) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (directories ? it->is_directory() : (it->is_regular_file() && is_image_name(it->path()))) out.push_back(it->path());
  if (ec) CODA_THROW(io_error(dir.string() + ": cannot list: " + ec.message()));
  std::sort(out.begin(), out.end());
  return out;
}

/// DIR/train or DIR/test.
inline std::filesystem::path split_dir(const std::string& dir, dataset_split split) {
  return std::filesystem::path(dir) / (split == dataset_split::train ? "train" : "test");
}

}  // namespace detail

/// Whether `dir` holds the folder layout (a train/ or test/ subdirectory).
inline bool is_image_folder_dir(const std::string& dir) {
  std::error_code ec;
  return std::filesystem::is_directory(dir + "/train", ec) || std::filesystem::is_directory(dir + "/test", ec);
}

/// The images of one split of a folder data set: DIR/<split>/<class>/*.png|jpg, classes in sorted
/// order (label = position), files in sorted order within a class.
struct image_folder_listing {
  std::vector<std::string> classes;
  std::vector<std::filesystem::path> files;
  std::vector<int> labels;
};

/// Lists one split, of any number of classes; refuses a split without images.
inline image_folder_listing list_image_folder(const std::string& dir, dataset_split split) {
  const std::filesystem::path root = detail::split_dir(dir, split);
  std::error_code ec;
  if (!std::filesystem::is_directory(root, ec)) CODA_THROW(io_error(root.string() + ": no such directory"));
  image_folder_listing out;
  const auto classes = detail::sorted_entries(root, true);
  for (std::size_t c = 0; c < classes.size(); ++c) {
    out.classes.push_back(classes[c].filename().string());
    for (auto& f : detail::sorted_entries(classes[c], false)) {
      out.files.push_back(std::move(f));
      out.labels.push_back(static_cast<int>(c));
    }
  }
  if (out.files.empty()) CODA_THROW(format_error(root.string() + ": no .png or .jpg images in class directories"));
  return out;
}

/// A class-balanced subset of n images: the first of each class in listing order, n / K per class
/// and one more for the first n % K classes (K classes); the order is kept.
inline image_folder_listing balanced_subset(const image_folder_listing& all, index_t n) {
  const auto classes = static_cast<index_t>(all.classes.size());
  if (n <= 0 || n >= static_cast<index_t>(all.files.size()) || classes == 0) return all;
  std::vector<index_t> quota(all.classes.size());
  for (index_t c = 0; c < classes; ++c) quota[static_cast<std::size_t>(c)] = n / classes + (c < n % classes ? 1 : 0);
  image_folder_listing out{all.classes, {}, {}};
  for (std::size_t i = 0; i < all.files.size(); ++i)
    if (auto& q = quota[static_cast<std::size_t>(all.labels[i])]; q > 0) {
      --q;
      out.files.push_back(all.files[i]);
      out.labels.push_back(all.labels[i]);
    }
  return out;
}

/// Reads one split of CIFAR-10 in the folder layout (10 classes), images of shape Shape (3 x H x W)
/// and of exactly that size, with `threads` decoding threads (0: one per core);
/// `progress(done, total)` is called from the calling thread about ten times a second.
template <class Shape = cifar10_image_shape>
image_dataset<Shape> read_image_folder(const std::string& dir, dataset_split split, unsigned threads = 0,
                                       const std::function<void(index_t, index_t)>& progress = {}) {
  static_assert(Shape::dim(0) == 3, "coda::read_image_folder: images are decoded to RGB, so the shape needs 3 channels");
  constexpr index_t height = Shape::dim(1), width = Shape::dim(2);
  const image_folder_listing listing = list_image_folder(dir, split);
  if (listing.classes.size() != cifar10_classes.size())
    CODA_THROW(format_error(detail::split_dir(dir, split).string() + ": expected " + std::to_string(cifar10_classes.size()) +
                            " class directories, found " + std::to_string(listing.classes.size())));
  const auto& files = listing.files;
  const auto& labels = listing.labels;

  image_dataset<Shape> data;
  data.labels = labels;
  data.pixels.resize(files.size() * static_cast<std::size_t>(Shape::size));
  std::vector<std::string> errors(files.size());
  std::atomic<std::size_t> next{0}, done{0};
  const auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < files.size(); done.fetch_add(1)) {
      try {
        const rgb_image img = load_image(files[i].string());
        if (img.width != width || img.height != height)
          CODA_THROW(format_error(files[i].string() + ": image is " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                             ", expected " + std::to_string(width) + "x" + std::to_string(height)));
        std::copy(img.chw.begin(), img.chw.end(), data.pixels.begin() + static_cast<std::ptrdiff_t>(i * Shape::size));
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    }
  };
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(work);
  while (progress && done.load() < files.size()) {
    progress(static_cast<index_t>(done.load()), static_cast<index_t>(files.size()));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (auto& t : pool) t.join();
  if (progress) progress(static_cast<index_t>(files.size()), static_cast<index_t>(files.size()));
  for (const auto& e : errors)
    if (!e.empty()) CODA_THROW(format_error(e));
  return data;
}

}  // namespace coda

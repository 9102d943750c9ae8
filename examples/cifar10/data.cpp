#include "data.hpp"

#include <algorithm>
#include <coda/nn/init.hpp>

#include "args.hpp"

namespace cifar {

namespace {

// Independent streams of one run: shuffling and augmentation of each epoch.
std::uint64_t stream_key(std::uint64_t seed, coda::index_t epoch, std::uint64_t purpose) {
  return coda::detail::splitmix64(coda::detail::splitmix64(seed ^ purpose) + static_cast<std::uint64_t>(epoch));
}

constexpr std::uint64_t shuffle_stream = 0x5348554646ull, augment_stream = 0x4155474dull;

}  // namespace

coda::image_dataset load_split(const std::string& dir, const std::string& format, coda::dataset_split split,
                               coda::index_t limit) {
  const bool binary = format == "binary" || (format == "auto" && coda::is_cifar_binary_dir(dir));
  if (!binary) throw coda::io_error(dir + ": no CIFAR-10 binary files (data_batch_1.bin, test_batch.bin) found");
  return coda::balanced_subset(coda::read_cifar_binary(dir, split), limit);
}

std::vector<coda::index_t> epoch_order(coda::index_t n, std::uint64_t seed, coda::index_t epoch, bool shuffle) {
  std::vector<coda::index_t> order(static_cast<std::size_t>(n));
  for (coda::index_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  if (!shuffle) return order;
  const std::uint64_t key = stream_key(seed, epoch, shuffle_stream);
  for (coda::index_t i = n - 1; i > 0; --i) {  // Fisher-Yates
    const auto j = static_cast<coda::index_t>(coda::detail::uniform_at(key, static_cast<std::uint64_t>(i)) * double(i + 1));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  return order;
}

void prepare_batch(const coda::image_dataset& data, const std::vector<coda::index_t>& order, coda::index_t first,
                   coda::index_t n, bool augment, std::uint64_t seed, coda::index_t epoch, float* images, int* labels) {
  constexpr coda::index_t side = 32, plane = side * side, pad = 4;
  const std::uint64_t key = stream_key(seed, epoch, augment_stream);
  for (coda::index_t b = 0; b < n; ++b) {
    const coda::index_t pos = first + b, idx = order[static_cast<std::size_t>(pos)];
    labels[b] = data.labels[static_cast<std::size_t>(idx)];
    float* out = images + b * coda::cifar_image_bytes;
    if (!augment) {
      data.image_as(idx, out);
      continue;
    }
    const std::uint64_t r = coda::detail::splitmix64(key + static_cast<std::uint64_t>(pos));
    const bool flip = r & 1;
    const coda::index_t dy = static_cast<coda::index_t>((r >> 8) % (2 * pad + 1)) - pad;
    const coda::index_t dx = static_cast<coda::index_t>((r >> 16) % (2 * pad + 1)) - pad;
    const std::uint8_t* src = data.image(idx);
    for (coda::index_t c = 0; c < 3; ++c)
      for (coda::index_t y = 0; y < side; ++y)
        for (coda::index_t x = 0; x < side; ++x) {
          const coda::index_t sy = y + dy, sx0 = x + dx, sx = flip ? side - 1 - sx0 : sx0;
          const bool inside = sy >= 0 && sy < side && sx0 >= 0 && sx0 < side;
          out[c * plane + y * side + x] = inside ? float(src[c * plane + sy * side + sx]) / 255.f : 0.f;
        }
  }
}

}  // namespace cifar

// Data for coda-cifar10: loading a split in either layout (mini-batches and augmentation are
// coda/data/augment.hpp).
#pragma once

#include <coda/data/cifar.hpp>
#include <string>

namespace cifar {

/// Reads the train or test split of `dir` in `format` (auto|binary|folder; folders are decoded
/// on `threads` threads), keeping a class-balanced subset of `limit` images when limit > 0.
coda::cifar10_dataset load_split(const std::string& dir, const std::string& format, coda::dataset_split split,
                               coda::index_t limit, int threads);

}  // namespace cifar

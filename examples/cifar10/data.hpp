// Data for coda-cifar10: loading a split in either layout, the order of an epoch and mini-batch
// preparation with the paper's augmentation. Randomness is counter-based (SplitMix64 of the run
// seed, the epoch and the position in the epoch), so a run resumed at any mini-batch draws
// exactly what the uninterrupted run drew.
#pragma once

#include <coda/io/cifar.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace cifar {

/// Reads the train or test split of `dir` in `format` (auto|binary|folder), keeping a
/// class-balanced subset of `limit` images when limit > 0.
coda::image_dataset load_split(const std::string& dir, const std::string& format, coda::dataset_split split,
                               coda::index_t limit);

/// Indices of an epoch: file order, or a permutation drawn from (seed, epoch).
std::vector<coda::index_t> epoch_order(coda::index_t n, std::uint64_t seed, coda::index_t epoch, bool shuffle);

/// Images [n][3][32][32] in [0, 1] and labels of data[order[first .. first + n)]; with `augment`,
/// a random horizontal flip and a random 32x32 crop of the image zero-padded by 4 pixels, drawn
/// from (seed, epoch, position in the epoch).
void prepare_batch(const coda::image_dataset& data, const std::vector<coda::index_t>& order, coda::index_t first,
                   coda::index_t n, bool augment, std::uint64_t seed, coda::index_t epoch, float* images, int* labels);

}  // namespace cifar

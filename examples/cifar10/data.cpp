#include "data.hpp"

#include <coda/data/image_folder.hpp>

#include "progress.hpp"

namespace cifar {

coda::cifar10_dataset load_split(const std::string& dir, const std::string& format, coda::dataset_split split,
                               coda::index_t limit, int threads) {
  std::string layout = format;
  if (layout == "auto") {
    if (coda::is_cifar_binary_dir(dir))
      layout = "binary";
    else if (coda::is_image_folder_dir(dir))
      layout = "folder";
    else
      throw coda::io_error(dir + ": neither the CIFAR-10 binary layout (data_batch_1.bin, test_batch.bin) nor an image "
                                 "folder (train/<class>/, test/<class>/)");
  }
  if (layout == "binary") return coda::balanced_subset(coda::read_cifar_binary(dir, split), limit);
  progress bar(std::string("decode ") + (split == coda::dataset_split::train ? "train" : "test"), 0);
  auto data = coda::read_image_folder(dir, split, static_cast<unsigned>(threads), [&](coda::index_t done, coda::index_t total) {
    bar.set_total(total);
    bar.update(done);
  });
  bar.finish();
  return coda::balanced_subset(data, limit);
}

}  // namespace cifar

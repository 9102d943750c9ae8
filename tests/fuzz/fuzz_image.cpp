// libFuzzer target: the image decoder path of `coda-cifar10 explain --image` and of image-folder
// data sets (stb decode with a size bound, then the resize to 32x32).
#include <cstdint>
#include <vector>

#include "coda/io/image.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto img = coda::decode_image(std::vector<std::uint8_t>(data, data + size), "fuzz.png");
    const auto small = coda::resize_image(img, 32, 32);
    (void)small;
  } catch (const coda::error&) {
  }
  return 0;
}

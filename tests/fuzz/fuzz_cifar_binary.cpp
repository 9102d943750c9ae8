// libFuzzer target: the CIFAR-10 binary record reader.
#include <cstdint>

#include "coda/data/cifar.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    coda::cifar10_dataset out;
    coda::parse_cifar_binary(data, size, "fuzz.bin", out);
    const auto subset = coda::balanced_subset(out, out.size() / 2);
    (void)subset;
  } catch (const coda::error&) {
  }
  return 0;
}

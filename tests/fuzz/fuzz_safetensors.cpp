// libFuzzer target: the safetensors reader and the model reader behind it. Any input must either
// parse or be rejected with a coda::error; anything else (a crash, a sanitizer report, another
// exception, a huge allocation) is a finding.
#include <cstdint>
#include <vector>

#include "coda/io/model_file.hpp"

namespace {
using small_net = coda::network<float, coda::shape<3, 8, 8>, coda::dau_conv<6, 4, 2, 3, 1, 1>, coda::dau_conv<4, 3, 2, 1, 1, 0>>;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const auto file = coda::safetensors_file::parse(std::vector<std::uint8_t>(data, data + size), "fuzz.safetensors");
    for (const auto& e : file.tensors()) {
      if (e.type != coda::dtype::f32 && e.type != coda::dtype::f64) continue;
      std::vector<double> values(static_cast<std::size_t>(e.element_count()));
      file.copy_to(e, values.data());
    }
    coda::read_model_metadata(file);
    coda::model_from_file<small_net>(file);
  } catch (const coda::error&) {
  }
  return 0;
}

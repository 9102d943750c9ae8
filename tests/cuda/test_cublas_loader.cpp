// cuBLAS is loaded when the first CUDA backend is made, not at process start
// (src/cuda/cublas_loader.hpp). This executable links coda_cuda; loading cuBLAS and asking it for a
// status name need no GPU, so the test runs on every machine that builds the CUDA library.
#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "coda/cuda/runtime.hpp"
#include "cublas_loader.hpp"

namespace {

bool cublas_is_mapped() {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find("libcublas") != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("cuBLAS is loaded on first use, with every entry point the backend calls", "[cuda][cublas]") {
  std::string reason;
  (void)coda::cuda::available(&reason);  // the device check runs without cuBLAS, GPU or not
  INFO("device check: " << (reason.empty() ? "a usable GPU" : reason));
  REQUIRE_FALSE(cublas_is_mapped());

  const coda::cuda::detail::cublas_api& api = coda::cuda::detail::cublas();
  CHECK(cublas_is_mapped());
  CHECK(std::string(api.status_name(CUBLAS_STATUS_NOT_INITIALIZED)) == "CUBLAS_STATUS_NOT_INITIALIZED");
  CHECK_FALSE(std::string(api.status_string(CUBLAS_STATUS_NOT_INITIALIZED)).empty());
  CHECK((api.create && api.destroy && api.set_stream && api.set_math_mode && api.sgemm && api.sgemm_strided_batched));
  CHECK(&coda::cuda::detail::cublas() == &api);
}

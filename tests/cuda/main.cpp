// Runner of the CUDA parity tests: without a usable device there is nothing to test here, so
// the executable says why and exits with 77, which CTest reports as a skip (SKIP_RETURN_CODE).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "coda/cuda/runtime.hpp"

int main(int argc, char** argv) {
  std::string reason;
  if (!coda::cuda::available(&reason)) {
    std::printf("SKIPPED: %s\n", reason.c_str());
    return 77;
  }
  return Catch::Session().run(argc, argv);
}

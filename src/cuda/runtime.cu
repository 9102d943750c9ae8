// coda::cuda::available(): whether this process can run the library's kernels.
#include <string>

#include "coda/cuda/runtime.hpp"
#include "cuda_backend.cuh"

namespace coda::cuda {

bool available(std::string* reason) {
  const auto fail = [&](const std::string& why) {
    if (reason) *reason = why;
    return false;
  };
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear it, so that later calls do not report it again
    // Without any NVIDIA driver the runtime reports an "insufficient" one: say both.
    const char* hint = e == cudaErrorInsufficientDriver ? " (no NVIDIA driver, or one older than this CUDA runtime)" : "";
    return fail("no CUDA device: " + detail::error_text(e) + hint);
  }
  if (count == 0) return fail("no CUDA device: cudaGetDeviceCount reports none");
  int device = 0, major = 0, minor = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) {
    const cudaError_t last = cudaGetLastError();
    return fail("CUDA device unusable: " + detail::error_text(last));
  }
  if (major < 9)
    return fail("CUDA device " + std::to_string(device) + " has compute capability " + std::to_string(major) + "." +
                std::to_string(minor) + "; coda_cuda carries code for 9.0 and newer only");
  if (reason) reason->clear();
  return true;
}

}  // namespace coda::cuda

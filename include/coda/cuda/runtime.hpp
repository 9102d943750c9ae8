// The CUDA runtime as the rest of the library sees it: an error type and a device check. No CUDA
// header is included, so that CPU-only code and documentation build without the toolkit; the
// definitions live in the coda_cuda library (src/cuda/), built when CODA_WITH_CUDA is ON.
#pragma once

#include <string>

#include "coda/core/error.hpp"

namespace coda::cuda {

/// A failed CUDA or cuBLAS call. The message names the operation and carries CUDA's error name
/// and string, e.g. "cudaMalloc (412 MB): cudaErrorMemoryAllocation: out of memory".
class cuda_error : public error {
 public:
  using error::error;
};

/// Whether a CUDA device this library can run on (compute capability 9.0 or newer: the library
/// carries sm_90 code and compute_90 PTX) is present. When not, `reason` (if given) receives why,
/// e.g. "no CUDA device: cudaErrorNoDevice: no CUDA-capable device is detected".
bool available(std::string* reason = nullptr);

}  // namespace coda::cuda

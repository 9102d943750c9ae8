// cuBLAS, loaded with dlopen when the first CUDA backend is made instead of linked. Linking it
// runs the static constructors of libcublas and libcublasLt in every process that links
// coda_cuda, GPU or not: 0.8 s and 220 MB of resident memory on the CI machine, which every
// coda-cifar10 command paid, CPU-only ones included. Host code only: no CUDA kernels here.
#pragma once

#include <cublas_v2.h>
#include <dlfcn.h>

#include <string>

#include "coda/cuda/runtime.hpp"

namespace coda::cuda::detail {

/// The cuBLAS entry points the backend uses (the _v2 names that cublas_v2.h maps the plain ones to).
struct cublas_api {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasDestroy_v2) destroy = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSetMathMode) set_math_mode = nullptr;
  decltype(&cublasSgemm_v2) sgemm = nullptr;
  decltype(&cublasSgemmStridedBatched) sgemm_strided_batched = nullptr;
  decltype(&cublasGetStatusName) status_name = nullptr;
  decltype(&cublasGetStatusString) status_string = nullptr;
};

/// The library of the cuBLAS major version this code was compiled against, by soname (the
/// executable's run path or the loader's search path), then in the toolkit's directory.
inline void* open_cublas() {
  const std::string soname = "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR);
  if (void* handle = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL)) return handle;
  std::string why = dlerror();
#ifdef CODA_CUBLAS_LIBRARY_DIR
  const std::string in_toolkit = std::string(CODA_CUBLAS_LIBRARY_DIR) + "/" + soname;
  if (void* handle = dlopen(in_toolkit.c_str(), RTLD_NOW | RTLD_LOCAL)) return handle;
  why += "; " + std::string(dlerror());
#endif
  throw cuda_error("cannot load cuBLAS (" + soname + "): " + why);
}

template <class F>
void resolve(void* library, const char* name, F& entry) {
  entry = reinterpret_cast<F>(dlsym(library, name));
  if (!entry) throw cuda_error(std::string("cuBLAS has no entry point ") + name + ": " + dlerror());
}

inline cublas_api load_cublas() {
  void* library = open_cublas();  // never closed: the process keeps cuBLAS once it has used it
  cublas_api api;
  resolve(library, "cublasCreate_v2", api.create);
  resolve(library, "cublasDestroy_v2", api.destroy);
  resolve(library, "cublasSetStream_v2", api.set_stream);
  resolve(library, "cublasSetMathMode", api.set_math_mode);
  resolve(library, "cublasSgemm_v2", api.sgemm);
  resolve(library, "cublasSgemmStridedBatched", api.sgemm_strided_batched);
  resolve(library, "cublasGetStatusName", api.status_name);
  resolve(library, "cublasGetStatusString", api.status_string);
  return api;
}

/// cuBLAS, loaded on the first call (thread-safe); throws cuda_error when it cannot be loaded,
/// and again on later calls.
inline const cublas_api& cublas() {
  static const cublas_api api = load_cublas();
  return api;
}

}  // namespace coda::cuda::detail

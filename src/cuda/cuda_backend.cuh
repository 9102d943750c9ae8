// The engine's backend on a CUDA device: buffers from cudaMalloc, one non-blocking stream that
// orders every copy, kernel and cuBLAS call of a network, and cuBLAS SGEMM in full FP32
// (CUBLAS_PEDANTIC_MATH: never TF32, so that results agree with the CPU to float rounding).
// Every CUDA and cuBLAS status is checked and turned into cuda_error.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <string>
#include <utility>

#include "backend.cuh"
#include "cublas_loader.hpp"
#include "coda/cuda/runtime.hpp"

namespace coda::cuda::detail {

inline std::string error_text(cudaError_t e) { return std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e); }

inline void check(cudaError_t e, const std::string& what) {
  if (e != cudaSuccess) throw cuda_error(what + ": " + error_text(e));
}

inline void check(cublasStatus_t s, const std::string& what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    throw cuda_error(what + ": " + cublas().status_name(s) + ": " + cublas().status_string(s));
}

/// Grid-stride loop over the items of a functor (kernels.cuh).
template <class F>
__global__ void elementwise_kernel(F f, index_t n) {
  const index_t step = index_t(gridDim.x) * blockDim.x;
  for (index_t i = index_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) f(i);
}

class cuda_backend {
 public:
  template <class T>
  class buffer {
   public:
    buffer() = default;
    explicit buffer(std::size_t count) : size_(count) {
      if (count == 0) return;
      void* p = nullptr;
      check(cudaMalloc(&p, count * sizeof(T)),
            "cudaMalloc (" + std::to_string(count * sizeof(T)) + " bytes)");
      data_ = static_cast<T*>(p);
      // Buffers start zeroed like the host backend's. cudaMemset runs on the legacy default
      // stream, which a non-blocking stream does not wait for: wait here (allocation is rare).
      try {
        check(cudaMemset(data_, 0, count * sizeof(T)), "cudaMemset");
        check(cudaDeviceSynchronize(), "cudaDeviceSynchronize (after cudaMemset)");
      } catch (...) {
        cudaFree(data_);
        throw;
      }
    }
    buffer(buffer&& o) noexcept : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    buffer& operator=(buffer&& o) noexcept {
      std::swap(data_, o.data_);
      std::swap(size_, o.size_);
      return *this;
    }
    buffer(const buffer&) = delete;
    buffer& operator=(const buffer&) = delete;
    ~buffer() {
      if (data_) cudaFree(data_);  // cannot throw from here; a failure has been reported earlier
    }

    T* data() { return data_; }
    const T* data() const { return data_; }
    std::size_t size() const { return size_; }

   private:
    T* data_ = nullptr;
    std::size_t size_ = 0;
  };

  cuda_backend() {
    check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    try {
      check(cublas().create(&handle_), "cublasCreate");
      check(cublas().set_stream(handle_, stream_), "cublasSetStream");
      check(cublas().set_math_mode(handle_, CUBLAS_PEDANTIC_MATH), "cublasSetMathMode");
    } catch (...) {
      release();
      throw;
    }
  }
  ~cuda_backend() { release(); }
  cuda_backend(const cuda_backend&) = delete;
  cuda_backend& operator=(const cuda_backend&) = delete;

  template <class F>
  void launch(index_t n, const F& f) {
    if (n <= 0) return;
    constexpr index_t threads = 256;
    const index_t blocks = std::min<index_t>((n + threads - 1) / threads, index_t(1) << 20);
    elementwise_kernel<<<static_cast<unsigned>(blocks), static_cast<unsigned>(threads), 0, stream_>>>(f, n);
    check(cudaGetLastError(), "kernel launch");
  }

  void gemm(const gemm_args& args) {
    const column_major_gemm g = to_column_major(args);
    const float one = 1.0f;
    const cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (g.batch == 1)
      check(cublas().sgemm(handle_, op_a, op_b, to_int(g.m), to_int(g.n), to_int(g.k), &one, g.a, to_int(g.lda), g.b,
                        to_int(g.ldb), &g.beta, g.c, to_int(g.ldc)),
            "cublasSgemm");
    else
      check(cublas().sgemm_strided_batched(handle_, op_a, op_b, to_int(g.m), to_int(g.n), to_int(g.k), &one, g.a, to_int(g.lda),
                                      g.stride_a, g.b, to_int(g.ldb), g.stride_b, &g.beta, g.c, to_int(g.ldc), g.stride_c,
                                      to_int(g.batch)),
            "cublasSgemmStridedBatched");
  }

  template <class T>
  void upload(T* dst, const T* host, std::size_t n) {
    // From pageable memory the copy is staged before the call returns, so `host` may change
    // afterwards; being on the stream, it waits for the kernels still reading `dst`.
    if (n) check(cudaMemcpyAsync(dst, host, n * sizeof(T), cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync (to device)");
  }
  template <class T>
  void download(T* host, const T* src, std::size_t n) {
    if (n) check(cudaMemcpyAsync(host, src, n * sizeof(T), cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync (to host)");
    synchronize();
  }
  template <class T>
  void zero(T* dst, std::size_t n) {
    if (n) check(cudaMemsetAsync(dst, 0, n * sizeof(T), stream_), "cudaMemsetAsync");
  }
  void synchronize() { check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }

 private:
  static int to_int(index_t v) {
    if (v < 0 || v > INT_MAX) throw cuda_error("cuBLAS: dimension " + std::to_string(v) + " exceeds its 32-bit range");
    return static_cast<int>(v);
  }

  void release() noexcept {
    if (handle_) cublas().destroy(handle_);
    if (stream_) cudaStreamDestroy(stream_);
    handle_ = nullptr;
    stream_ = nullptr;
  }

  cudaStream_t stream_ = nullptr;
  cublasHandle_t handle_ = nullptr;
};

}  // namespace coda::cuda::detail

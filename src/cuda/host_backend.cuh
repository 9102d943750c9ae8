// The host emulation of cuda_backend: the same per-item functors run in a plain loop, and GEMMs
// are naive loops. It exists to test the engine's index arithmetic and algebra against the CPU
// library on machines without a GPU (tests/cuda/test_emulation.cpp); it is not meant to be fast.
// Every item of a launch writes its own outputs, so sequential execution is one of the orders a
// GPU may choose.
#pragma once

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "backend.cuh"

namespace coda::cuda::detail {

class host_backend {
  /// Element (i, p) of op(M) for a column-major M with leading dimension ld.
  static float element(bool transposed, const float* m, index_t ld, index_t i, index_t p) {
    return transposed ? m[p + i * ld] : m[i + p * ld];
  }

 public:
  template <class T>
  class buffer {
   public:
    buffer() = default;
    explicit buffer(std::size_t count) : data_(count, T(0)) {}
    T* data() { return data_.data(); }
    const T* data() const { return data_.data(); }
    std::size_t size() const { return data_.size(); }

   private:
    std::vector<T> data_;
  };

  template <class F>
  void launch(index_t n, const F& f) {
    for (index_t i = 0; i < n; ++i) f(i);
  }

  /// Runs the column-major call cuda_backend hands to cuBLAS (to_column_major), with cuBLAS's
  /// argument checks, so that the emulation tests the row-major to column-major mapping too.
  void gemm(const gemm_args& args) {
    const column_major_gemm g = to_column_major(args);
    const auto at_least = [](index_t ld, index_t rows) { return ld >= (rows > 1 ? rows : 1); };
    if (g.m < 0 || g.n < 0 || g.k < 0 || g.batch < 1 || !at_least(g.lda, g.trans_a ? g.k : g.m) ||
        !at_least(g.ldb, g.trans_b ? g.n : g.k) || !at_least(g.ldc, g.m))
      throw std::logic_error("host_backend::gemm: cuBLAS would refuse these arguments (CUBLAS_STATUS_INVALID_VALUE)");
    std::vector<float> column(static_cast<std::size_t>(g.m));
    for (index_t s = 0; s < g.batch; ++s) {
      const float* a = g.a + s * g.stride_a;
      const float* b = g.b + s * g.stride_b;
      float* c = g.c + s * g.stride_c;
      for (index_t j = 0; j < g.n; ++j) {
        std::fill(column.begin(), column.end(), 0.0f);
        if (g.trans_a) {  // dot products along contiguous columns of the stored A
          for (index_t i = 0; i < g.m; ++i) {
            float dot = 0;
            for (index_t p = 0; p < g.k; ++p) dot += a[p + i * g.lda] * element(g.trans_b, b, g.ldb, p, j);
            column[static_cast<std::size_t>(i)] = dot;
          }
        } else {  // columns of C accumulated from contiguous columns of A
          for (index_t p = 0; p < g.k; ++p) {
            const float bpj = element(g.trans_b, b, g.ldb, p, j);
            for (index_t i = 0; i < g.m; ++i) column[static_cast<std::size_t>(i)] += a[i + p * g.lda] * bpj;
          }
        }
        float* cj = c + j * g.ldc;
        for (index_t i = 0; i < g.m; ++i) {
          const float v = column[static_cast<std::size_t>(i)];
          cj[i] = g.beta == 0.0f ? v : v + g.beta * cj[i];
        }
      }
    }
  }

  template <class T>
  void upload(T* dst, const T* host, std::size_t n) {
    if (n) std::memcpy(dst, host, n * sizeof(T));
  }
  template <class T>
  void download(T* host, const T* src, std::size_t n) {
    if (n) std::memcpy(host, src, n * sizeof(T));
  }
  template <class T>
  void zero(T* dst, std::size_t n) {
    std::fill(dst, dst + n, T(0));
  }
  void synchronize() {}
};

}  // namespace coda::cuda::detail

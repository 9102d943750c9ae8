// What the engine (engine.cuh) needs from the machine it runs on. Two backends provide it:
// cuda_backend (cudaMalloc'ed buffers, kernels on a stream, cuBLAS) and host_backend (the same
// per-item functors in plain loops and a naive GEMM: an emulation for testing without a GPU).
// A backend B provides
//   B::buffer<T>(count)                  owning storage, zero-filled, with data() and size()
//   launch(n, f)                         f(i) for every i in [0, n), in any order
//   gemm(gemm_args)                      see below
//   upload(dst, host, n), download(host, src, n), zero(dst, n)
//   synchronize()                        waits for everything queued (download does too)
#pragma once

#include "coda/core/shape.hpp"

namespace coda::cuda::detail {

/// A row-major operand: element (i, p) of op(A) is data[i * ld + p], or data[p * ld + i] when
/// `transposed`. `stride` separates the operands of a batched GEMM (0: shared by all).
struct matrix_arg {
  const float* data;
  index_t ld;
  bool transposed = false;
  index_t stride = 0;
};

/// C[m][n] = op(A)[m][k] op(B)[k][n] + beta C, row-major with leading dimension ldc, `batch`
/// times with every operand advanced by its stride. beta = 0 never reads C.
struct gemm_args {
  index_t m, n, k;
  matrix_arg a, b;
  float* c;
  index_t ldc;
  float beta = 0;
  index_t stride_c = 0;
  index_t batch = 1;
};

/// The same product as a BLAS (column-major) call, as cuBLAS takes it: C[m][n] (column-major,
/// element (i, j) at c[i + j * ldc]) = op(A) op(B) + beta C.
struct column_major_gemm {
  bool trans_a, trans_b;
  index_t m, n, k;
  const float* a;
  index_t lda, stride_a;
  const float* b;
  index_t ldb, stride_b;
  float beta;
  float* c;
  index_t ldc, stride_c;
  index_t batch;
};

/// A row-major matrix read column-major is its transpose, so the row-major C = op(A) op(B) is
/// the column-major C^T = op(B)^T op(A)^T: the operands swap places (and m with n) and keep
/// their transposition flags and leading dimensions. Example: t = B^T cols in forward_layer,
/// row-major [O*R][NP] = (b [J][O*R] transposed) x (cols [J][NP]), becomes
/// C^T (NP x O*R) = cols' (NP x J, no transposition, ld NP) x b' (J x O*R, transposed, ld O*R).
constexpr column_major_gemm to_column_major(const gemm_args& g) {
  return {g.b.transposed, g.a.transposed, g.n, g.m, g.k, g.b.data, g.b.ld, g.b.stride, g.a.data, g.a.ld,
          g.a.stride, g.beta, g.c, g.ldc, g.stride_c, g.batch};
}

}  // namespace coda::cuda::detail

// The transposing copy the GEMM's packing makes of an operand whose rows are its reduction
// dimension's stride (a weight matrix read transposed, Winograd's gradient tiles): out[p][j] =
// in[j][p]. Element by element, it is one load and one store per value, scattered over the
// panel; with AVX, 8x8 blocks are transposed in registers (eight loads, 24 shuffles, eight
// stores). The block is the same in every build; the values are only moved, so the result does
// not depend on the path.
#pragma once

#include <type_traits>

#include "coda/core/shape.hpp"

#if !defined(CODA_NO_SIMD) && defined(__AVX__)
#include <immintrin.h>
#define CODA_SIMD_TRANSPOSE_AVX 1
#endif

namespace coda::simd {

namespace detail {

/// out[p * ld + j] = in[j * stride + p] for p < rows, j < count, one element at a time.
template <class T>
void transpose_elements(const T* in, index_t stride, index_t rows, index_t count, T* out, index_t ld) {
  for (index_t j = 0; j < count; ++j)
    for (index_t p = 0; p < rows; ++p) out[p * ld + j] = in[j * stride + p];
}

#ifdef CODA_SIMD_TRANSPOSE_AVX
/// An 8x8 block of floats: out row p = column p of the eight rows in[j * stride].
inline void transpose_8x8(const float* in, index_t stride, float* out, index_t ld) {
  __m256 r[8], t[8], s[8];
  for (int j = 0; j < 8; ++j) r[j] = _mm256_loadu_ps(in + j * stride);
  for (int j = 0; j < 8; j += 2) {  // pairs of rows interleaved within 128-bit lanes
    t[j] = _mm256_unpacklo_ps(r[j], r[j + 1]);
    t[j + 1] = _mm256_unpackhi_ps(r[j], r[j + 1]);
  }
  for (int j = 0; j < 8; j += 4) {  // 4x4 blocks transposed within lanes
    s[j] = _mm256_shuffle_ps(t[j], t[j + 2], 0x44);
    s[j + 1] = _mm256_shuffle_ps(t[j], t[j + 2], 0xEE);
    s[j + 2] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0x44);
    s[j + 3] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0xEE);
  }
  for (int p = 0; p < 4; ++p) {  // the low lanes give columns 0-3, the high lanes 4-7
    _mm256_storeu_ps(out + p * ld, _mm256_permute2f128_ps(s[p], s[p + 4], 0x20));
    _mm256_storeu_ps(out + (p + 4) * ld, _mm256_permute2f128_ps(s[p], s[p + 4], 0x31));
  }
}
#endif

}  // namespace detail

/// out[p * ld + j] = in[j * stride + p] for p < rows, j < count.
template <class T>
void transpose_copy(const T* in, index_t stride, index_t rows, index_t count, T* out, index_t ld) {
#ifdef CODA_SIMD_TRANSPOSE_AVX
  if constexpr (std::is_same_v<T, float>) {
    constexpr index_t b = 8;
    const index_t whole_rows = rows / b * b, whole_count = count / b * b;
    for (index_t j = 0; j < whole_count; j += b)
      for (index_t p = 0; p < whole_rows; p += b) detail::transpose_8x8(in + j * stride + p, stride, out + p * ld + j, ld);
    detail::transpose_elements(in + whole_rows, stride, rows - whole_rows, whole_count, out + whole_rows * ld, ld);
    detail::transpose_elements(in + whole_count * stride, stride, rows, count - whole_count, out + whole_count, ld);
    return;
  }
#endif
  detail::transpose_elements(in, stride, rows, count, out, ld);
}

}  // namespace coda::simd

// Patch extraction (im2col) and its adjoint (col2im) for one image. A patch is flattened
// channel-major exactly like torch.nn.functional.unfold: row j = c*k*k + ky*k + kx of the
// J x P patch matrix, column q = oy*Wo + ox.
#pragma once

#include <algorithm>

#include "coda/core/shape.hpp"

namespace coda::kernels {

/// Runtime description of one convolution over one image.
struct conv_dims {
  index_t channels, height, width, kernel, stride, pad;

  constexpr index_t out_height() const { return conv_output_extent(height, kernel, stride, pad); }
  constexpr index_t out_width() const { return conv_output_extent(width, kernel, stride, pad); }
  constexpr index_t positions() const { return out_height() * out_width(); }
  constexpr index_t patch_size() const { return channels * kernel * kernel; }
  constexpr index_t image_size() const { return channels * height * width; }
};

/// cols[j][q] for q in [q0, q0 + nq), written with leading dimension ldc.
template <class T>
void im2col(const conv_dims& d, const T* image, T* cols, index_t ldc, index_t q0, index_t nq) {
  const index_t wo = d.out_width();
  for (index_t c = 0; c < d.channels; ++c)
    for (index_t ky = 0; ky < d.kernel; ++ky)
      for (index_t kx = 0; kx < d.kernel; ++kx) {
        T* row = cols + ((c * d.kernel + ky) * d.kernel + kx) * ldc;
        const T* plane = image + c * d.height * d.width;
        for (index_t q = q0; q < q0 + nq; ++q) {
          const index_t iy = (q / wo) * d.stride - d.pad + ky;
          const index_t ix = (q % wo) * d.stride - d.pad + kx;
          const bool inside = iy >= 0 && iy < d.height && ix >= 0 && ix < d.width;
          row[q - q0] = inside ? plane[iy * d.width + ix] : T(0);
        }
      }
}

/// image += col2im(cols) for columns [q0, q0 + nq): the adjoint of im2col.
template <class T>
void col2im_add(const conv_dims& d, const T* cols, index_t ldc, index_t q0, index_t nq, T* image) {
  const index_t wo = d.out_width();
  for (index_t c = 0; c < d.channels; ++c)
    for (index_t ky = 0; ky < d.kernel; ++ky)
      for (index_t kx = 0; kx < d.kernel; ++kx) {
        const T* row = cols + ((c * d.kernel + ky) * d.kernel + kx) * ldc;
        T* plane = image + c * d.height * d.width;
        for (index_t q = q0; q < q0 + nq; ++q) {
          const index_t iy = (q / wo) * d.stride - d.pad + ky;
          const index_t ix = (q % wo) * d.stride - d.pad + kx;
          if (iy >= 0 && iy < d.height && ix >= 0 && ix < d.width) plane[iy * d.width + ix] += row[q - q0];
        }
      }
}

}  // namespace coda::kernels

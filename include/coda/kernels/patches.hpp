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

namespace detail {

// Calls f(j, column offset, n, image offset or -1, input stride) for every run of patch
// entries that lies in one output row: entries whose input pixels fall in the padding come as
// runs with offset -1. Divisions happen once per run, not per entry, and runs that read the
// image are contiguous in it for stride 1, which lets the copies vectorise.
template <class F>
void for_each_patch_run(const conv_dims& d, index_t q0, index_t nq, F&& f) {
  const index_t wo = d.out_width(), s = d.stride;
  for (index_t c = 0; c < d.channels; ++c)
    for (index_t ky = 0; ky < d.kernel; ++ky)
      for (index_t kx = 0; kx < d.kernel; ++kx) {
        const index_t j = (c * d.kernel + ky) * d.kernel + kx;
        // Output columns whose input column ox*s - pad + kx lies in [0, width).
        const index_t ox_min = d.pad > kx ? (d.pad - kx + s - 1) / s : 0;
        const index_t ox_max = std::min(wo, d.width - 1 + d.pad - kx >= 0 ? (d.width - 1 + d.pad - kx) / s + 1 : 0);
        for (index_t q = q0; q < q0 + nq;) {
          const index_t oy = q / wo, ox0 = q % wo, n = std::min(wo - ox0, q0 + nq - q);
          const index_t iy = oy * s - d.pad + ky;
          if (iy < 0 || iy >= d.height) {
            f(j, q - q0, n, index_t(-1), s);
          } else {
            const index_t lo = std::clamp(ox_min, ox0, ox0 + n), hi = std::clamp(ox_max, lo, ox0 + n);
            const index_t base = (c * d.height + iy) * d.width - d.pad + kx;
            if (lo > ox0) f(j, q - q0, lo - ox0, index_t(-1), s);
            if (hi > lo) f(j, q - q0 + lo - ox0, hi - lo, base + lo * s, s);
            if (ox0 + n > hi) f(j, q - q0 + hi - ox0, ox0 + n - hi, index_t(-1), s);
          }
          q += n;
        }
      }
}

}  // namespace detail

/// cols[j][q - q0] for q in [q0, q0 + nq), written with leading dimension ldc.
template <class T>
void im2col(const conv_dims& d, const T* image, T* cols, index_t ldc, index_t q0, index_t nq) {
  detail::for_each_patch_run(d, q0, nq, [&](index_t j, index_t at, index_t n, index_t src, index_t s) {
    T* out = cols + j * ldc + at;
    if (src < 0)
      std::fill(out, out + n, T(0));
    else if (s == 1)
      std::copy(image + src, image + src + n, out);
    else
      for (index_t i = 0; i < n; ++i) out[i] = image[src + i * s];
  });
}

/// image += col2im(cols) for columns [q0, q0 + nq): the adjoint of im2col.
template <class T>
void col2im_add(const conv_dims& d, const T* cols, index_t ldc, index_t q0, index_t nq, T* image) {
  detail::for_each_patch_run(d, q0, nq, [&](index_t j, index_t at, index_t n, index_t dst, index_t s) {
    if (dst < 0) return;
    const T* in = cols + j * ldc + at;
    for (index_t i = 0; i < n; ++i) image[dst + i * s] += in[i];
  });
}

}  // namespace coda::kernels

// Per-element device code of the CUDA implementation. Every kernel is a functor whose
// operator()(i) computes work item i and writes nothing that another item writes, so that one
// generic launcher runs it on the GPU (one thread per item, cuda_backend.cuh) and the host
// emulation runs the very same code in a plain loop (host_backend.cuh): that is how the index
// arithmetic and the algebra are tested on machines without a GPU. Plain C++ only (no CUDA
// header, no Eigen): g++ compiles this file for the emulation, nvcc for the device.
//
// Layouts, with N images in the batch, P = Ho*Wo output positions of a layer, NP = N*P:
//   activations  [C][N][H][W]  channel-major over the batch, so that a layer's output [O][N][P]
//                              is the next layer's input as it stands, and every GEMM with
//                              shared weights is one GEMM over all NP columns
//   cols         [J][NP]       im2col of the batch: row j = c*k*k + ky*k + kx (unfold order),
//                              column n*P + q, q = oy*Wo + ox
//   z [R][NP], t [O*R][NP], d / n2 / scale [O][NP]      as coda::kernels::dau_state
//   seeds        [K][C][N][H][W]  K gradients travel together (the explanation of K classes)
// The formulas, and the order of every sum that is not a GEMM, are those of
// coda/kernels/dau_fast.hpp, coda/nn/norm.hpp, the backward rules of coda/nn/ and
// coda/nn/optimizer.hpp; the exceptions are the head's sums over positions and the losses' sums
// over classes, which the CPU leaves to Eigen (vectorised, so in another order).
#pragma once

#include <math.h>

#include "coda/core/shape.hpp"

#if defined(__CUDACC__)
#define CODA_HD __host__ __device__
#else
#define CODA_HD
#endif

// Register arrays stay in registers only when the loops over them are unrolled.
#if defined(__CUDA_ARCH__)
#define CODA_UNROLL _Pragma("unroll")
#else
#define CODA_UNROLL
#endif

namespace coda::cuda::detail {

/// One DAU layer's convolution over a batch of N images.
struct conv_geometry {
  index_t channels, height, width, kernel, stride, pad, out_height, out_width, batch;

  CODA_HD constexpr index_t positions() const { return out_height * out_width; }
  CODA_HD constexpr index_t columns() const { return batch * positions(); }
  CODA_HD constexpr index_t patch_size() const { return channels * kernel * kernel; }
  CODA_HD constexpr index_t pixels() const { return height * width; }
  CODA_HD constexpr index_t image_elements() const { return channels * batch * pixels(); }
};

/// The activation element [c][n][iy][ix] that entry (j, col) of cols reads, or -1 where the
/// patch lies in the zero padding.
CODA_HD constexpr index_t patch_source(const conv_geometry& g, index_t j, index_t col) {
  const index_t kk = g.kernel * g.kernel, P = g.positions();
  const index_t c = j / kk, ky = j % kk / g.kernel, kx = j % g.kernel;
  const index_t n = col / P, q = col % P;
  const index_t iy = q / g.out_width * g.stride - g.pad + ky;
  const index_t ix = q % g.out_width * g.stride - g.pad + kx;
  if (iy < 0 || iy >= g.height || ix < 0 || ix >= g.width) return -1;
  return ((c * g.batch + n) * g.height + iy) * g.width + ix;
}

/// The column of cols whose kernel tap (ky, kx) reads pixel (n, iy, ix), or -1 if none does: the
/// output position with oy*stride - pad + ky = iy and ox*stride - pad + kx = ix, if it exists.
CODA_HD constexpr index_t patch_column(const conv_geometry& g, index_t n, index_t iy, index_t ix, index_t ky, index_t kx) {
  const index_t ty = iy + g.pad - ky, tx = ix + g.pad - kx;
  if (ty < 0 || tx < 0 || ty % g.stride != 0 || tx % g.stride != 0) return -1;
  const index_t oy = ty / g.stride, ox = tx / g.stride;
  if (oy >= g.out_height || ox >= g.out_width) return -1;
  return n * g.positions() + oy * g.out_width + ox;
}

// ---- self-check of the index arithmetic, evaluated by the compiler --------------------------
// Worked example on paper: 2 images of 2 channels, 5x4 pixels, k = 3, stride 2, pad 1, so that
// Ho = (5 + 2 - 3) / 2 + 1 = 3, Wo = (4 + 2 - 3) / 2 + 1 = 2, P = 6, J = 18, NP = 12.
// Row j = 13 is c = 13 / 9 = 1, ky = (13 % 9) / 3 = 1, kx = 13 % 3 = 1. Column 9 is image
// n = 9 / 6 = 1, q = 3, i.e. oy = 3 / 2 = 1, ox = 3 % 2 = 1, which reads iy = 1*2 - 1 + 1 = 2,
// ix = 2: activation [1][1][2][2] = ((1*2 + 1)*5 + 2)*4 + 2 = 70. Row 0 (c 0, ky 0, kx 0) at
// column 0 (oy = ox = 0) reads iy = -1: padding. The gather from pixel [1][1][2][2] with tap
// (1, 1) finds ty = tx = 2, oy = ox = 1: column 6 + 2 + 1 = 9 again.
inline constexpr conv_geometry worked_example{2, 5, 4, 3, 2, 1, 3, 2, 2};
static_assert(worked_example.positions() == 6 && worked_example.patch_size() == 18);
static_assert(patch_source(worked_example, 13, 9) == 70);
static_assert(patch_source(worked_example, 0, 0) == -1);
static_assert(patch_column(worked_example, 1, 2, 2, 1, 1) == 9);
// Tap (0, 0) of pixel [n 0][iy 1][ix 1] needs oy*2 - 1 = 1 and ox*2 - 1 = 1: oy = ox = 1,
// column 0*6 + 1*2 + 1 = 3; for ix = 0 it would need ox = 1/2: no column reads it.
static_assert(patch_column(worked_example, 0, 1, 1, 0, 0) == 3);
static_assert(patch_column(worked_example, 0, 1, 0, 0, 0) == -1);

/// Exhaustive check that the gather of col2im is the exact adjoint of im2col: every (j, col)
/// that reads a pixel is found from that pixel through its tap, and every column found from a
/// pixel reads that pixel.
constexpr bool patches_are_adjoint(const conv_geometry& g) {
  const index_t kk = g.kernel * g.kernel, hw = g.pixels();
  index_t reads = 0, found = 0;
  for (index_t j = 0; j < g.patch_size(); ++j)
    for (index_t col = 0; col < g.columns(); ++col) {
      const index_t src = patch_source(g, j, col);
      if (src < 0) continue;
      ++reads;
      const index_t c = src / (g.batch * hw), n = src / hw % g.batch, iy = src % hw / g.width, ix = src % g.width;
      if (c != j / kk || patch_column(g, n, iy, ix, j % kk / g.kernel, j % g.kernel) != col) return false;
    }
  for (index_t src = 0; src < g.image_elements(); ++src)
    for (index_t ky = 0; ky < g.kernel; ++ky)
      for (index_t kx = 0; kx < g.kernel; ++kx) {
        const index_t c = src / (g.batch * hw), n = src / hw % g.batch, iy = src % hw / g.width, ix = src % g.width;
        const index_t col = patch_column(g, n, iy, ix, ky, kx);
        if (col < 0) continue;
        ++found;
        if (patch_source(g, (c * g.kernel + ky) * g.kernel + kx, col) != src) return false;
      }
  return reads == found;
}
static_assert(patches_are_adjoint(worked_example));
static_assert(patches_are_adjoint(conv_geometry{3, 4, 5, 3, 1, 1, 4, 5, 2}));  // stride 1, padded
static_assert(patches_are_adjoint(conv_geometry{2, 5, 3, 2, 1, 0, 4, 2, 3}));  // k = 2, unpadded
static_assert(patches_are_adjoint(conv_geometry{2, 6, 6, 2, 2, 1, 4, 4, 1}));  // stride = kernel
static_assert(patches_are_adjoint(conv_geometry{4, 3, 2, 1, 1, 0, 3, 2, 2}));  // 1x1

// ---- norms (coda/nn/norm.hpp) -----------------------------------------------------------------

CODA_HD inline float clamp_norm2(float n2) { return n2 < 1e-12f ? 1e-12f : n2; }

struct squash_norm {
  CODA_HD static float scale(float n2) {
    n2 = clamp_norm2(n2);
    return sqrtf(n2) / (1.0f + n2);
  }
  CODA_HD static float dscale(float n2) {
    n2 = clamp_norm2(n2);
    const float q = 1.0f + n2;
    return (1.0f - n2) / (2.0f * sqrtf(n2) * q * q);
  }
};

struct l2_norm {
  CODA_HD static float scale(float n2) { return 1.0f / sqrtf(clamp_norm2(n2)); }
  CODA_HD static float dscale(float n2) {
    n2 = clamp_norm2(n2);
    return -0.5f / (n2 * sqrtf(n2));
  }
};

// ---- forward ----------------------------------------------------------------------------------

/// AddInverse: images [N][C][HW] -> [2C][N][HW]; item i is one input element.
struct add_inverse_op {
  index_t batch, channels, pixels;
  const float* images;
  float* out;

  CODA_HD void operator()(index_t i) const {
    const index_t n = i / (channels * pixels), c = i / pixels % channels, p = i % pixels;
    const float x = images[i];
    out[(c * batch + n) * pixels + p] = x;
    out[((c + channels) * batch + n) * pixels + p] = 1.0f - x;
  }
};

/// cols [J][NP] from activations [C][N][H][W]; item i is cols element i.
struct im2col_op {
  conv_geometry g;
  const float* image;
  float* cols;

  CODA_HD void operator()(index_t i) const {
    const index_t src = patch_source(g, i / g.columns(), i % g.columns());
    cols[i] = src < 0 ? 0.0f : image[src];
  }
};

/// The DAU epilogue of dau_forward: from t = B^T x, gz = G z, bx = b^T x and gbz = (B^T b) z,
///   d = bx + sum_r z_r t_r,  n2 = |b|^2 + 2 gbz + sum_r z_r gz_r,  y = d scale(n2).
/// Item i is output element [o][col].
template <class Norm>
struct dau_epilogue_op {
  index_t O, R, NP;
  const float *z, *t, *gz, *bx, *gbz, *bias_norm2;
  float *y, *d, *n2, *scale;

  CODA_HD void operator()(index_t i) const {
    const index_t o = i / NP, col = i % NP;
    const float* to = t + o * R * NP + col;
    const float* go = gz + o * R * NP + col;
    float dv = bx[i], nv = bias_norm2[o] + 2.0f * gbz[i];
    for (index_t r = 0; r < R; ++r) {
      const float zr = z[r * NP + col];
      dv += zr * to[r * NP];
      nv += zr * go[r * NP];
    }
    const float s = Norm::scale(nv);
    y[i] = dv * s;
    d[i] = dv;
    n2[i] = nv;
    scale[i] = s;
  }
};

/// logits [N][classes] = pooled / T + beta, pooled [classes][N] the sums over positions.
struct logits_op {
  index_t batch, classes;
  const float* pooled;
  float temperature, logit_bias;
  float* logits;

  CODA_HD void operator()(index_t i) const {
    logits[i] = pooled[(i % classes) * batch + i / classes] / temperature + logit_bias;
  }
};

// ---- loss (coda/nn/loss.hpp: record_loss and the loss rule) -------------------------------------

CODA_HD inline float sigmoid(float x) { return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x)); }

/// Item n: sample n's loss term times `norm` (in double, as record_loss) and the gradient of
/// the normalised loss with respect to its logits (in float, as the loss rules).
struct loss_op {
  index_t classes;
  bool binary;  ///< BCE with logits against one-hot targets; otherwise softmax cross-entropy
  double norm;
  float norm_f;  ///< norm rounded to float, as record_loss saves it
  const float* logits;
  const int* labels;
  float* grad;
  double* sample_loss;

  CODA_HD void operator()(index_t n) const {
    const float* l = logits + n * classes;
    float* g = grad + n * classes;
    const index_t label = labels[n];
    double sample = 0;
    if (binary) {
      for (index_t c = 0; c < classes; ++c) {
        const double x = l[c], y = label == c ? 1.0 : 0.0;
        sample += (x < 0.0 ? 0.0 : x) - x * y + log1p(exp(-fabs(x)));
        g[c] = norm_f * (sigmoid(l[c]) - (label == c ? 1.0f : 0.0f));
      }
    } else {
      float top = l[0];
      for (index_t c = 1; c < classes; ++c) top = top < l[c] ? l[c] : top;
      double sum = 0;
      float sum_f = 0;
      for (index_t c = 0; c < classes; ++c) {
        sum += exp(double(l[c]) - double(top));
        sum_f += expf(l[c] - top);
      }
      sample = double(top) + log(sum) - double(l[label]);
      for (index_t c = 0; c < classes; ++c) g[c] = norm_f * (expf(l[c] - top) / sum_f - (label == c ? 1.0f : 0.0f));
    }
    sample_loss[n] = sample * norm;
  }
};

/// One item: *total += the sum of the samples' terms, in sample order.
struct loss_total_op {
  index_t batch;
  const double* sample_loss;
  double* total;

  CODA_HD void operator()(index_t) const {
    double s = 0;
    for (index_t n = 0; n < batch; ++n) s += sample_loss[n];
    *total += s;
  }
};

// ---- backward ---------------------------------------------------------------------------------

/// Logit head backward: grad [classes][N][P] = d loss / d logit [N][classes] / T, broadcast over
/// the positions that were pooled.
struct head_backward_op {
  index_t batch, classes, P;
  const float* grad_logits;
  float inv_t;
  float* out;

  CODA_HD void operator()(index_t i) const {
    const index_t c = i / (batch * P), n = i / P % batch;
    out[i] = grad_logits[n * classes + c] * inv_t;
  }
};

/// The same for explanation seeds: seed k of every image is class first + k, so the head's
/// gradient [K][classes][N][P] is 1/T on that class's map and zero elsewhere.
struct seed_head_op {
  index_t first, batch, classes, P;
  float inv_t;
  float* out;

  CODA_HD void operator()(index_t i) const {
    const index_t per_seed = classes * batch * P;
    out[i] = (first + i / per_seed == (i % per_seed) / (batch * P)) ? inv_t : 0.0f;
  }
};

/// alpha = g scale(n2), beta = 2 g d scale'(n2), so that dL/dw_o = alpha x + beta w_o.
template <class Norm>
struct alpha_beta_op {
  const float *g, *scale, *d, *n2;
  float *alpha, *beta;

  CODA_HD void operator()(index_t i) const {
    alpha[i] = g[i] * scale[i];
    beta[i] = 2.0f * g[i] * d[i] * Norm::dscale(n2[i]);
  }
};

/// Item [r][col]: alpha (x) z and beta (x) z for every o, and dL/dz_r = sum_o alpha_o t_{o,r}
/// (before the Gram-matrix terms, which are GEMMs).
struct code_grad_op {
  index_t O, R, NP;
  const float *z, *t, *alpha, *beta;
  float *alpha_z, *beta_z, *gz;

  CODA_HD void operator()(index_t i) const {
    const index_t r = i / NP, col = i % NP;
    const float zr = z[i];
    float acc = 0;
    for (index_t o = 0; o < O; ++o) {
      const float a = alpha[o * NP + col], b = beta[o * NP + col];
      const index_t at = (o * R + r) * NP + col;
      alpha_z[at] = a * zr;
      beta_z[at] = b * zr;
      acc += a * t[at];
    }
    gz[i] = acc;
  }
};

/// col2im as a gather: item i is element [k][c][n][iy][ix] of the image gradient, the sum over
/// the kernel taps (ky, kx), in that order, of the cols entries that read the pixel.
struct col2im_op {
  conv_geometry g;
  const float* cols;  ///< [K][J][NP]
  float* image;       ///< [K][C][N][H][W]

  CODA_HD void operator()(index_t i) const {
    const index_t per_seed = g.image_elements(), hw = g.pixels();
    const index_t k = i / per_seed, e = i % per_seed;
    const index_t c = e / (g.batch * hw), n = e / hw % g.batch, iy = e % hw / g.width, ix = e % g.width;
    const float* ck = cols + k * g.patch_size() * g.columns();
    float sum = 0;
    for (index_t ky = 0; ky < g.kernel; ++ky)
      for (index_t kx = 0; kx < g.kernel; ++kx) {
        const index_t col = patch_column(g, n, iy, ix, ky, kx);
        if (col >= 0) sum += ck[((c * g.kernel + ky) * g.kernel + kx) * g.columns() + col];
      }
    image[i] = sum;
  }
};

/// Output channels whose dynamic weights one item forms together (coda::simd::frozen_channel_block).
inline constexpr index_t frozen_channel_block = 8;
/// Most seeds one frozen pass carries (coda::simd::frozen_max_seeds): the accumulators live in
/// registers.
inline constexpr index_t frozen_max_seeds = 10;

/// Frozen (explanation) DAU backward for `seeds` <= frozen_max_seeds gradients, as
/// coda::simd::frozen_block: item [j][col] forms the dynamic weights w_o[j] = b[j][o] + B[j][o] . z
/// of 8 channels at a time and contracts them with u_k = g_k scale:
///   grad_cols[k][j][col] = sum_o u_k[o][col] w_o[j].
/// A warp's items share j, so its reads of B and b are broadcasts and those of z, g and scale
/// are coalesced.
struct frozen_op {
  index_t J, O, R, NP, seeds;
  const float *b, *bias, *z, *scale;
  const float* grad_out;  ///< [seeds][O][NP]
  float* grad_cols;       ///< [seeds][J][NP]

  CODA_HD void operator()(index_t i) const {
    constexpr index_t MO = frozen_channel_block, K = frozen_max_seeds;
    const index_t j = i / NP, col = i % NP;
    float acc[K];
    CODA_UNROLL
    for (index_t k = 0; k < K; ++k) acc[k] = 0.0f;
    for (index_t o0 = 0; o0 < O; o0 += MO) {
      float w[MO];
      CODA_UNROLL
      for (index_t m = 0; m < MO; ++m) w[m] = o0 + m < O ? bias[j * O + o0 + m] : 0.0f;
      const float* bj = b + (j * O + o0) * R;
      for (index_t r = 0; r < R; ++r) {
        const float zr = z[r * NP + col];
        CODA_UNROLL
        for (index_t m = 0; m < MO; ++m)
          if (o0 + m < O) w[m] += bj[m * R + r] * zr;
      }
      CODA_UNROLL
      for (index_t m = 0; m < MO; ++m) {
        const index_t o = o0 + m;
        if (o >= O) break;
        const float s = scale[o * NP + col];
        CODA_UNROLL
        for (index_t k = 0; k < K; ++k)
          if (k < seeds) acc[k] += grad_out[(k * O + o) * NP + col] * s * w[m];
      }
    }
    CODA_UNROLL
    for (index_t k = 0; k < K; ++k)
      if (k < seeds) grad_cols[(k * J + j) * NP + col] = acc[k];
  }
};

/// Contributions [N][classes][C][HW] (the host layout) of seeds first .. first + seeds - 1:
/// encoded input [C][N][HW] times its frozen gradient [K][C][N][HW]. Item i runs over
/// [N][seeds][C][HW].
struct contributions_op {
  index_t batch, seeds, first, classes, channels, pixels;
  const float *input, *grad;
  float* out;

  CODA_HD void operator()(index_t i) const {
    const index_t p = i % pixels, c = i / pixels % channels, k = i / (pixels * channels) % seeds,
                  n = i / (pixels * channels * seeds);
    out[((n * classes + first + k) * channels + c) * pixels + p] =
        input[(c * batch + n) * pixels + p] * grad[((k * channels + c) * batch + n) * pixels + p];
  }
};

// ---- once per optimiser step ------------------------------------------------------------------

/// finish_dau_param_grads after its GEMM: for row c = j*O + o of B and b,
///   dL/dB[c] += b[c] s_o,  dL/db[c] += B[c] . s_o + b[c] sum beta_o.
struct finish_bias_op {
  index_t O, R;
  const float *b, *bias, *s_vec, *beta_sum;
  float *grad_b, *grad_bias;

  CODA_HD void operator()(index_t c) const {
    const index_t o = c % O;
    const float* sv = s_vec + o * R;
    float dot = 0;
    for (index_t r = 0; r < R; ++r) {
      grad_b[c * R + r] += bias[c] * sv[r];
      dot += b[c * R + r] * sv[r];
    }
    grad_bias[c] += dot + bias[c] * beta_sum[o];
  }
};

/// Item [o][r], r < R: (B_o^T b_o)[r]; item [o][R]: |b_o|^2 (compute_dau_derived).
struct gram_vectors_op {
  index_t J, O, R;
  const float *b, *bias;
  float *gram_bias, *bias_norm2;

  CODA_HD void operator()(index_t i) const {
    const index_t o = i / (R + 1), r = i % (R + 1);
    float s = 0;
    if (r < R) {
      for (index_t j = 0; j < J; ++j) s += b[(j * O + o) * R + r] * bias[j * O + o];
      gram_bias[o * R + r] = s;
    } else {
      for (index_t j = 0; j < J; ++j) s += bias[j * O + o] * bias[j * O + o];
      bias_norm2[o] = s;
    }
  }
};

/// torch.optim.Adam (coda::adam::step) with its scalars formed on the host as coda::adam does.
struct adam_op {
  float b1, b2, c1, c2, step_size, bc2_sqrt, eps;
  float* params;
  const float* grads;
  float *m, *v;

  CODA_HD void operator()(index_t i) const {
    m[i] = m[i] * b1 + grads[i] * c1;
    v[i] = v[i] * b2 + grads[i] * grads[i] * c2;
    params[i] -= step_size * m[i] / (sqrtf(v[i]) / bc2_sqrt + eps);
  }
};

/// torch.optim.SGD with momentum (coda::sgd::step).
struct sgd_op {
  float momentum, rate;
  bool first;
  float* params;
  const float* grads;
  float* buffer;

  CODA_HD void operator()(index_t i) const {
    buffer[i] = first ? grads[i] : buffer[i] * momentum + grads[i];
    params[i] -= rate * buffer[i];
  }
};

struct fill_op {
  float* data;
  float value;

  CODA_HD void operator()(index_t i) const { data[i] = value; }
};

}  // namespace coda::cuda::detail

// Reference DAU kernels: the definition in docs/coda-math.md written as plain loops, one output
// position at a time, materialising every dynamic weight vector. Slow and obviously correct;
// tests hold every optimised kernel against these. Not for production use.
#pragma once

#include <vector>

#include "coda/kernels/dau_weights.hpp"

namespace coda::kernels {

namespace detail {

// Everything the definition computes at one output position q.
template <class T>
struct reference_position {
  std::vector<T> patch;  // x_q            [J]
  std::vector<T> z;      // z_q = A x_q    [R]
  std::vector<T> w;      // w_{o,q}        [O][J]
  std::vector<T> d;      // w_{o,q} . x_q  [O]
  std::vector<T> n2;     // |w_{o,q}|^2    [O]

  reference_position(const dau_dims& g, const dau_weights<T>& p, const T* x, index_t q)
      : patch(g.patch_size()), z(g.rank), w(g.c_out * g.patch_size()), d(g.c_out), n2(g.c_out) {
    const index_t J = g.patch_size(), O = g.c_out, R = g.rank;
    im2col(g.conv, x, patch.data(), 1, q, 1);
    for (index_t r = 0; r < R; ++r) {
      T s = 0;
      for (index_t j = 0; j < J; ++j) s += p.a[r * J + j] * patch[j];
      z[r] = s;
    }
    for (index_t o = 0; o < O; ++o) {
      T dot = 0, norm = 0;
      for (index_t j = 0; j < J; ++j) {
        T v = p.bias[j * O + o];
        for (index_t r = 0; r < R; ++r) v += p.b[(j * O + o) * R + r] * z[r];
        w[o * J + j] = v;
        dot += v * patch[j];
        norm += v * v;
      }
      d[o] = dot;
      n2[o] = norm;
    }
  }
};

}  // namespace detail

/// y[o][q] = (w_{o,q} . x_q) * scale(|w_{o,q}|^2) for one image.
template <class Norm, class T>
void dau_forward_reference(const dau_dims& g, const dau_weights<T>& p, const T* x, T* y) {
  const index_t P = g.positions();
  for (index_t q = 0; q < P; ++q) {
    const detail::reference_position<T> at(g, p, x, q);
    for (index_t o = 0; o < g.c_out; ++o) y[o * P + q] = at.d[o] * Norm::scale(at.n2[o]);
  }
}

/// Frozen (explanation) backward for `seeds` gradients at once: grad_in[k] = sum over positions
/// of the patch scatter of sum_o grad_out[k][o][q] * scale_{o,q} * w_{o,q}. Overwrites grad_in.
template <class Norm, class T>
void dau_explain_reference(const dau_dims& g, const dau_weights<T>& p, const T* x, index_t seeds, const T* grad_out, T* grad_in) {
  const index_t J = g.patch_size(), P = g.positions(), O = g.c_out, in_size = g.conv.image_size();
  std::fill(grad_in, grad_in + seeds * in_size, T(0));
  std::vector<T> gpatch(J);
  for (index_t q = 0; q < P; ++q) {
    const detail::reference_position<T> at(g, p, x, q);
    for (index_t k = 0; k < seeds; ++k) {
      std::fill(gpatch.begin(), gpatch.end(), T(0));
      for (index_t o = 0; o < O; ++o) {
        const T u = grad_out[(k * O + o) * P + q] * Norm::scale(at.n2[o]);
        for (index_t j = 0; j < J; ++j) gpatch[j] += u * at.w[o * J + j];
      }
      col2im_add(g.conv, gpatch.data(), 1, q, 1, grad_in + k * in_size);
    }
  }
}

/// Full backward of one image (dynamic weights differentiated): writes grad_in (when not null)
/// and accumulates the parameter gradients grad_a [R][J], grad_b [J][O][R], grad_bias [J][O]
/// (when not null), for grad_out [O][P].
template <class Norm, class T>
void dau_backward_reference(const dau_dims& g, const dau_weights<T>& p, const T* x, const T* grad_out, T* grad_in, T* grad_a,
                            T* grad_b, T* grad_bias) {
  const index_t J = g.patch_size(), P = g.positions(), O = g.c_out, R = g.rank;
  if (grad_in) std::fill(grad_in, grad_in + g.conv.image_size(), T(0));
  std::vector<T> gz(R), gpatch(J);
  for (index_t q = 0; q < P; ++q) {
    const detail::reference_position<T> at(g, p, x, q);
    std::fill(gz.begin(), gz.end(), T(0));
    std::fill(gpatch.begin(), gpatch.end(), T(0));
    for (index_t o = 0; o < O; ++o) {
      // y = d * scale(n2): dy/dw = scale * x + d * scale'(n2) * 2w, and dy/dx (direct) = scale * w.
      const T go = grad_out[o * P + q];
      const T alpha = go * Norm::scale(at.n2[o]), beta = T(2) * go * at.d[o] * Norm::dscale(at.n2[o]);
      for (index_t j = 0; j < J; ++j) {
        const T w = at.w[o * J + j];
        const T gw = alpha * at.patch[j] + beta * w;
        gpatch[j] += alpha * w;
        const index_t c = j * O + o;
        for (index_t r = 0; r < R; ++r) {
          gz[r] += p.b[c * R + r] * gw;
          if (grad_b) grad_b[c * R + r] += gw * at.z[r];
        }
        if (grad_bias) grad_bias[c] += gw;
      }
    }
    for (index_t r = 0; r < R; ++r)
      for (index_t j = 0; j < J; ++j) {
        if (grad_a) grad_a[r * J + j] += gz[r] * at.patch[j];
        gpatch[j] += p.a[r * J + j] * gz[r];
      }
    if (grad_in) col2im_add(g.conv, gpatch.data(), 1, q, 1, grad_in);
  }
}

}  // namespace coda::kernels

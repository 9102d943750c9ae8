// Reference DAU kernels: the definition in docs/math.md §1 written as Eigen expressions that
// read like its equations, one output position at a time, materialising every dynamic weight
// vector. Slow and obviously correct; tests hold every optimised kernel against these. Not for
// production use. At output position q, with x the patch of q (a column of im2col, length J):
//   z = A x                           the rank-R code
//   w_o = B_o z + b_o                 the dynamic weight vector of output channel o
//   y_o = (w_o . x) scale(|w_o|^2)    the output, scale from the layer's norm
// The kernels take runtime dimensions (kernels::dau_dims), so the matrices are dynamic-size.
#pragma once

#include <type_traits>

#include "coda/core/eigen.hpp"
#include "coda/kernels/dau_weights.hpp"

namespace coda::kernels {

namespace detail {

template <class T>
using matrix_x = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
template <class T>
using row_major_x = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using vector_x = Eigen::Matrix<T, Eigen::Dynamic, 1>;

// The parameters as the equations' matrices over the layouts of dau_weights.hpp. Scalar is T for
// the parameters, and T or const T for their gradients, which have the same layouts.
template <class Scalar>
struct dau_matrices {
  using T = std::remove_const_t<Scalar>;
  template <class Plain>
  using map = Eigen::Map<std::conditional_t<std::is_const_v<Scalar>, const Plain, Plain>>;

  map<row_major_x<T>> A;  // [R][J]
  map<row_major_x<T>> B;  // [J*O][R]: row j*O + o is row j of B_o
  map<matrix_x<T>> b;     // [O][J]: bias [J][O] read column-major, so row o is b_o

  dau_matrices(const dau_dims& g, Scalar* a_data, Scalar* b_data, Scalar* bias_data)
      : A(a_data, g.rank, g.patch_size()), B(b_data, g.patch_size() * g.c_out, g.rank), b(bias_data, g.c_out, g.patch_size()) {}
};

template <class T>
dau_matrices<const T> parameters(const dau_dims& g, const dau_weights<T>& p) {
  return {g, p.a, p.b, p.bias};
}

// Everything the definition computes at one output position q.
template <class Norm, class T>
struct reference_position {
  vector_x<T> x;      // the patch x_q          [J]
  vector_x<T> z;      // z = A x                [R]
  matrix_x<T> w;      // row o: B_o z + b_o     [O][J]
  vector_x<T> d;      // d_o = w_o . x          [O]
  vector_x<T> n2;     // |w_o|^2                [O]
  vector_x<T> scale;  // scale(|w_o|^2)         [O]

  reference_position(const dau_dims& g, const dau_weights<T>& p, const T* image, index_t q)
      : x(g.patch_size()), w(g.c_out, g.patch_size()) {
    const auto m = parameters(g, p);
    im2col(g.conv, image, x.data(), 1, q, 1);
    z.noalias() = m.A * x;
    // w is column-major, so its storage [J][O] is the row order of B: B z holds every B_o z.
    w.reshaped().noalias() = m.B * z;
    w += m.b;
    d.noalias() = w * x;
    n2 = w.rowwise().squaredNorm();
    scale = n2.unaryExpr([](T v) { return Norm::scale(v); });
  }
};

}  // namespace detail

/// y[o][q] = (w_{o,q} . x_q) * scale(|w_{o,q}|^2) for one image.
template <class Norm, class T>
void dau_forward_reference(const dau_dims& g, const dau_weights<T>& p, const T* x, T* y) {
  Eigen::Map<detail::row_major_x<T>> out(y, g.c_out, g.positions());
  for (index_t q = 0; q < g.positions(); ++q) {
    const detail::reference_position<Norm, T> at(g, p, x, q);
    out.col(q) = at.d.cwiseProduct(at.scale);
  }
}

/// Frozen (explanation) backward for `seeds` gradients at once: grad_in[k] = sum over positions
/// of the patch scatter of sum_o grad_out[k][o][q] * scale_{o,q} * w_{o,q}. Overwrites grad_in.
template <class Norm, class T>
void dau_explain_reference(const dau_dims& g, const dau_weights<T>& p, const T* x, index_t seeds, const T* grad_out, T* grad_in) {
  const index_t O = g.c_out, in_size = g.conv.image_size();
  const Eigen::Map<const detail::row_major_x<T>> gout(grad_out, seeds * O, g.positions());  // [seeds][O][P]
  Eigen::Map<detail::row_major_x<T>>(grad_in, seeds, in_size).setZero();
  detail::vector_x<T> gx;
  for (index_t q = 0; q < g.positions(); ++q) {
    const detail::reference_position<Norm, T> at(g, p, x, q);
    for (index_t k = 0; k < seeds; ++k) {
      gx.noalias() = at.w.transpose() * gout.col(q).segment(k * O, O).cwiseProduct(at.scale);
      col2im_add(g.conv, gx.data(), 1, q, 1, grad_in + k * in_size);
    }
  }
}

/// Full backward of one image (dynamic weights differentiated): writes grad_in (when not null)
/// and accumulates the parameter gradients grad_a [R][J], grad_b [J][O][R], grad_bias [J][O]
/// (when not null), for grad_out [O][P].
template <class Norm, class T>
void dau_backward_reference(const dau_dims& g, const dau_weights<T>& p, const T* x, const T* grad_out, T* grad_in, T* grad_a,
                            T* grad_b, T* grad_bias) {
  const auto m = detail::parameters(g, p);
  detail::dau_matrices<T> grad(g, grad_a, grad_b, grad_bias);
  const Eigen::Map<const detail::row_major_x<T>> gout(grad_out, g.c_out, g.positions());
  if (grad_in) Eigen::Map<detail::vector_x<T>>(grad_in, g.conv.image_size()).setZero();
  detail::vector_x<T> alpha, beta, gz, gx;
  detail::matrix_x<T> gw;
  for (index_t q = 0; q < g.positions(); ++q) {
    const detail::reference_position<Norm, T> at(g, p, x, q);
    // y_o = d_o scale(n2_o) with d_o = w_o . x and n2_o = |w_o|^2:
    //   dL/dw_o = alpha_o x + beta_o w_o,  alpha = dL/dy * scale,  beta = 2 dL/dy * d * scale'(n2)
    alpha = gout.col(q).cwiseProduct(at.scale);
    beta = T(2) * gout.col(q).cwiseProduct(at.d).cwiseProduct(at.n2.unaryExpr([](T v) { return Norm::dscale(v); }));
    gw.noalias() = alpha * at.x.transpose();
    gw.noalias() += beta.asDiagonal() * at.w;
    // w_o = B_o z + b_o:  dL/dz = sum_o B_o^T dL/dw_o,  dL/dB_o = dL/dw_o z^T,  dL/db_o = dL/dw_o
    gz.noalias() = m.B.transpose() * gw.reshaped();
    if (grad_b) grad.B.noalias() += gw.reshaped() * at.z.transpose();
    if (grad_bias) grad.b += gw;
    // z = A x, and x also enters d directly:  dL/dA = dL/dz x^T,  dL/dx = sum_o alpha_o w_o + A^T dL/dz
    if (grad_a) grad.A.noalias() += gz * at.x.transpose();
    gx.noalias() = at.w.transpose() * alpha;
    gx.noalias() += m.A.transpose() * gz;
    if (grad_in) col2im_add(g.conv, gx.data(), 1, q, 1, grad_in);
  }
}

}  // namespace coda::kernels

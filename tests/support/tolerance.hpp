// Comparison helpers for the tests. Every tolerance is named after the reason it has to be
// what it is; tests pick the name, not a bare number.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace coda::test {

namespace tolerance {
/// Double precision, same maths in another order (GEMM blocking vs plain loops): a few ulps of
/// the largest partial sum, amplified by at most a few layers.
inline constexpr double double_reorder = 1e-10;
/// Float, same maths in another order: sums of up to ~10^4 products lose ~sqrt(n) ulps each
/// (1e-7 * 100), and the Gram-matrix form of |w|^2 adds cancellation in nine chained layers.
inline constexpr double float_reorder = 1e-4;
/// Float contributions against an independent implementation: each map element is a product
/// of nine layers' frozen Jacobians, each rounded differently; the bar is 1e-3.
inline constexpr double float_contributions = 1e-3;
/// Completeness in float: the sum of ~6000 contributions of mixed sign against the pooled
/// logit; relative to the largest |term| summed, not to the (cancelling) total.
inline constexpr double float_completeness = 1e-4;
}  // namespace tolerance

/// max_i |a_i - b_i| / max(max_i |b_i|, tiny): error relative to the scale of the expected
/// array, so that elements near zero do not dominate.
template <class A, class B>
double relative_error(const A* a, const B* b, std::size_t n) {
  double diff = 0, scale = 1e-300;
  for (std::size_t i = 0; i < n; ++i) {
    diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  return diff / scale;
}

}  // namespace coda::test

// The two norm functions of a DAU. A DAU output is y = d * scale(n2) with d = w.x and n2 = |w|^2;
// both norms keep |y| <= |x|, which is what forces the dynamic weights to align with the input.
// Each norm provides scale(n2) and its derivative with respect to n2 (for the backward pass).
#pragma once

#include <algorithm>
#include <cmath>
#include <type_traits>

namespace coda {

namespace detail {
// |w|^2 computed through the Gram-matrix identity can round to a tiny negative number, and
// exactly zero weights must not divide by zero: clamp like the PyTorch reference does (1e-12).
template <class T>
T clamp_norm2(T n2) { return std::max(n2, T(1e-12)); }
}  // namespace detail

/// squash: y = d * n / (1 + n^2), i.e. d divided by (1 + n^2) / n.
struct squash {
  static constexpr const char* name = "squash";
  template <class T>
  static T scale(T n2) {
    n2 = detail::clamp_norm2(n2);
    return std::sqrt(n2) / (T(1) + n2);
  }
  /// d scale / d n2 = (1 - n2) / (2 sqrt(n2) (1 + n2)^2)
  template <class T>
  static T dscale(T n2) {
    n2 = detail::clamp_norm2(n2);
    const T q = T(1) + n2;
    return (T(1) - n2) / (T(2) * std::sqrt(n2) * q * q);
  }
};

/// l2: y = d / n (cosine similarity times |x|).
struct l2 {
  static constexpr const char* name = "l2";
  template <class T>
  static T scale(T n2) { return T(1) / std::sqrt(detail::clamp_norm2(n2)); }
  /// d scale / d n2 = -1 / (2 n2^(3/2))
  template <class T>
  static T dscale(T n2) {
    n2 = detail::clamp_norm2(n2);
    return T(-0.5) / (n2 * std::sqrt(n2));
  }
};

template <class T>
struct is_norm : std::false_type {};
template <>
struct is_norm<squash> : std::true_type {};
template <>
struct is_norm<l2> : std::true_type {};

}  // namespace coda

// Per-sample shapes as types. A batch of N images of 3x32x32 is a tensor<float, shape<3, 32, 32>>
// whose batch size N is a runtime value; every other extent is known to the compiler, so layer
// chains are checked when they are written, not when they run.
#pragma once

#include <array>
#include <cstddef>
#include <type_traits>

namespace coda {

using index_t = std::ptrdiff_t;

template <index_t... Dims>
struct shape {
  static_assert(sizeof...(Dims) > 0, "coda::shape needs at least one extent");
  static_assert(((Dims > 0) && ...), "coda::shape: every extent must be positive");

  static constexpr index_t rank = sizeof...(Dims);
  static constexpr index_t size = (Dims * ...);
  static constexpr std::array<index_t, sizeof...(Dims)> extents{Dims...};

  static constexpr index_t dim(index_t i) { return extents[static_cast<std::size_t>(i)]; }

  /// Row-major stride of axis i (elements between neighbours along that axis).
  static constexpr index_t stride(index_t i) {
    index_t s = 1;
    for (index_t a = rank - 1; a > i; --a) s *= dim(a);
    return s;
  }
};

template <class T>
struct is_shape : std::false_type {};
template <index_t... Dims>
struct is_shape<shape<Dims...>> : std::true_type {};
template <class T>
inline constexpr bool is_shape_v = is_shape<T>::value;

/// A shape with one more leading extent: the per-sample shape of "K maps of S" (e.g. the
/// contributions of all classes, prepend_t<10, shape<6,32,32>> = shape<10,6,32,32>).
template <index_t K, class S>
struct prepend;
template <index_t K, index_t... Dims>
struct prepend<K, shape<Dims...>> {
  using type = shape<K, Dims...>;
};
template <index_t K, class S>
using prepend_t = typename prepend<K, S>::type;

/// Spatial extent after a convolution with kernel k, stride s and zero padding p; may be <= 0,
/// which callers turn into a readable static_assert.
constexpr index_t conv_output_extent(index_t in, index_t k, index_t s, index_t p) { return (in + 2 * p - k) / s + 1; }

}  // namespace coda

// Batched tensors with compile-time per-sample shapes.
//
//  tensor<Scalar, Shape>       owns N samples (heap, 64-byte aligned); N is a runtime value.
//  sample<Scalar, Shape>       owns exactly one sample inline (no heap): the embedded type.
//  tensor_view<Scalar, Shape>  non-owning view of N contiguous samples; Scalar may be const.
//
// Element-wise work goes through Eigen maps (array(), matrix()), so expressions such as
// `t.array() = 1 - u.array()` compile to one fused loop.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cassert>
#include <type_traits>

#include "coda/core/error.hpp"
#include "coda/core/shape.hpp"
#include "coda/core/aligned_allocator.hpp"

namespace coda {

namespace detail {

template <class Shape, class... Ix>
constexpr index_t flat_offset(Ix... ix) {
  static_assert(sizeof...(Ix) == Shape::rank, "coda tensor: number of indices must equal the shape's rank");
  const std::array<index_t, sizeof...(Ix)> idx{static_cast<index_t>(ix)...};
  index_t off = 0;
  for (index_t a = 0; a < Shape::rank; ++a) {
    assert(idx[static_cast<std::size_t>(a)] >= 0 && idx[static_cast<std::size_t>(a)] < Shape::dim(a));
    off = off * Shape::dim(a) + idx[static_cast<std::size_t>(a)];
  }
  return off;
}

// Shared accessors of every tensor-like type. Derived provides data() and batch().
template <class Derived, class Scalar, class Shape>
class tensor_access {
  static_assert(is_shape_v<Shape>, "coda tensor: the second template argument must be a coda::shape<...>");

 public:
  using scalar_type = Scalar;
  using shape_type = Shape;
  using value_type = std::remove_const_t<Scalar>;
  static constexpr index_t sample_size = Shape::size;

  using array_map = Eigen::Map<std::conditional_t<std::is_const_v<Scalar>, const Eigen::Array<value_type, Eigen::Dynamic, 1>,
                                                  Eigen::Array<value_type, Eigen::Dynamic, 1>>,
                               Eigen::Unaligned>;
  using matrix_map =
      Eigen::Map<std::conditional_t<std::is_const_v<Scalar>,
                                    const Eigen::Matrix<value_type, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>,
                                    Eigen::Matrix<value_type, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>,
                 Eigen::Unaligned>;

  index_t size() const { return self().batch() * Shape::size; }

  /// Element (n, i...) where n is the sample and i... index the per-sample shape.
  template <class... Ix>
  Scalar& operator()(index_t n, Ix... ix) const {
    assert(n >= 0 && n < self().batch());
    return self().data()[n * Shape::size + flat_offset<Shape>(ix...)];
  }

  /// Pointer to the first element of sample n.
  Scalar* sample_data(index_t n) const {
    assert(n >= 0 && n < self().batch());
    return self().data() + n * Shape::size;
  }

  /// All elements as one Eigen array (for element-wise expressions).
  array_map array() const { return array_map(self().data(), size()); }
  /// The batch as an N x Shape::size row-major matrix.
  matrix_map matrix() const { return matrix_map(self().data(), self().batch(), Shape::size); }

 private:
  const Derived& self() const { return static_cast<const Derived&>(*this); }
};

}  // namespace detail

/// Non-owning view of `batch` contiguous samples. Cheap to copy; converts from tensor and sample.
template <class Scalar, class Shape>
class tensor_view : public detail::tensor_access<tensor_view<Scalar, Shape>, Scalar, Shape> {
 public:
  tensor_view() = default;
  tensor_view(Scalar* data, index_t batch) : data_(data), batch_(batch) { assert(batch >= 0); }
  /// A view of mutable data converts to a view of const data.
  template <class U, class = std::enable_if_t<std::is_same_v<const U, Scalar> && !std::is_same_v<U, Scalar>>>
  tensor_view(const tensor_view<U, Shape>& other) : data_(other.data()), batch_(other.batch()) {}  // NOLINT

  Scalar* data() const { return data_; }
  index_t batch() const { return batch_; }

  /// Samples [first, first + count).
  tensor_view slice(index_t first, index_t count) const {
    assert(first >= 0 && count >= 0 && first + count <= batch_);
    return tensor_view(data_ + first * Shape::size, count);
  }

 private:
  Scalar* data_ = nullptr;
  index_t batch_ = 0;
};

/// Owning batch of samples. Storage is 64-byte aligned and contiguous (sample-major, then the
/// shape's axes in row-major order, i.e. NCHW for images).
template <class Scalar, class Shape>
class tensor : public detail::tensor_access<tensor<Scalar, Shape>, Scalar, Shape> {
  static_assert(!std::is_const_v<Scalar>, "coda::tensor owns its elements; use tensor_view<const T, S> for read-only views");

 public:
  tensor() = default;
  explicit tensor(index_t batch, Scalar fill = Scalar(0)) { resize(batch, fill); }

  void resize(index_t batch, Scalar fill = Scalar(0)) {
    CODA_REQUIRE(batch >= 0, "coda::tensor: batch size must be non-negative");
    batch_ = batch;
    data_.assign(static_cast<std::size_t>(batch * Shape::size), fill);
  }

  Scalar* data() { return data_.data(); }
  const Scalar* data() const { return data_.data(); }
  index_t batch() const { return batch_; }

  // Element access through the mutable base needs a mutable pointer; const tensors hand out
  // const views instead.
  tensor_view<Scalar, Shape> view() { return {data_.data(), batch_}; }
  tensor_view<const Scalar, Shape> view() const { return {data_.data(), batch_}; }
  operator tensor_view<Scalar, Shape>() { return view(); }              // NOLINT: views are the currency
  operator tensor_view<const Scalar, Shape>() const { return view(); }  // NOLINT

  template <class... Ix>
  Scalar& operator()(index_t n, Ix... ix) { return view()(n, ix...); }
  template <class... Ix>
  const Scalar& operator()(index_t n, Ix... ix) const { return view()(n, ix...); }
  auto array() { return view().array(); }
  auto array() const { return view().array(); }
  auto matrix() { return view().matrix(); }
  auto matrix() const { return view().matrix(); }
  Scalar* sample_data(index_t n) { return view().sample_data(n); }
  const Scalar* sample_data(index_t n) const { return view().sample_data(n); }
  index_t size() const { return batch_ * Shape::size; }

 private:
  detail::aligned_vector<Scalar> data_;
  index_t batch_ = 0;
};

/// Exactly one sample, stored inline: usable on the stack or in static storage without any heap
/// allocation (the embedded path).
template <class Scalar, class Shape>
class sample {
  static_assert(is_shape_v<Shape>, "coda::sample: the second template argument must be a coda::shape<...>");

 public:
  using scalar_type = Scalar;
  using shape_type = Shape;
  static constexpr index_t sample_size = Shape::size;

  Scalar* data() { return data_.data(); }
  const Scalar* data() const { return data_.data(); }
  static constexpr index_t batch() { return 1; }
  static constexpr index_t size() { return Shape::size; }

  tensor_view<Scalar, Shape> view() { return {data_.data(), 1}; }
  tensor_view<const Scalar, Shape> view() const { return {data_.data(), 1}; }
  operator tensor_view<Scalar, Shape>() { return view(); }              // NOLINT
  operator tensor_view<const Scalar, Shape>() const { return view(); }  // NOLINT

  template <class... Ix>
  Scalar& operator()(Ix... ix) { return data_[static_cast<std::size_t>(detail::flat_offset<Shape>(ix...))]; }
  template <class... Ix>
  const Scalar& operator()(Ix... ix) const { return data_[static_cast<std::size_t>(detail::flat_offset<Shape>(ix...))]; }

  auto array() { return view().array(); }
  auto array() const { return view().array(); }

 private:
  alignas(detail::alignment_bytes) std::array<Scalar, static_cast<std::size_t>(Shape::size)> data_{};
};

}  // namespace coda

// Batched tensors with compile-time per-sample shapes.
//
//  tensor<Scalar, Shape>       owns N samples (heap, 64-byte aligned); N is a runtime value.
//  sample<Scalar, Shape>       owns exactly one sample inline (no heap): the embedded type.
//  tensor_view<Scalar, Shape>  non-owning view of N contiguous samples; Scalar may be const.
//
// The maths is written on Eigen maps whose per-sample extent is a compile-time constant:
//   array(), matrix()                  the batch as [N][Shape::size] (a sample: [Shape::size] and
//                                      [dim 0][rest], e.g. channels x positions)
//   sample_array(n), sample_matrix(n)  sample n of a batch, with the sample's shapes
// so `t.array() = 1 - u.array()` or `s.array().max(0).sum()` compile to one fused, vectorised
// loop. A sample and a tensor map their storage as 64-byte aligned; a view may wrap any pointer
// (a std::vector's, a slice of a batch), so its maps promise no alignment.
#pragma once

#include <algorithm>
#include <array>
#include <cassert>
#include <numeric>
#include <type_traits>

#include "coda/core/error.hpp"
#include "coda/core/shape.hpp"
#include "coda/core/aligned_allocator.hpp"
#include "coda/core/eigen.hpp"

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

// Eigen rejects a row-major single column, the only shape that must be column-major.
template <index_t Cols>
inline constexpr int storage_order = Cols == 1 ? Eigen::ColMajor : Eigen::RowMajor;

// Eigen map types of Scalar data (const maps when Scalar is const) with a given alignment.
template <class Scalar, class Shape, int Alignment>
struct eigen_maps {
  using value_type = std::remove_const_t<Scalar>;
  template <class Plain>
  using map = Eigen::Map<std::conditional_t<std::is_const_v<Scalar>, const Plain, Plain>, Alignment>;
  static constexpr int size = static_cast<int>(Shape::size), rows = static_cast<int>(Shape::dim(0)), cols = size / rows;

  using batch_array = map<Eigen::Array<value_type, Eigen::Dynamic, size, storage_order<size>>>;
  using batch_matrix = map<Eigen::Matrix<value_type, Eigen::Dynamic, size, storage_order<size>>>;
  using sample_array = map<Eigen::Array<value_type, size, 1>>;
  using sample_matrix = map<Eigen::Matrix<value_type, rows, cols, storage_order<cols>>>;
};

// Alignment in bytes of every sample of a batch whose first sample is 64-byte aligned.
template <class Scalar, class Shape>
inline constexpr int sample_alignment = static_cast<int>(std::gcd(Shape::size * index_t(sizeof(Scalar)), index_t(alignment_bytes)));

// Shared accessors of every tensor-like type. Derived provides data() and batch(); `Alignment`
// is what Derived guarantees for data().
template <class Derived, class Scalar, class Shape, int Alignment>
class tensor_access {
  static_assert(is_shape_v<Shape>, "coda tensor: the second template argument must be a coda::shape<...>");
  using maps = eigen_maps<Scalar, Shape, Alignment>;
  using sample_maps = eigen_maps<Scalar, Shape, std::min(Alignment, sample_alignment<Scalar, Shape>)>;

 public:
  using scalar_type = Scalar;
  using shape_type = Shape;
  using value_type = std::remove_const_t<Scalar>;
  static constexpr index_t sample_size = Shape::size;

  using array_map = typename maps::batch_array;
  using matrix_map = typename maps::batch_matrix;
  using sample_array_map = typename sample_maps::sample_array;
  using sample_matrix_map = typename sample_maps::sample_matrix;

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

  /// The batch as an Eigen array [N][Shape::size] (row-major: one row per sample).
  array_map array() const { return array_map(self().data(), self().batch(), Shape::size); }
  /// The batch as an Eigen matrix [N][Shape::size] (row-major: one row per sample).
  matrix_map matrix() const { return matrix_map(self().data(), self().batch(), Shape::size); }
  /// Sample n as a column array of Shape::size elements.
  sample_array_map sample_array(index_t n) const { return sample_array_map(sample_data(n)); }
  /// Sample n as a matrix [dim 0][product of the other extents], row-major (channels x positions).
  sample_matrix_map sample_matrix(index_t n) const { return sample_matrix_map(sample_data(n)); }

 private:
  const Derived& self() const { return static_cast<const Derived&>(*this); }
};

// `batch` samples at a pointer aligned to `Alignment` bytes: what a tensor's (and a sample's)
// maps are built from.
template <class Scalar, class Shape, int Alignment>
class aligned_batch : public tensor_access<aligned_batch<Scalar, Shape, Alignment>, Scalar, Shape, Alignment> {
 public:
  aligned_batch(Scalar* data, index_t batch) : data_(data), batch_(batch) {}
  Scalar* data() const { return data_; }
  index_t batch() const { return batch_; }

 private:
  Scalar* data_;
  index_t batch_;
};

inline constexpr int storage_alignment = static_cast<int>(alignment_bytes);

}  // namespace detail

/// Non-owning view of `batch` contiguous samples. Cheap to copy; converts from tensor and sample.
template <class Scalar, class Shape>
class tensor_view : public detail::tensor_access<tensor_view<Scalar, Shape>, Scalar, Shape, Eigen::Unaligned> {
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
class tensor : public detail::tensor_access<tensor<Scalar, Shape>, Scalar, Shape, detail::storage_alignment> {
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
  auto array() { return aligned().array(); }
  auto array() const { return aligned().array(); }
  auto matrix() { return aligned().matrix(); }
  auto matrix() const { return aligned().matrix(); }
  auto sample_array(index_t n) { return aligned().sample_array(n); }
  auto sample_array(index_t n) const { return aligned().sample_array(n); }
  auto sample_matrix(index_t n) { return aligned().sample_matrix(n); }
  auto sample_matrix(index_t n) const { return aligned().sample_matrix(n); }
  Scalar* sample_data(index_t n) { return view().sample_data(n); }
  const Scalar* sample_data(index_t n) const { return view().sample_data(n); }
  index_t size() const { return batch_ * Shape::size; }

 private:
  detail::aligned_batch<Scalar, Shape, detail::storage_alignment> aligned() { return {data_.data(), batch_}; }
  detail::aligned_batch<const Scalar, Shape, detail::storage_alignment> aligned() const { return {data_.data(), batch_}; }

  detail::aligned_vector<Scalar> data_;
  index_t batch_ = 0;
};

/// Exactly one sample, stored inline: usable on the stack or in static storage without any heap
/// allocation (the embedded path).
template <class Scalar, class Shape>
class sample {
  static_assert(is_shape_v<Shape>, "coda::sample: the second template argument must be a coda::shape<...>");
  template <class S>
  using maps = detail::eigen_maps<S, Shape, detail::storage_alignment>;

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

  /// The sample as a fixed-size aligned column array of Shape::size elements.
  typename maps<Scalar>::sample_array array() { return typename maps<Scalar>::sample_array(data()); }
  typename maps<const Scalar>::sample_array array() const { return typename maps<const Scalar>::sample_array(data()); }
  /// The sample as a fixed-size aligned matrix [dim 0][product of the other extents], row-major.
  typename maps<Scalar>::sample_matrix matrix() { return typename maps<Scalar>::sample_matrix(data()); }
  typename maps<const Scalar>::sample_matrix matrix() const { return typename maps<const Scalar>::sample_matrix(data()); }

 private:
  alignas(detail::alignment_bytes) std::array<Scalar, static_cast<std::size_t>(Shape::size)> data_{};
};

}  // namespace coda

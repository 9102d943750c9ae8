// Eigen, as every coda header includes it. GCC 12's false positives in Eigen's AVX-512 code (see
// diagnostics.hpp) also fire inside the functions Eigen keeps out of line (its matrix-vector
// product, large assignment loops), where GCC checks the warning's state at Eigen's own
// definitions: so the warnings are silenced around Eigen's headers. That holds whenever a coda
// header is the first to include Eigen; CODA_BEGIN_EIGEN_REDUCTIONS covers inlined code otherwise.
#pragma once

#include "coda/core/diagnostics.hpp"

CODA_BEGIN_EIGEN_REDUCTIONS
#include <Eigen/Core>
CODA_END_EIGEN_REDUCTIONS

#include "coda/core/shape.hpp"

namespace coda::detail {

/// n values as an Eigen array, for the element-wise passes over a row of positions: as Eigen
/// expressions they are vectorised, where plain loops over seven row pointers ran scalar (the
/// compiler could not rule out aliasing; 22% of the training backward's time).
template <class T>
Eigen::Map<Eigen::Array<T, 1, Eigen::Dynamic>> row(T* data, index_t n) { return {data, n}; }
template <class T>
Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>> row(const T* data, index_t n) { return {data, n}; }

}  // namespace coda::detail

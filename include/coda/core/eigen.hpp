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

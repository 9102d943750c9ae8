// Which classification loss to train with. A header of its own so that the CUDA library, which
// builds without Eigen, can name it (coda/cuda/description.hpp) without nn/loss.hpp.
#pragma once

namespace coda {

enum class loss_kind { binary_cross_entropy, cross_entropy };

}  // namespace coda

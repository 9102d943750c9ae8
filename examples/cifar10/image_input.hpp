// The `images` tensor of an input file (predict, attribute): F32 [N,3,32,32] in [0, 1].
#pragma once

#include <coda/core/tensor.hpp>
#include <string>

namespace cifar {

using image_shape = coda::shape<3, 32, 32>;

/// The images of a safetensors file; coda::format_error names the file and what is wrong.
coda::tensor<float, image_shape> read_images(const std::string& path);

}  // namespace cifar

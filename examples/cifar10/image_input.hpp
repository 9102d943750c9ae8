// The images a command reads: the `images` tensor of an input file (predict, attribute), F32
// [N,3,32,32] in [0, 1], or one image named by --image FILE or --data DIR --index I (explain,
// attribute).
#pragma once

#include <coda/core/tensor.hpp>
#include <string>

namespace cifar {

class args;

using image_shape = coda::shape<3, 32, 32>;

/// The images of a safetensors file; coda::format_error names the file and what is wrong.
coda::tensor<float, image_shape> read_images(const std::string& path);

/// The image of --image FILE (any size, resized to 32x32 with stb's resizer) or the CIFAR-10 test
/// image --index of --data DIR, as a batch of one; `missing` is the usage error when neither is
/// given.
coda::tensor<float, image_shape> chosen_image(const args& a, const std::string& missing);

}  // namespace cifar

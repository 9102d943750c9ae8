// Runtime description of a CoDA-Net for the CUDA implementation: the device code works on plain
// dimensions and pointers, not on the compile-time layer types of coda::network, so that it
// builds with the CUDA toolkit alone. coda/cuda/bridge.hpp derives a description from a
// coda::network type. The flat parameter layout is that of network::parameters(): per layer
// a [R][J], b [J][O][R], bias [J][O], J = C_in*k*k; a gradient buffer holds the parameters'
// gradients followed by every layer's batch sums (coda::kernels::dau_batch_sums).
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "coda/core/error.hpp"
#include "coda/core/shape.hpp"
#include "coda/nn/loss_kind.hpp"
#include "coda/nn/optimizer.hpp"

namespace coda::cuda {

enum class norm_kind { squash, l2 };

/// One DAU layer and the extent of its input.
struct layer_desc {
  index_t c_in, c_out, rank, kernel, stride, pad;
  norm_kind norm;
  index_t height, width;  ///< of the layer's input

  index_t out_height() const { return conv_output_extent(height, kernel, stride, pad); }
  index_t out_width() const { return conv_output_extent(width, kernel, stride, pad); }
  index_t positions() const { return out_height() * out_width(); }
  index_t patch_size() const { return c_in * kernel * kernel; }
  index_t input_size() const { return c_in * height * width; }
  index_t output_size() const { return c_out * positions(); }
  index_t parameter_count() const { return rank * patch_size() + patch_size() * c_out * rank + patch_size() * c_out; }
  /// Gradient-buffer elements beyond the parameters: S [O][R][R], s [O][R], sum beta [O].
  index_t sums_size() const { return c_out * rank * rank + c_out * rank + c_out; }
};

/// A whole network: AddInverse of a (c_in / 2)-channel image, the layers, sum pooling, then
/// logits = pooled / temperature + logit_bias.
struct network_desc {
  std::vector<layer_desc> layers;
  float temperature = 1000.0f;
  float logit_bias = static_cast<float>(std::log(1.0 / 9.0));

  index_t depth() const { return static_cast<index_t>(layers.size()); }
  const layer_desc& layer(index_t i) const { return layers[static_cast<std::size_t>(i)]; }
  index_t image_channels() const { return layers.front().c_in / 2; }
  index_t image_size() const { return image_channels() * layers.front().height * layers.front().width; }
  index_t encoded_size() const { return layers.front().input_size(); }
  index_t num_classes() const { return layers.back().c_out; }
  index_t parameter_offset(index_t i) const {
    index_t off = 0;
    for (index_t l = 0; l < i; ++l) off += layer(l).parameter_count();
    return off;
  }
  index_t parameter_count() const { return parameter_offset(depth()); }
  index_t sums_offset(index_t i) const {
    index_t off = parameter_count();
    for (index_t l = 0; l < i; ++l) off += layer(l).sums_size();
    return off;
  }
  index_t gradient_size() const { return sums_offset(depth()); }

  /// Throws argument_error unless the layers form a valid chain.
  void validate() const {
    CODA_REQUIRE(!layers.empty(), "coda::cuda::network_desc: a network needs at least one layer");
    CODA_REQUIRE(std::isfinite(temperature) && temperature > 0, "coda::cuda::network_desc: the temperature must be positive");
    CODA_REQUIRE(std::isfinite(logit_bias), "coda::cuda::network_desc: the logit bias must be finite");
    CODA_REQUIRE(layers.front().c_in % 2 == 0,
                 "coda::cuda::network_desc: the first layer's C_in must be even (AddInverse doubles the channels)");
    for (index_t i = 0; i < depth(); ++i) {
      const layer_desc& l = layer(i);
      const std::string at = "coda::cuda::network_desc: layer " + std::to_string(i) + ": ";
      CODA_REQUIRE(l.c_in > 0 && l.c_out > 0 && l.rank > 0, at + "channel counts and rank must be positive");
      CODA_REQUIRE(l.kernel > 0 && l.stride > 0 && l.pad >= 0 && l.pad < l.kernel,
                   at + "needs kernel > 0, stride > 0 and padding in [0, kernel)");
      CODA_REQUIRE(l.height > 0 && l.width > 0, at + "the input extent must be positive");
      CODA_REQUIRE(l.out_height() > 0 && l.out_width() > 0, at + "the kernel is larger than the padded input");
      if (i > 0) {
        const layer_desc& p = layer(i - 1);
        CODA_REQUIRE(l.c_in == p.c_out && l.height == p.out_height() && l.width == p.out_width(),
                     at + "its input must be the previous layer's output");
      }
    }
  }
};

/// The optimiser choice is the library's own (coda/nn/optimizer.hpp).
using coda::optimizer_kind;

/// What coda::training_settings says about a training step, minus the learning-rate schedule,
/// which the caller applies (device_trainer takes the rate of each step). beta1, beta2 and eps
/// are torch.optim.Adam's (coda::adam's public members).
struct device_training_settings {
  loss_kind loss = loss_kind::binary_cross_entropy;
  optimizer_kind optimizer = optimizer_kind::adam;
  double momentum = 0.9;  ///< SGD only
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  index_t batch = 8;
  index_t virtual_batch = 16;  ///< a multiple of batch

  void validate() const {
    CODA_REQUIRE(batch > 0 && virtual_batch >= batch && virtual_batch % batch == 0,
                 "coda::cuda::device_trainer: the virtual batch must be a positive multiple of the batch");
    CODA_REQUIRE(momentum >= 0 && momentum <= 1, "coda::cuda::device_trainer: the momentum must be in [0, 1]");
    CODA_REQUIRE(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && eps > 0,
                 "coda::cuda::device_trainer: Adam needs beta1, beta2 in [0, 1) and eps > 0");
  }
};

/// The optimiser state tensors, each parameter_count elements: Adam's exp_avg and exp_avg_sq,
/// SGD's momentum_buffer (the names of a coda checkpoint).
enum class state_tensor { exp_avg, exp_avg_sq, momentum_buffer };

}  // namespace coda::cuda

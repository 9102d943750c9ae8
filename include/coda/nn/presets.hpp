// Named networks. cifar10_9l is the paper's CIFAR-10 model "9L-S-CoDA-SQ" (docs/math.md §2):
// nine DAU layers, 7,782,816 parameters, squash norm and T = 1000 by default. imagenet100_9l is
// the authors' ImageNet-100 model "9L-L-CoDA-SQ-100000" on 240x240 crops (docs/math.md §2).
#pragma once

#include "coda/nn/network.hpp"

namespace coda {

template <class Scalar = float, class Norm = squash>
using cifar10_9l = network<Scalar, shape<3, 32, 32>,                 //
                           dau_conv<6, 16, 32, 3, 1, 1, Norm>,       //
                           dau_conv<16, 16, 32, 3, 1, 1, Norm>,      //
                           dau_conv<16, 32, 64, 3, 2, 1, Norm>,      //
                           dau_conv<32, 32, 64, 3, 1, 1, Norm>,      //
                           dau_conv<32, 32, 64, 3, 1, 1, Norm>,      //
                           dau_conv<32, 64, 64, 3, 2, 1, Norm>,      //
                           dau_conv<64, 64, 64, 3, 1, 1, Norm>,      //
                           dau_conv<64, 64, 64, 3, 1, 1, Norm>,      //
                           dau_conv<64, 10, 64, 1, 1, 0, Norm>>;

/// The authors' ImageNet-100 network "9L-L-CoDA-SQ-100000" (docs/math.md §2.2): a 7x7 first layer
/// with stride 3, ranks 64/128/256, 100 classes, 240x240 input; construct it with
/// imagenet100_9l_temperature, the T of its name.
template <class Scalar = float, class Norm = squash>
using imagenet100_9l = network<Scalar, shape<3, 240, 240>,             //
                               dau_conv<6, 16, 64, 7, 3, 3, Norm>,     //
                               dau_conv<16, 32, 64, 3, 1, 1, Norm>,    //
                               dau_conv<32, 32, 64, 3, 1, 1, Norm>,    //
                               dau_conv<32, 64, 128, 3, 2, 1, Norm>,   //
                               dau_conv<64, 64, 128, 3, 1, 1, Norm>,   //
                               dau_conv<64, 64, 128, 3, 1, 1, Norm>,   //
                               dau_conv<64, 64, 256, 3, 2, 1, Norm>,   //
                               dau_conv<64, 64, 256, 3, 1, 1, Norm>,   //
                               dau_conv<64, 100, 256, 3, 1, 1, Norm>>;
inline constexpr double imagenet100_9l_temperature = 1e5;

/// Architecture name written to and checked against a model file's `arch` metadata; specialise
/// it for your own networks. Networks without a name are saved as "custom".
template <class Net>
struct arch_name {
  static constexpr const char* value = "custom";
};
template <class Scalar, class Norm>
struct arch_name<cifar10_9l<Scalar, Norm>> {
  static constexpr const char* value = "cifar10-9l";
};
template <class Scalar, class Norm>
struct arch_name<imagenet100_9l<Scalar, Norm>> {
  static constexpr const char* value = "imagenet100-9l";
};

}  // namespace coda

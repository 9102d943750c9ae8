// train and eval of coda-cifar10 for the networks beyond CIFAR-10's (--arch imagenet100-9l, or a
// model file whose arch it is): image folders of any size (image_folders.cpp).
#pragma once

#include <coda/io/safetensors.hpp>

#include "args.hpp"

namespace cifar {

/// `train --arch imagenet100-9l`: the authors' ImageNet recipe by default; flags given replace it.
int train_image_folders(const args& a);
/// `eval` of an imagenet100-9l model: top-1 and top-5 accuracy on the test split of --data.
int eval_image_folders(const args& a, const coda::safetensors_file& file);

}  // namespace cifar

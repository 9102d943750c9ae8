// coda: Convolutional Dynamic Alignment Networks (Böhle, Fritz & Schiele, CVPR 2021) in
// header-only C++17.
//
// A CoDA-Net is a chain of Dynamic Alignment Units: each layer computes input-dependent weights
// w(x) and outputs w(x).x scaled by a norm of w(x), with no non-linearity in between. The whole
// network is therefore dynamic linear, logits = M(x) x + beta, and every prediction splits
// exactly into contributions of input pixels that add up to the logit.
//
// Tutorial:
//
//   #include <coda/coda.hpp>
//   using net_t = coda::cifar10_9l<float>;                  // the paper's CIFAR-10 model
//   net_t net = coda::load_model<net_t>("model.safetensors");
//   coda::tensor<float, net_t::image_shape> images(16);    // 16 images, 3x32x32, in [0, 1]
//   auto logits = coda::predict(net, images.view());       // [16][10]
//   auto maps = coda::contributions(net, images.view(), classes);   // [16][6][32][32]
//   // maps of an image sum to logits(n, classes[n]) - net.logit_bias()
//
// Shapes are types: per-sample shapes are coda::shape<...> template arguments, the batch size is
// a runtime value, and a chain of layers that does not fit together does not compile. For
// embedded use, coda::workspace<net_t> is a buffer of net_t::embedded_workspace_size elements
// after which predict() and explain() on single images never allocate; coda/attribution/
// nothrow.hpp offers the same without exceptions.
//
// Training: coda::trainer<net_t> runs mini-batches (BCE or CE loss, Adam or SGD with PyTorch's
// semantics, virtual batches) on the worker pool (coda::set_threads); coda::save_checkpoint and
// load_checkpoint resume a run exactly. Attribution baselines and the paper's metrics:
// coda::attribute, coda::localisation_scores, coda::pixel_removal.
//
// This header includes everything but image decoding (coda/io/image.hpp, coda/data/image_folder.hpp: they
// need stb) and the CUDA declarations (coda/cuda/: they need the coda::cuda library).
// Layers of the tree and the layer concept: docs/architecture.md; reference: docs/api.md.
#pragma once

#include "coda/version.hpp"
#include "coda/core/arena.hpp"
#include "coda/core/error.hpp"
#include "coda/core/shape.hpp"
#include "coda/core/tensor.hpp"
#include "coda/core/threads.hpp"
#include "coda/nn/dau_conv.hpp"
#include "coda/nn/inference.hpp"
#include "coda/nn/init.hpp"
#include "coda/nn/loss.hpp"
#include "coda/nn/network.hpp"
#include "coda/nn/optimizer.hpp"
#include "coda/nn/presets.hpp"
#include "coda/nn/training.hpp"
#include "coda/nn/workspace.hpp"
#include "coda/io/checkpoint.hpp"
#include "coda/io/model_file.hpp"
#include "coda/io/safetensors.hpp"
#include "coda/data/augment.hpp"
#include "coda/data/cifar.hpp"
#include "coda/attribution/contributions.hpp"
#include "coda/attribution/localisation.hpp"
#include "coda/attribution/methods.hpp"
#include "coda/attribution/nothrow.hpp"
#include "coda/attribution/pixel_removal.hpp"

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
// after which predict() and explain() on single images never allocate.
//
// Layers of the tree: core (shapes, tensors, arena), kernels (reference and fast), ad (tape and
// backward rules), nn (layers, networks, presets, init), attribution (contributions),
// io (safetensors, model files). See docs/architecture.md.
#pragma once

#include "coda/version.hpp"
#include "coda/core/arena.hpp"
#include "coda/core/error.hpp"
#include "coda/core/shape.hpp"
#include "coda/core/tensor.hpp"
#include "coda/nn/dau_conv.hpp"
#include "coda/nn/init.hpp"
#include "coda/nn/network.hpp"
#include "coda/nn/presets.hpp"
#include "coda/nn/workspace.hpp"
#include "coda/attribution/contributions.hpp"
#include "coda/io/model_file.hpp"
#include "coda/io/safetensors.hpp"

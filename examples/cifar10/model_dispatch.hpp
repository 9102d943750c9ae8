// The CIFAR-10 program works with cifar10-9l in float; the norm is a template argument of the
// network type and a runtime property of a model file, so each command is instantiated for
// both norms and picked by the file's metadata (or --norm). train, eval and explain also take the
// authors' ImageNet network (imagenet100-9l, squash norm, as they trained it), picked by --arch or
// the file's arch.
#pragma once

#include <coda/io/model_file.hpp>
#include <coda/nn/presets.hpp>
#include <string>

#include "args.hpp"

namespace cifar {

/// Overrides of a model file's metadata given on the command line.
inline coda::model_overrides model_flags(const args& a) {
  // Only flags given override; the fallbacks below are never used.
  coda::model_overrides o;
  if (a.has("norm")) o.norm = a.choice("norm", {"squash", "l2"});
  if (a.has("temperature")) o.temperature = a.number("temperature", 1000, 1e-6, 1e12);
  if (a.has("logit-bias")) o.logit_bias = a.number("logit-bias", 0, -1e6, 1e6);
  return o;
}

/// Calls f(net) with the model in `file` loaded as cifar10_9l<float, Norm> for its norm.
template <class F>
auto with_model(const coda::safetensors_file& file, const coda::model_overrides& overrides, F&& f) {
  const coda::model_metadata meta = coda::read_model_metadata(file, overrides);
  if (meta.norm == coda::l2::name) return f(coda::model_from_file<coda::cifar10_9l<float, coda::l2>>(file, overrides));
  return f(coda::model_from_file<coda::cifar10_9l<float, coda::squash>>(file, overrides));
}

/// The ImageNet preset as this program runs it.
using imagenet_net = coda::imagenet100_9l<float, coda::squash>;

/// with_model() for the commands that take every preset: the file's arch picks the network.
template <class F>
auto with_any_model(const coda::safetensors_file& file, const coda::model_overrides& overrides, F&& f) {
  const coda::model_metadata meta = coda::read_model_metadata(file, overrides);
  if (meta.arch != coda::arch_name<imagenet_net>::value) return with_model(file, overrides, f);
  if (meta.norm != coda::squash::name)
    throw coda::format_error("coda-cifar10 runs " + meta.arch + " with the squash norm only, as its authors trained it");
  return f(coda::model_from_file<imagenet_net>(file, overrides));
}

}  // namespace cifar

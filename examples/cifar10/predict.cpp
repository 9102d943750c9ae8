// coda-cifar10 predict --model M --input X --output Y [--explain]
#include <coda/attribution/contributions.hpp>
#include <coda/io/safetensors.hpp>
#include <iostream>

#include "args.hpp"
#include "commands.hpp"
#include "image_input.hpp"
#include "model_dispatch.hpp"

namespace cifar {

int run_predict(int argc, const char* const* argv) {
  const args a("predict", argc, argv, 2);
  const std::string model = a.required("model"), input = a.required("input"), output = a.required("output");
  apply_threads(a);
  const coda::model_overrides overrides = model_flags(a);
  const auto model_file = coda::safetensors_file::read(model);
  const auto images = read_images(input);
  const auto n = static_cast<std::int64_t>(images.batch());

  coda::safetensors_writer out;
  with_model(model_file, overrides, [&](const auto& net) {
    using Net = std::decay_t<decltype(net)>;
    if (a.has("explain")) {
      coda::tensor<float, typename Net::logits_shape> logits;
      const auto contributions = coda::contributions_all(net, images.view(), &logits);
      out.add_values("logits", {n, Net::num_classes}, logits.data());
      out.add_values("contributions", {n, Net::num_classes, 6, 32, 32}, contributions.data());
    } else {
      const auto logits = coda::predict(net, images.view());
      out.add_values("logits", {n, Net::num_classes}, logits.data());
    }
    return 0;
  });
  out.write(output);
  std::cout << "wrote " << (a.has("explain") ? "logits and contributions" : "logits") << " of " << n << " images to "
            << output << "\n";
  return 0;
}

}  // namespace cifar

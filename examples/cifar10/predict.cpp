// coda-cifar10 predict --model M --input X --output Y [--explain]
#include <coda/attribution/contributions.hpp>
#include <coda/io/safetensors.hpp>
#include <iostream>

#include "args.hpp"
#include "commands.hpp"
#include "model_dispatch.hpp"

namespace cifar {

namespace {

using image_shape = coda::shape<3, 32, 32>;

/// The `images` tensor of an input file: F32 [N,3,32,32] with every value in [0, 1].
coda::tensor<float, image_shape> read_images(const std::string& path) {
  const auto file = coda::safetensors_file::read(path);
  const coda::tensor_entry* e = file.find("images");
  if (!e) throw coda::format_error(path + ": no tensor 'images' (expected F32 [N,3,32,32])");
  if (e->type != coda::dtype::f32)
    throw coda::format_error(path + ": tensor 'images' has dtype " + std::string(coda::dtype_name(e->type)) + ", expected F32");
  const auto& s = e->shape;
  if (s.size() != 4 || s[1] != 3 || s[2] != 32 || s[3] != 32 || s[0] < 1)
    throw coda::format_error(path + ": tensor 'images' has shape " + coda::detail::shape_text(s, s.size()) +
                             ", expected [N,3,32,32] with N >= 1");
  coda::tensor<float, image_shape> images(s[0]);
  file.copy_to(*e, images.data());
  for (coda::index_t i = 0; i < images.size(); ++i) {
    const float v = images.data()[i];
    if (!(v >= 0.f && v <= 1.f))
      throw coda::format_error(path + ": image " + std::to_string(i / image_shape::size) + " has pixel value " +
                               std::to_string(v) + " outside [0, 1]");
  }
  return images;
}

}  // namespace

int run_predict(int argc, const char* const* argv) {
  const args a("predict",
               {{"model", true}, {"input", true}, {"output", true}, {"explain", false}, {"threads", true},
                {"norm", true}, {"temperature", true}, {"logit-bias", true}},
               argc, argv, 2);
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

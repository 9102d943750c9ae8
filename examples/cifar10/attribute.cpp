// coda-cifar10 attribute --model M (--input X | --image FILE | --data DIR --index I)
//                        (--output Y | --picture PNG) [--method LIST] [--class C]:
// the maps of the paper's attribution methods, one tensor per method, and a picture of the first
// image's maps (a row of explain's panels per method).
#include <coda/attribution/methods.hpp>
#include <coda/io/image.hpp>
#include <coda/io/safetensors.hpp>
#include <algorithm>
#include <cstdio>

#include "args.hpp"
#include "attribution_flags.hpp"
#include "commands.hpp"
#include "image_input.hpp"
#include "model_dispatch.hpp"
#include "progress.hpp"
#include "render.hpp"

namespace cifar {

namespace {

/// The explained class of each image: `fixed` when given (>= 0), else the predicted one.
template <class Net>
std::vector<coda::index_t> explained_classes(const Net& net, const coda::tensor<float, image_shape>& images, long long fixed) {
  std::vector<coda::index_t> classes(static_cast<std::size_t>(images.batch()), coda::index_t(fixed));
  if (fixed >= 0) return classes;
  const auto logits = coda::predict(net, images.view());
  for (coda::index_t n = 0; n < images.batch(); ++n) {
    const float* l = logits.sample_data(n);
    classes[std::size_t(n)] = std::max_element(l, l + Net::num_classes) - l;
  }
  return classes;
}

/// Maps [N][channels][32][32] of `method`, images spread over the worker threads in chunks, so
/// that the progress bar moves during the expensive methods.
template <class Net>
std::vector<float> method_maps(const Net& net, coda::attribution_method method, const coda::tensor<float, image_shape>& images,
                               const std::vector<coda::index_t>& classes, const coda::attribution_options& options) {
  const coda::index_t n = images.batch(), size = coda::method_channels<Net>(method) * 32 * 32;
  std::vector<float> out(static_cast<std::size_t>(n * size));
  progress bar(std::string("attribute ") + coda::method_name(method), n);
  const coda::index_t chunk = 2 * coda::threads();
  for (coda::index_t first = 0; first < n; first += chunk) {
    coda::parallel_for(std::min(chunk, n - first), [&](long i, int) {
      const coda::index_t image = first + i;
      const auto a = coda::attribute(net, method, images.sample_data(image), {classes[std::size_t(image)]}, options);
      std::copy(a.values.begin(), a.values.end(), out.begin() + image * size);
    });
    bar.update(std::min(n, first + chunk));
  }
  bar.finish();
  return out;
}

/// The images: --input X, or the one of --image FILE or --data DIR --index I.
coda::tensor<float, image_shape> attributed_images(const args& a) {
  if (!a.has("input")) return chosen_image(a, "'attribute' needs --input X, --image FILE, or --data DIR with --index I");
  if (a.has("image") || a.has("data") || a.has("index")) throw usage_error("give one of --input, --image, or --data with --index");
  return read_images(a.required("input"));
}

/// Image 0's map of a method ([channels][32][32] at the front of `maps`) summed over its channels.
std::vector<float> first_image_map(const std::vector<float>& maps, coda::index_t channels) {
  std::vector<float> summed(32 * 32, 0.f);
  for (coda::index_t c = 0; c < channels; ++c)
    for (std::size_t p = 0; p < summed.size(); ++p) summed[p] += maps[static_cast<std::size_t>(c) * summed.size() + p];
  return summed;
}

}  // namespace

int run_attribute(int argc, const char* const* argv) {
  const args a("attribute", argc, argv, 2);
  const std::string model = a.required("model");
  const auto output = a.optional("output"), picture = a.optional("picture");
  if (!output && !picture) throw usage_error("'attribute' needs --output Y, --picture PNG, or both");
  const auto methods = method_list(a);
  const auto options = attribution_flags(a);
  const long long fixed = a.integer("class", -1, 0, 9);  // -1: the predicted class
  apply_threads(a);
  const auto model_file = coda::safetensors_file::read(model);
  const auto images = attributed_images(a);
  const auto n = static_cast<std::int64_t>(images.batch());
  coda::safetensors_writer out;
  std::vector<std::uint8_t> drawn;  // a row of explain's panels per method, for image 0
  with_model(model_file, model_flags(a), [&](const auto& net) {
    using Net = std::decay_t<decltype(net)>;
    const auto classes = explained_classes(net, images, fixed);
    const std::vector<std::int64_t> targets(classes.begin(), classes.end());
    out.add_values("targets", {n}, targets.data());
    for (const auto method : methods) {
      const auto maps = method_maps(net, method, images, classes, options);
      const coda::index_t channels = coda::method_channels<Net>(method);
      out.add_values(coda::method_name(method), {n, channels, 32, 32}, maps.data());
      if (picture) {
        const auto row = render_explanation(images.data(), first_image_map(maps, channels).data(), 32);
        drawn.insert(drawn.end(), row.begin(), row.end());
      }
    }
    return 0;
  });
  if (output) {
    out.write(*output);
    std::printf("wrote %zu attribution maps of %lld images to %s\n", methods.size(), static_cast<long long>(n), output->c_str());
  }
  if (picture) {
    const picture_size size(32);
    const int height = size.height * static_cast<int>(methods.size());
    coda::write_png(*picture, size.width, height, drawn);
    std::string names;
    for (const auto method : methods) names += (names.empty() ? "" : ", ") + std::string(coda::method_name(method));
    std::printf("picture of image 0: %s (%dx%d, a row per method: %s)\n", picture->c_str(), size.width, height, names.c_str());
  }
  return 0;
}

}  // namespace cifar

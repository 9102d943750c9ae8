// coda-cifar10 explain --model M (--image FILE | --data DIR --index I) --out PNG [--class C]
//                      [--layer L | --all-layers]
#include <coda/attribution/contributions.hpp>
#include <coda/data/cifar.hpp>
#include <coda/data/image_transforms.hpp>
#include <coda/io/image.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "args.hpp"
#include "commands.hpp"
#include "image_input.hpp"
#include "model_dispatch.hpp"
#include "render.hpp"

namespace cifar {

namespace {

template <class Net>
using image_of = coda::sample<float, typename Net::image_shape>;

template <class Net>
constexpr bool is_cifar_sized = Net::image_shape::dim(1) == 32;

/// A class's name: CIFAR-10's for a 10-class network, else its index.
template <class Net>
std::string class_name(coda::index_t c) {
  if (Net::num_classes == 10) return coda::cifar10_classes[static_cast<std::size_t>(c)];
  return "class " + std::to_string(c);
}

/// --class: an index, or a CIFAR-10 class name for a 10-class network.
template <class Net>
coda::index_t parse_class(const args& a) {
  const std::string v = *a.optional("class");
  for (coda::index_t c = 0; Net::num_classes == 10 && c < 10; ++c)
    if (v == class_name<Net>(c)) return c;
  return a.integer("class", 0, 0, Net::num_classes - 1);
}

/// --image FILE (CIFAR-10: resized to 32x32; larger networks: the test transform, the shorter
/// side resized and the centre cropped), or CIFAR-10's test image --index of --data.
template <class Net>
image_of<Net> input_image(const args& a) {
  image_of<Net> img;
  if constexpr (is_cifar_sized<Net>) {
    const auto one = chosen_image(a, "'explain' needs --image FILE, or --data DIR with --index I");
    std::copy(one.data(), one.data() + img.size(), img.data());
  } else {
    if (!a.has("image") || a.has("data") || a.has("index")) throw usage_error("'explain' of an " + std::string(coda::arch_name<Net>::value) + " model takes --image FILE only");
    coda::image_to_input(coda::test_transform(coda::load_image(a.required("image")), static_cast<int>(Net::image_shape::dim(1))),
                         img.data());
  }
  return img;
}

/// The layers whose input's contributions are drawn: --layer L, all with --all-layers, else 0
/// (the encoded image).
std::vector<coda::index_t> chosen_layers(const args& a, coda::index_t depth) {
  std::vector<coda::index_t> layers;
  if (a.has("all-layers"))
    for (coda::index_t l = 0; l < depth; ++l) layers.push_back(l);
  else
    layers.push_back(a.integer("layer", 0, 0, depth - 1));
  return layers;
}

/// Contributions of class `cls` at the input of layer `layer` ([C][H][W]), summed over the
/// channels and enlarged (nearest neighbour) to the image's size: the map render_explanation
/// draws. `total` receives their sum and `shape_text` "CxHxW".
template <class Net>
std::vector<float> layer_map(const Net& net, const image_of<Net>& image, coda::index_t cls, coda::index_t layer, double& total,
                             std::string& shape_text) {
  constexpr coda::index_t image_side = Net::image_shape::dim(1);
  std::vector<float> map(static_cast<std::size_t>(image_side * image_side), 0.f);
  coda::detail::at_index<Net::depth>(std::size_t(layer), [&](auto i) {
    using S = typename Net::template layer_input_shape<i>;
    constexpr coda::index_t channels = S::dim(0), side = S::dim(1), scale = image_side / side;
    static_assert(S::dim(1) == S::dim(2) && image_side % side == 0, "explain draws square maps that divide the image");
    const auto c = coda::layer_contributions<i>(
        net, coda::tensor_view<const float, typename Net::image_shape>(image.data(), 1), {cls});
    std::vector<double> summed(static_cast<std::size_t>(side * side), 0.0);
    for (coda::index_t ch = 0; ch < channels; ++ch)
      for (coda::index_t p = 0; p < side * side; ++p) summed[static_cast<std::size_t>(p)] += c.data()[ch * side * side + p];
    total = 0;
    for (double v : summed) total += v;
    for (coda::index_t y = 0; y < image_side; ++y)
      for (coda::index_t x = 0; x < image_side; ++x)
        map[static_cast<std::size_t>(y * image_side + x)] = float(summed[static_cast<std::size_t>(y / scale * side + x / scale)]);
    shape_text = std::to_string(channels) + "x" + std::to_string(side) + "x" + std::to_string(side);
  });
  return map;
}

}  // namespace

int run_explain(int argc, const char* const* argv) {
  const args a("explain", argc, argv, 2);
  const std::string model = a.required("model"), out = a.required("out");
  apply_threads(a);
  if (a.has("layer") && a.has("all-layers")) throw usage_error("give either --layer or --all-layers, not both");
  const auto file = coda::safetensors_file::read(model);
  return with_any_model(file, model_flags(a), [&](const auto& net) {
    using Net = std::decay_t<decltype(net)>;
    constexpr int side = static_cast<int>(Net::image_shape::dim(1));
    const auto chosen = a.has("class") ? parse_class<Net>(a) : -1;
    const std::vector<coda::index_t> layers = chosen_layers(a, Net::depth);
    const image_of<Net> image = input_image<Net>(a);
    coda::workspace<Net> ws;
    coda::sample<float, typename Net::logits_shape> logits;
    coda::predict(net, image, logits, ws);
    std::array<coda::index_t, Net::num_classes> rank;
    std::iota(rank.begin(), rank.end(), 0);
    std::sort(rank.begin(), rank.end(), [&](auto x, auto y) { return logits(x) > logits(y); });
    const coda::index_t cls = chosen >= 0 ? chosen : rank[0];
    // One row of panels per layer, the first layer at the top.
    std::vector<std::uint8_t> picture;
    std::vector<std::string> lines;
    for (const coda::index_t l : layers) {
      double total = 0;
      std::string shape;
      const std::vector<float> map = layer_map(net, image, cls, l, total, shape);
      const auto row = render_explanation(image.data(), map.data(), side);
      picture.insert(picture.end(), row.begin(), row.end());
      char line[160];
      std::snprintf(line, sizeof line, "contributions at the input of layer %td (%s) sum to %.6f (logit - bias)", l,
                    shape.c_str(), total);
      lines.push_back(line);
    }
    const picture_size size(side);
    const int height = size.height * static_cast<int>(layers.size());
    coda::write_png(out, size.width, height, picture);
    std::printf("top classes (p = sigmoid(logit)):\n");
    for (int k = 0; k < 3; ++k) {
      const auto c = rank[static_cast<std::size_t>(k)];
      std::printf("  %d. %-10s logit %9.4f  p %.4f\n", k + 1, class_name<Net>(c).c_str(), double(logits(c)),
                  1 / (1 + std::exp(-double(logits(c)))));
    }
    std::printf("explained class: %s; picture: %s (%dx%d%s)\n", class_name<Net>(cls).c_str(), out.c_str(), size.width, height,
                layers.size() > 1 ? ", a row per layer from layer 0" : "");
    for (const auto& line : lines) std::printf("  %s\n", line.c_str());
    return 0;
  });
}

}  // namespace cifar

// coda-cifar10 explain --model M (--image FILE | --data DIR --index I) --out PNG [--class C]
//                      [--layer L | --all-layers]
#include <coda/attribution/contributions.hpp>
#include <coda/io/image.hpp>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "args.hpp"
#include "commands.hpp"
#include "data.hpp"
#include "model_dispatch.hpp"
#include "render.hpp"

namespace cifar {

namespace {

using image_t = coda::sample<float, coda::shape<3, 32, 32>>;

/// --class: an index 0-9 or a class name.
coda::index_t parse_class(const args& a) {
  const std::string v = *a.optional("class");
  for (std::size_t c = 0; c < coda::cifar10_classes.size(); ++c)
    if (v == coda::cifar10_classes[c]) return static_cast<coda::index_t>(c);
  return a.integer("class", 0, 0, 9);
}

image_t input_image(const args& a) {
  image_t img;
  if (a.has("image")) {
    if (a.has("data") || a.has("index")) throw usage_error("give either --image or --data with --index, not both");
    const auto rgb = coda::resize_image(coda::load_image(a.required("image")), 32, 32);
    for (coda::index_t i = 0; i < img.size(); ++i) img.data()[i] = float(rgb.chw[static_cast<std::size_t>(i)]) / 255.f;
    return img;
  }
  if (!a.has("data") || !a.has("index")) throw usage_error("'explain' needs --image FILE, or --data DIR with --index I");
  const auto index = a.integer("index", 0, 0, 1LL << 40);
  const auto test = load_split(a.required("data"), a.choice("format", {"auto", "binary", "folder"}),
                               coda::dataset_split::test, 0, coda::threads());
  if (index >= test.size())
    throw usage_error("--index " + std::to_string(index) + " is outside the " + std::to_string(test.size()) + " test images");
  test.image_as(index, img.data());
  return img;
}

/// The layers whose input's contributions are drawn: --layer L, all with --all-layers, else 0
/// (the encoded image).
std::vector<coda::index_t> chosen_layers(const args& a, coda::index_t depth) {
  if (a.has("layer") && a.has("all-layers")) throw usage_error("give either --layer or --all-layers, not both");
  std::vector<coda::index_t> layers;
  if (a.has("all-layers"))
    for (coda::index_t l = 0; l < depth; ++l) layers.push_back(l);
  else
    layers.push_back(a.integer("layer", 0, 0, depth - 1));
  return layers;
}

/// Contributions of class `cls` at the input of layer `layer` ([C][H][W]), summed over the
/// channels and enlarged (nearest neighbour) to the image's 32x32: the map render_explanation
/// draws. `total` receives their sum and `shape_text` "CxHxW".
template <class Net>
std::vector<float> layer_map(const Net& net, const image_t& image, coda::index_t cls, coda::index_t layer, double& total,
                             std::string& shape_text) {
  std::vector<float> map(32 * 32, 0.f);
  coda::detail::at_index<Net::depth>(std::size_t(layer), [&](auto i) {
    using S = typename Net::template layer_input_shape<i>;
    constexpr coda::index_t channels = S::dim(0), side = S::dim(1), scale = 32 / side;
    static_assert(S::dim(1) == S::dim(2) && 32 % side == 0, "explain draws square maps that divide the 32x32 image");
    const auto c = coda::layer_contributions<i>(
        net, coda::tensor_view<const float, typename Net::image_shape>(image.data(), 1), {cls});
    std::vector<double> summed(static_cast<std::size_t>(side * side), 0.0);
    for (coda::index_t ch = 0; ch < channels; ++ch)
      for (coda::index_t p = 0; p < side * side; ++p) summed[static_cast<std::size_t>(p)] += c.data()[ch * side * side + p];
    total = 0;
    for (double v : summed) total += v;
    for (coda::index_t y = 0; y < 32; ++y)
      for (coda::index_t x = 0; x < 32; ++x)
        map[static_cast<std::size_t>(y * 32 + x)] = float(summed[static_cast<std::size_t>(y / scale * side + x / scale)]);
    shape_text = std::to_string(channels) + "x" + std::to_string(side) + "x" + std::to_string(side);
  });
  return map;
}

}  // namespace

int run_explain(int argc, const char* const* argv) {
  const args a("explain", argc, argv, 2);
  const std::string model = a.required("model"), out = a.required("out");
  apply_threads(a);
  const auto chosen = a.has("class") ? parse_class(a) : -1;
  const std::vector<coda::index_t> layers = chosen_layers(a, coda::cifar10_9l<float>::depth);
  const auto file = coda::safetensors_file::read(model);
  const image_t image = input_image(a);
  return with_model(file, model_flags(a), [&](const auto& net) {
    using Net = std::decay_t<decltype(net)>;
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
      const auto row = render_explanation(image.data(), map.data());
      picture.insert(picture.end(), row.begin(), row.end());
      char line[160];
      std::snprintf(line, sizeof line, "contributions at the input of layer %td (%s) sum to %.6f (logit - bias)", l,
                    shape.c_str(), total);
      lines.push_back(line);
    }
    const int height = picture_height * static_cast<int>(layers.size());
    coda::write_png(out, picture_width, height, picture);
    std::printf("top classes (p = sigmoid(logit)):\n");
    for (int k = 0; k < 3; ++k) {
      const auto c = rank[static_cast<std::size_t>(k)];
      std::printf("  %d. %-10s logit %9.4f  p %.4f\n", k + 1, coda::cifar10_classes[static_cast<std::size_t>(c)],
                  double(logits(c)), 1 / (1 + std::exp(-double(logits(c)))));
    }
    std::printf("explained class: %s; picture: %s (%dx%d%s)\n", coda::cifar10_classes[static_cast<std::size_t>(cls)],
                out.c_str(), picture_width, height, layers.size() > 1 ? ", a row per layer from layer 0" : "");
    for (const auto& line : lines) std::printf("  %s\n", line.c_str());
    return 0;
  });
}

}  // namespace cifar

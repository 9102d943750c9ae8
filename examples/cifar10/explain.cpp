// coda-cifar10 explain --model M (--image FILE | --data DIR --index I) --out PNG [--class C]
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

}  // namespace

int run_explain(int argc, const char* const* argv) {
  const args a("explain", argc, argv, 2);
  const std::string model = a.required("model"), out = a.required("out");
  apply_threads(a);
  const auto chosen = a.has("class") ? parse_class(a) : -1;
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
    auto contributions = std::make_unique<coda::sample<float, typename Net::encoded_shape>>();
    coda::explain(net, image, cls, *contributions, ws);
    std::vector<float> map(32 * 32, 0.f);
    for (coda::index_t c = 0; c < 6; ++c)
      for (coda::index_t i = 0; i < 1024; ++i) map[static_cast<std::size_t>(i)] += contributions->data()[c * 1024 + i];
    coda::write_png(out, picture_width, picture_height, render_explanation(image.data(), map.data()));
    std::printf("top classes (p = sigmoid(logit)):\n");
    for (int k = 0; k < 3; ++k) {
      const auto c = rank[static_cast<std::size_t>(k)];
      std::printf("  %d. %-10s logit %9.4f  p %.4f\n", k + 1, coda::cifar10_classes[static_cast<std::size_t>(c)],
                  double(logits(c)), 1 / (1 + std::exp(-double(logits(c)))));
    }
    std::printf("explained class: %s; contributions sum to %.6f (logit - bias); picture: %s (%dx%d)\n",
                coda::cifar10_classes[static_cast<std::size_t>(cls)],
                std::accumulate(map.begin(), map.end(), 0.0), out.c_str(), picture_width, picture_height);
    return 0;
  });
}

}  // namespace cifar

#include "image_input.hpp"

#include <coda/core/threads.hpp>
#include <coda/data/image_transforms.hpp>
#include <coda/io/image.hpp>
#include <coda/io/model_file.hpp>
#include <coda/io/safetensors.hpp>

#include "args.hpp"
#include "data.hpp"

namespace cifar {

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

coda::tensor<float, image_shape> chosen_image(const args& a, const std::string& missing) {
  coda::tensor<float, image_shape> img(1);
  if (a.has("image")) {
    if (a.has("data") || a.has("index")) throw usage_error("give either --image or --data with --index, not both");
    const auto input = coda::resize_image(coda::load_image(a.required("image")), 32, 32);
    coda::image_to_input(input, img.data());
    return img;
  }
  if (!a.has("data") || !a.has("index")) throw usage_error(missing);
  const auto index = a.integer("index", 0, 0, 1LL << 40);
  const auto test = load_split(a.required("data"), a.choice("format", {"auto", "binary", "folder"}),
                               coda::dataset_split::test, 0, coda::threads());
  if (index >= test.size())
    throw usage_error("--index " + std::to_string(index) + " is outside the " + std::to_string(test.size()) + " test images");
  test.image_as(index, img.data());
  return img;
}

}  // namespace cifar

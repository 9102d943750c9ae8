// Tutorial: a CoDA-Net of your own, trained on a toy data set, saved, reloaded and explained.
// CTest runs it ("example: train a custom network"); any failed check makes it return 1.
#include <coda/coda.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

// 3x16x16 RGB images, 4 classes. AddInverse turns 3 channels into 6 (r, g, b, 1-r, 1-g, 1-b);
// each dau_conv<C_in, C_out, rank, kernel, stride, pad> takes what the one before gives, and the
// last gives one map per class, which the head sums, divides by the temperature and shifts by the bias.
using net_t = coda::network<float, coda::shape<3, 16, 16>,     //
                            coda::dau_conv<6, 16, 8, 3, 2, 1>,   // -> 16x8x8
                            coda::dau_conv<16, 16, 8, 3, 2, 1>,  // -> 16x4x4
                            coda::dau_conv<16, 4, 8, 1, 1, 0>>;  // -> 4x4x4: the class maps
// The name written into model files ("custom" without it): a file of another network then fails to load.
template <> struct coda::arch_name<net_t> { static constexpr const char* value = "tutorial-16px"; };
constexpr coda::index_t classes = net_t::num_classes, count = 64, epochs = 8;

// Image n: dim noise and a bright 5x5 square at a random place, coloured red, green, blue or
// white for classes 0 to 3. A fixed seed makes every run the same.
void make_data(coda::tensor<float, net_t::image_shape>& images, std::vector<int>& labels) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> noise(0.f, 0.3f);
  std::uniform_int_distribution<int> place(0, 11);
  for (coda::index_t n = 0; n < count; ++n) {
    const int label = int(n % classes), y0 = place(rng), x0 = place(rng);
    labels[n] = label;
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 16; ++y)
        for (int x = 0; x < 16; ++x)  // the square lights the channels of its colour only
          images(n, c, y, x) = (label == 3 || c == label) && y >= y0 && y < y0 + 5 && x >= x0 && x < x0 + 5
                                   ? 1.f : noise(rng);
  }
}

int main(int argc, char** argv) try {
  const std::string path = argc > 1 ? argv[1] : "train-example.safetensors";
  coda::tensor<float, net_t::image_shape> images(count);
  std::vector<int> labels(count);
  make_data(images, labels);
  // The paper's T = 1000 suits its 9 layers on 32x32 images; a small net needs a lower one for its
  // logits to move. The bias log(1/(classes-1)) starts the BCE loss balanced.
  net_t net(10.f, std::log(1.f / (classes - 1)));
  coda::init_uniform(net, 1);
  coda::training_settings s;  // the paper's BCE and Adam, a higher rate for a toy problem
  s.lr = 1e-2;
  s.batch = s.virtual_batch = 8;  // one optimiser step per mini-batch
  coda::trainer<net_t> tr(net, s);
  double first = 0, last = 0;
  for (coda::index_t epoch = 0; epoch < epochs; ++epoch) {
    double loss = 0;  // train_batch returns a mini-batch's mean loss, before its step
    for (coda::index_t b = 0; b < count; b += s.batch)
      loss += tr.train_batch(images.sample_data(b), &labels[b], s.batch, epoch) / double(count / s.batch);
    (epoch == 0 ? first : last) = loss;
  }

  // A model file holds the parameters as F32 and the head's constants: a float network comes back exactly.
  coda::save_model(net, path);
  const net_t loaded = coda::load_model<net_t>(path);
  const auto logits = coda::predict(net, images.view()), again = coda::predict(loaded, images.view());
  const bool same = std::equal(logits.data(), logits.data() + logits.size(), again.data());

  // Completeness: the contributions to the encoded input add up to the logit minus the bias.
  const auto maps = coda::contributions(loaded, images.view().slice(0, 1), {labels[0]});
  double sum = loaded.logit_bias();
  for (coda::index_t i = 0; i < maps.size(); ++i) sum += maps.data()[i];
  const double error = std::abs(sum - logits(0, labels[0]));

  std::printf("mean training loss: epoch 1 %.4f, epoch %td %.4f\nreloaded logits identical: %s\n"
              "image 0, class %d: logit %.5f, contributions + bias %.5f, completeness error %.2g\n",
              first, epochs, last, same ? "yes" : "NO", labels[0], double(logits(0, labels[0])), sum, error);
  return last < 0.5 * first && same && error < 1e-4 * (1 + std::abs(sum)) ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  return 1;
}

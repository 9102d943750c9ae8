// coda-cifar10 train --arch imagenet100-9l and eval of such a model (docs/imagenet.md): image
// folders of any number of classes (up to the network's) and images of any size, decoded and
// transformed as each mini-batch is prepared (the authors' transforms, coda/data/image_transforms.hpp),
// top-1 and top-5 accuracy. One process; checkpoints, logs and reports are CIFAR-10's for now.
#include "image_folders.hpp"

#include <coda/data/augment.hpp>
#include <coda/data/image_folder.hpp>
#include <coda/data/image_transforms.hpp>
#include <coda/io/model_file.hpp>
#include <coda/nn/init.hpp>
#include <coda/nn/training.hpp>
#include <cmath>
#include <cstdio>
#include <future>

#include "device.hpp"
#include "model_dispatch.hpp"
#include "processes.hpp"
#include "progress.hpp"

namespace cifar {

namespace {

using Net = imagenet_net;
constexpr int side = static_cast<int>(Net::image_shape::dim(1));
constexpr coda::index_t image_floats = Net::image_shape::size;

/// Images and labels of a mini-batch (or an evaluation chunk), as the network takes them.
struct batch {
  explicit batch(coda::index_t n) : images(static_cast<std::size_t>(n * image_floats)), labels(static_cast<std::size_t>(n)) {}
  std::vector<float> images;
  std::vector<int> labels;
};

/// A split of the folder, checked against the network's classes and cut to `limit` images.
coda::image_folder_listing load_listing(const std::string& dir, coda::dataset_split split, coda::index_t limit) {
  coda::image_folder_listing all = coda::list_image_folder(dir, split);
  if (static_cast<coda::index_t>(all.classes.size()) > Net::num_classes)
    throw coda::format_error(dir + ": " + std::to_string(all.classes.size()) + " class directories, more than the " +
                             std::to_string(Net::num_classes) + " classes of " + coda::arch_name<Net>::value);
  return coda::balanced_subset(all, limit);
}

/// Decodes and transforms images first..first+count of `order` into `into`: the training
/// transform drawn for each position of the epoch, or the test transform.
void prepare(const coda::image_folder_listing& data, const std::vector<coda::index_t>& order, coda::index_t first,
             coda::index_t count, bool augment, std::uint64_t seed, coda::index_t epoch, batch& into) {
  for (coda::index_t k = 0; k < count; ++k) {
    const auto i = static_cast<std::size_t>(order[static_cast<std::size_t>(first + k)]);
    const coda::rgb_image img = coda::load_image(data.files[i].string());
    const coda::rgb_image input = augment ? coda::train_transform(img, side, coda::augmentation_key(seed, epoch, first + k))
                                          : coda::test_transform(img, side);
    coda::image_to_input(input, into.images.data() + k * image_floats);
    into.labels[static_cast<std::size_t>(k)] = data.labels[i];
  }
}

struct accuracies {
  double top1 = 0, top5 = 0;
};

/// Top-1 and top-5 accuracy of `net` on the test transform of every image of `data`.
accuracies evaluate(const Net& net, const coda::image_folder_listing& data) {
  const auto n = static_cast<coda::index_t>(data.files.size());
  // A few images per forward call: a 240x240 image's activations take hundreds of megabytes.
  const coda::index_t chunk = std::max(2, coda::threads());
  const std::vector<coda::index_t> order = coda::epoch_order(n, 0, 0, false);
  batch b(chunk);
  coda::index_t top1 = 0, top5 = 0;
  progress bar("test", n);
  for (coda::index_t first = 0; first < n; first += chunk) {
    const coda::index_t m = std::min(chunk, n - first);
    prepare(data, order, first, m, false, 0, 0, b);
    const auto logits = coda::predict(net, coda::tensor_view<const float, Net::image_shape>(b.images.data(), m));
    for (coda::index_t k = 0; k < m; ++k) {
      const float* l = logits.data() + k * Net::num_classes;
      top1 += coda::in_top_k(l, Net::num_classes, b.labels[static_cast<std::size_t>(k)], 1);
      top5 += coda::in_top_k(l, Net::num_classes, b.labels[static_cast<std::size_t>(k)], 5);
    }
    bar.update(first + m, -1, double(top1) / double(first + m));
  }
  bar.finish();
  return {double(top1) / double(n), double(top5) / double(n)};
}

/// The authors' recipe for imagenet100-9l, each value replaced by its flag when given.
coda::training_settings recipe(const args& a) {
  const auto pick = [&](const char* flag, double authors, double min, double max) {
    return a.has(flag) ? a.number(flag, min, max) : authors;
  };
  coda::training_settings s;
  s.batch = static_cast<coda::index_t>(pick("batch", 4, 1, 1 << 20));
  s.virtual_batch = static_cast<coda::index_t>(pick("virtual-batch", 64, 1, 1 << 30));
  if (s.virtual_batch < s.batch || s.virtual_batch % s.batch != 0)
    throw usage_error("--virtual-batch must be a positive multiple of --batch");
  s.lr = pick("lr", 1e-3, 1e-12, 1e3);
  s.lr_step = static_cast<coda::index_t>(pick("lr-step", 20, 1, 1LL << 40));
  s.lr_decay = pick("lr-decay", 2, 1e-6, 1e6);
  s.warmup_epochs = static_cast<coda::index_t>(pick("warmup-epochs", 15, 0, 1LL << 40));
  s.warmup_lr = pick("warmup-lr", 2.5e-4, 0, 1e3);
  s.optimizer = a.choice("optimizer", {"adam", "sgd"}) == "adam" ? coda::optimizer_kind::adam : coda::optimizer_kind::sgd;
  s.momentum = a.number("momentum", 0, 1);
  s.loss = a.choice("loss", {"bce", "ce"}) == "bce" ? coda::loss_kind::binary_cross_entropy : coda::loss_kind::cross_entropy;
  return s;
}

/// Flags of train that only the CIFAR-10 path has so far: refused rather than ignored.
void refuse_cifar_only_flags(const args& a) {
  for (const char* flag : {"checkpoint-dir", "checkpoint-every", "resume", "log", "report", "format", "no-shuffle"})
    if (a.has(flag)) throw usage_error("--" + std::string(flag) + " is not available with --arch imagenet100-9l");
  if (a.has("norm") && a.value("norm") != coda::squash::name)
    throw usage_error("--arch imagenet100-9l trains with the squash norm, as its authors did");
  if (select_device(a) != device_kind::cpu) throw usage_error("--arch imagenet100-9l trains on the CPU");
}

Net initial_network(const args& a, std::uint64_t seed) {
  if (a.has("init")) return coda::load_model<Net>(a.required("init"), model_flags(a));
  Net net(static_cast<float>(a.number("temperature", coda::imagenet100_9l_temperature, 1e-6, 1e12)),
          static_cast<float>(a.number("logit-bias", std::log(0.1 / 0.9), -1e6, 1e6)));
  coda::init_uniform(net, seed);
  return net;
}

}  // namespace

int train_image_folders(const args& a) {
  const std::string data = a.required("data"), out = a.required("out");
  apply_threads(a);
  const coda::index_t epochs = a.has("epochs") ? a.integer("epochs", 0, 1000000) : 60;
  const auto seed = static_cast<std::uint64_t>(a.integer("seed", 0, std::numeric_limits<long long>::max()));
  const bool augment = !a.has("no-augment");
  const coda::training_settings settings = recipe(a);
  refuse_cifar_only_flags(a);
  if (join_processes().size() > 1) throw usage_error("--arch imagenet100-9l trains in one process: run it without mpirun");
  const auto train = load_listing(data, coda::dataset_split::train, a.integer("limit-train", 0, 1LL << 40));
  const auto test = load_listing(data, coda::dataset_split::test, a.integer("limit-test", 0, 1LL << 40));
  Net net = initial_network(a, seed);
  coda::trainer<Net> tr(net, settings);
  const auto n = static_cast<coda::index_t>(train.files.size());
  const coda::index_t batches = (n + settings.batch - 1) / settings.batch;
  std::vector<float> logits(static_cast<std::size_t>(settings.batch * Net::num_classes));
  batch buffers[2] = {batch(settings.batch), batch(settings.batch)};
  accuracies test_accuracy;
  for (coda::index_t epoch = 0; epoch < epochs; ++epoch) {
    const auto order = coda::epoch_order(n, seed, epoch, true);
    const auto size_of = [&](coda::index_t b) { return std::min(settings.batch, n - b * settings.batch); };
    const auto prepare_batch = [&](coda::index_t b) {
      prepare(train, order, b * settings.batch, size_of(b), augment, seed, epoch, buffers[b % 2]);
    };
    progress bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(epochs), n);
    double loss_sum = 0;
    coda::index_t correct = 0;
    prepare_batch(0);
    for (coda::index_t b = 0; b < batches; ++b) {
      // The next mini-batch is decoded and transformed while this one trains.
      std::future<void> next;
      if (b + 1 < batches) next = std::async(std::launch::async, prepare_batch, b + 1);
      const batch& cur = buffers[b % 2];
      const coda::index_t m = size_of(b);
      loss_sum += tr.train_batch(cur.images.data(), cur.labels.data(), m, epoch, logits.data()) * double(m);
      for (coda::index_t k = 0; k < m; ++k)
        correct += coda::in_top_k(logits.data() + k * Net::num_classes, Net::num_classes, cur.labels[static_cast<std::size_t>(k)], 1);
      const coda::index_t seen = b * settings.batch + m;
      bar.update(seen, loss_sum / double(seen), double(correct) / double(seen));
      if (next.valid()) next.get();
    }
    tr.flush(epoch);
    bar.finish();
    const double seconds = bar.seconds();
    test_accuracy = evaluate(net, test);
    std::printf("epoch %td/%td  loss %.4f  train acc %.2f%%  test top-1 %.2f%%  top-5 %.2f%%  lr %.3g  %.1fs\n", epoch + 1,
                epochs, loss_sum / double(n), 100.0 * double(correct) / double(n), 100 * test_accuracy.top1,
                100 * test_accuracy.top5, tr.lr(epoch), seconds);
    std::fflush(stdout);
  }
  if (epochs == 0) test_accuracy = evaluate(net, test);
  coda::save_model(net, out);
  std::printf("test accuracy: top-1 %.2f%%, top-5 %.2f%%\n", 100 * test_accuracy.top1, 100 * test_accuracy.top5);
  leave_processes();
  return 0;
}

int eval_image_folders(const args& a, const coda::safetensors_file& file) {
  if (a.has("format") && a.value("format") != "auto" && a.value("format") != "folder")
    throw usage_error("an imagenet100-9l model is evaluated on an image folder (--format folder)");
  if (select_device(a) != device_kind::cpu) throw usage_error("an imagenet100-9l model is evaluated on the CPU");
  const Net net = coda::model_from_file<Net>(file, model_flags(a));
  const accuracies acc = evaluate(net, load_listing(a.required("data"), coda::dataset_split::test, a.integer("limit-test", 0, 1LL << 40)));
  std::printf("test accuracy: top-1 %.2f%%, top-5 %.2f%%\n", 100 * acc.top1, 100 * acc.top5);
  return 0;
}

}  // namespace cifar

// coda-cifar10 train / eval (docs/cli.md).
#include <coda/data/augment.hpp>
#include <coda/io/checkpoint.hpp>
#include <coda/nn/init.hpp>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <sstream>

#include "args.hpp"
#include "commands.hpp"
#include "data.hpp"
#include "device.hpp"
#include "evaluate.hpp"
#include "image_folders.hpp"
#include "model_dispatch.hpp"
#include "processes.hpp"
#include "train_report.hpp"

namespace cifar {

namespace {

struct batch_buffers {
  explicit batch_buffers(coda::index_t batch)
      : images(static_cast<std::size_t>(batch * coda::cifar_image_bytes)), labels(static_cast<std::size_t>(batch)) {}
  std::vector<float> images;
  std::vector<int> labels;
};

/// Running statistics of the epoch in progress, kept in the checkpoint's application record so
/// that a resumed epoch reports the same summary (loss, training accuracy, seconds) as an
/// uninterrupted one.
struct epoch_stats {
  double loss_sum = 0;  ///< sum over the images seen of their loss
  std::int64_t seen = 0, correct = 0;
  double seconds = 0;  ///< training time of the epoch so far

  static constexpr const char* kind = "coda-cifar10.epoch_stats";
  static constexpr std::int64_t version = 1;
  /// The record's bytes: the four fields, 8 bytes each, in the order above (little-endian, as
  /// the rest of the file).
  static constexpr std::size_t record_bytes = 32;

  /// The statistics of the whole run from each process's own (collective): the sums over the
  /// processes, with rank 0's clock.
  epoch_stats over(coda::collective& group) const {
    double sums[3] = {loss_sum, double(seen), double(correct)};
    group.sum(sums, 3);
    return {sums[0], std::int64_t(sums[1]), std::int64_t(sums[2]), seconds};
  }

  coda::checkpoint_record record() const {
    coda::checkpoint_record r{kind, version, std::vector<std::uint8_t>(record_bytes)};
    std::memcpy(r.bytes.data(), &loss_sum, 8);
    std::memcpy(r.bytes.data() + 8, &seen, 8);
    std::memcpy(r.bytes.data() + 16, &correct, 8);
    std::memcpy(r.bytes.data() + 24, &seconds, 8);
    return r;
  }

  /// The statistics of a checkpoint's record; anything but this layout with sane values is a
  /// damaged (or foreign) file.
  static epoch_stats from(const coda::checkpoint_record& r, const std::string& path) {
    epoch_stats s;
    const bool layout_ok = r.kind == kind && r.version == version && r.bytes.size() == record_bytes;
    if (layout_ok) {
      std::memcpy(&s.loss_sum, r.bytes.data(), 8);
      std::memcpy(&s.seen, r.bytes.data() + 8, 8);
      std::memcpy(&s.correct, r.bytes.data() + 16, 8);
      std::memcpy(&s.seconds, r.bytes.data() + 24, 8);
    }
    const bool values_ok = s.seen >= 0 && s.correct >= 0 && s.correct <= s.seen && std::isfinite(s.loss_sum) &&
                           s.loss_sum >= 0 && std::isfinite(s.seconds) && s.seconds >= 0;
    if (!layout_ok || !values_ok) throw coda::format_error(path + ": invalid epoch statistics in '" + kind + "'");
    return s;
  }
};

/// --log FILE: one CSV row per epoch, appended (a resumed run continues the same file).
class csv_log {
 public:
  explicit csv_log(const std::string& path) {
    if (path.empty()) return;
    const bool fresh = !coda::detail::file_exists(path);
    file_.open(path, std::ios::app);
    if (!file_) throw coda::io_error(path + ": cannot open the log file for writing");
    if (fresh) file_ << "epoch,loss,train_accuracy,test_accuracy,lr,seconds\n" << std::flush;
  }
  void row(coda::index_t epoch, double loss, double train_acc, double test_acc, double lr, double seconds) {
    if (!file_.is_open()) return;
    file_ << epoch << ',' << loss << ',' << train_acc << ',' << test_acc << ',' << lr << ',' << seconds << '\n' << std::flush;
    if (!file_) throw coda::io_error("cannot write to the log file");
  }

 private:
  std::ofstream file_;
};

struct train_options {
  std::string data, out, format, init, checkpoint_dir, log, report;
  coda::index_t epochs, limit_train, limit_test, checkpoint_every;
  int threads;
  std::uint64_t seed;
  float temperature, logit_bias;  ///< of a network initialised from the seed (without --init)
  bool augment, shuffle, resume;
  device_kind device;
  coda::training_settings settings;
  coda::model_overrides model;

  /// The settings a resumed run must share with the run that wrote the checkpoint.
  std::string run_description() const {
    std::ostringstream s;
    s.precision(17);
    s << "optimizer=" << (settings.optimizer == coda::optimizer_kind::adam ? "adam" : "sgd") << " lr=" << settings.lr
      << " momentum=" << settings.momentum << " lr_step=" << settings.lr_step << " lr_decay=" << settings.lr_decay
      << " batch=" << settings.batch << " virtual_batch=" << settings.virtual_batch
      << " loss=" << (settings.loss == coda::loss_kind::binary_cross_entropy ? "bce" : "ce") << " seed=" << seed
      << " augment=" << augment << " shuffle=" << shuffle << " limit_train=" << limit_train;
    return s.str();
  }
  std::string checkpoint_path() const { return checkpoint_dir + "/checkpoint.safetensors"; }
};

/// Creates the checkpoint directory, and removes temporary files a killed run left behind (the
/// checkpoint itself is only ever replaced by rename, so it is never partial).
void prepare_checkpoint_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw coda::io_error(dir + ": cannot create the checkpoint directory: " + ec.message());
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename().string().rfind("checkpoint.safetensors.tmp.", 0) == 0) std::filesystem::remove(it->path(), ec);
}

train_options parse_train(const args& a) {
  train_options o;
  o.data = a.required("data");
  o.out = a.required("out");
  o.threads = apply_threads(a);
  o.format = a.choice("format", {"auto", "binary", "folder"});
  o.epochs = a.integer("epochs", 0, 1000000);
  o.limit_train = a.integer("limit-train", 0, 1LL << 40);
  o.limit_test = a.integer("limit-test", 0, 1LL << 40);
  o.seed = static_cast<std::uint64_t>(a.integer("seed", 0, std::numeric_limits<long long>::max()));
  o.augment = !a.has("no-augment");
  o.shuffle = !a.has("no-shuffle");
  o.init = a.optional("init").value_or("");
  o.checkpoint_dir = a.optional("checkpoint-dir").value_or("");
  o.log = a.optional("log").value_or("");
  o.report = a.optional("report").value_or("");
  o.checkpoint_every = a.integer("checkpoint-every", 0, 1LL << 40);
  o.resume = a.has("resume");
  if (o.resume && o.checkpoint_dir.empty()) throw usage_error("--resume needs --checkpoint-dir");
  if (o.checkpoint_every && o.checkpoint_dir.empty()) throw usage_error("--checkpoint-every needs --checkpoint-dir");
  auto& s = o.settings;
  s.batch = a.integer("batch", 1, 1 << 20);
  s.virtual_batch = a.integer("virtual-batch", 1, 1 << 30);
  if (s.virtual_batch < s.batch || s.virtual_batch % s.batch != 0)
    throw usage_error("--virtual-batch must be a positive multiple of --batch");
  s.lr = a.number("lr", 1e-12, 1e3);
  s.optimizer = a.choice("optimizer", {"adam", "sgd"}) == "adam" ? coda::optimizer_kind::adam : coda::optimizer_kind::sgd;
  s.momentum = a.number("momentum", 0, 1);
  s.lr_step = a.integer("lr-step", 1, 1LL << 40);
  s.lr_decay = a.number("lr-decay", 1e-6, 1e6);
  s.loss = a.choice("loss", {"bce", "ce"}) == "bce" ? coda::loss_kind::binary_cross_entropy : coda::loss_kind::cross_entropy;
  o.model = model_flags(a);
  // The table can only name the default logit bias, log(1/9), so it is written out here.
  o.temperature = static_cast<float>(a.number("temperature", 1e-6, 1e12));
  o.logit_bias = static_cast<float>(a.number("logit-bias", std::log(1.0 / 9.0), -1e6, 1e6));
  o.device = select_device(a);
  return o;
}

/// The starting network: from --init (its metadata, unless flags override) or freshly
/// initialised from the seed.
template <class Net>
Net initial_network(const train_options& o) {
  if (!o.init.empty()) return coda::load_model<Net>(o.init, o.model);
  Net net(o.temperature, o.logit_bias);
  coda::init_uniform(net, o.seed);
  return net;
}

/// The report's first state: the run's settings, and the epochs an interrupted run logged before.
coda::report::training_report report_start(const train_options& o, coda::index_t train_images) {
  coda::report::training_report r;
  r.model = o.out;
  r.data = o.data;
  const auto& s = o.settings;
  std::ostringstream recipe;
  recipe << o.epochs << (o.epochs == 1 ? " epoch of " : " epochs of ") << train_images << " images, batch " << s.batch << ", virtual batch " << s.virtual_batch
         << ", " << (s.optimizer == coda::optimizer_kind::adam ? "Adam" : "SGD") << " lr " << s.lr << " (divided by "
         << s.lr_decay << " every " << s.lr_step << " epochs), "
         << (s.loss == coda::loss_kind::binary_cross_entropy ? "BCE" : "cross-entropy") << " loss, augmentation "
         << (o.augment ? "on" : "off") << ", " << o.threads << " threads";
  r.recipe = recipe.str();
  r.epochs = static_cast<long>(o.epochs);
  if (o.resume && !o.log.empty()) r.history = read_log_history(o.log);
  return r;
}

/// The epochs from `at` on, with `steps` doing the work of each mini-batch (host_training or
/// device_training, device.hpp); everything else is the same for either device. `net` and `tr`
/// are what checkpoints and the model file are written from.
///
/// With several processes (tr.group()), each trains its share of every mini-batch and evaluates
/// its share of the test set; their statistics are summed where a checkpoint, an epoch line or the
/// model is written, and only rank 0 writes or prints anything.
template <class Net, class Steps>
int run_epochs(const train_options& o, Net& net, coda::trainer<Net>& tr, Steps& steps, const coda::cifar10_dataset& train,
               const coda::cifar10_dataset& test, const coda::training_progress& at, const epoch_stats& resumed_stats) {
  coda::collective& group = tr.group();
  const bool lead = group.rank() == 0;
  const auto checkpoint = [&](const coda::training_progress& p) {
    steps.to_host();
    if (lead) coda::save_checkpoint(o.checkpoint_path(), net, tr, p, o.run_description());
  };
  const coda::batch_share test_share = coda::share_of(test.size(), group.rank(), group.size());
  const coda::cifar10_dataset my_test = coda::slice(test, test_share.first, test_share.count);
  const auto test_accuracy_of_run = [&] {
    double correct = std::round(steps.test_accuracy(my_test) * double(my_test.size()));
    group.sum(&correct, 1);
    return test.size() ? correct / double(test.size()) : 0.0;
  };
  const coda::index_t n = train.size(), batches = (n + o.settings.batch - 1) / o.settings.batch;
  std::vector<float> logits(static_cast<std::size_t>(o.settings.batch * Net::num_classes));
  batch_buffers buffers[2] = {batch_buffers(o.settings.batch), batch_buffers(o.settings.batch)};
  csv_log log(lead ? o.log : "");
  report_file report(lead ? o.report : "", lead ? report_start(o, n) : coda::report::training_report{});
  rate_probe probe;
  double test_accuracy = -1;
  for (coda::index_t epoch = at.epoch; epoch < o.epochs; ++epoch) {
    const auto order = coda::epoch_order(n, o.seed, epoch, o.shuffle);
    const auto size_of = [&](coda::index_t b) { return std::min(o.settings.batch, n - b * o.settings.batch); };
    const auto share = [&](coda::index_t b) { return coda::share_of(size_of(b), group.rank(), group.size()); };
    // A process prepares only its share: augmentation draws by position in the epoch's order.
    const auto prepare = [&](coda::index_t b, batch_buffers* into) {
      coda::prepare_batch(train, order, b * o.settings.batch + share(b).first, share(b).count, o.augment, o.seed, epoch,
                          into->images.data(), into->labels.data());
    };
    progress bar("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(o.epochs), n);
    // A resumed epoch continues the statistics it had reached, so its summary is the same (rank 0
    // holds them; the sum over the processes adds the others' from zero).
    const bool resumed = at.epoch == epoch;
    epoch_stats stats = resumed && lead ? resumed_stats : epoch_stats{};
    const double seconds_before = stats.seconds;
    const coda::index_t start = resumed ? at.batches_done : 0;
    if (start < batches) prepare(start, &buffers[start % 2]);
    for (coda::index_t b = start; b < batches; ++b) {
      // The next mini-batch is prepared while this one trains.
      std::future<void> next;
      if (b + 1 < batches) next = std::async(std::launch::async, prepare, b + 1, &buffers[(b + 1) % 2]);
      const batch_buffers& cur = buffers[b % 2];
      const coda::index_t m = size_of(b), mine = share(b).count;
      stats.loss_sum += steps.train_share(cur.images.data(), cur.labels.data(), mine, m, epoch, logits.data()) * double(m);
      for (coda::index_t k = 0; k < mine; ++k) {
        const float* l = logits.data() + k * Net::num_classes;
        stats.correct += std::max_element(l, l + Net::num_classes) - l == cur.labels[static_cast<std::size_t>(k)];
      }
      stats.seen += mine;
      bar.update(b * o.settings.batch + m, stats.loss_sum / double(stats.seen), double(stats.correct) / double(stats.seen));
      if (const double rate = probe.after_batch(bar.seconds(), static_cast<long>(m), b + 1 == batches); rate > 0) {
        const std::string estimate = estimate_text(static_cast<long>(o.epochs - epoch), static_cast<long>(n), rate, probe.measured_images());
        bar.note("estimate: " + estimate);
        report.set_estimate(estimate);
      }
      if (o.checkpoint_every && steps.pending() == 0 && steps.steps() % o.checkpoint_every == 0 && b + 1 < batches) {
        stats.seconds = seconds_before + bar.seconds();
        checkpoint({epoch, b + 1, o.seed, stats.over(group).record()});
      }
      if (next.valid()) next.get();
    }
    steps.flush(epoch);
    bar.finish();
    const double train_seconds = seconds_before + bar.seconds();
    test_accuracy = test_accuracy_of_run();
    const epoch_stats all = stats.over(group);
    const double loss = all.seen ? all.loss_sum / double(all.seen) : 0.0,
                 train_accuracy = all.seen ? double(all.correct) / double(all.seen) : 0.0;
    if (!lead) continue;
    std::printf("epoch %td/%td  loss %.4f  train acc %.2f%%  test acc %.2f%%  lr %.3g  %.1fs\n", epoch + 1, o.epochs, loss,
                100 * train_accuracy, 100 * test_accuracy, tr.lr(epoch), train_seconds);
    std::fflush(stdout);
    log.row(epoch + 1, loss, train_accuracy, test_accuracy, tr.lr(epoch), train_seconds);
    if (report.enabled()) {
      steps.to_host();
      report.add_epoch({static_cast<long>(epoch + 1), loss, train_accuracy, test_accuracy, tr.lr(epoch), train_seconds},
                       explain_for_report(net, test));
    }
    if (!o.checkpoint_dir.empty()) checkpoint({epoch + 1, 0, o.seed, epoch_stats{}.record()});
  }
  if (test_accuracy < 0) test_accuracy = test_accuracy_of_run();
  steps.to_host();
  if (!lead) return 0;
  coda::save_model(net, o.out);
  std::printf("test accuracy: %.2f%%\n", 100 * test_accuracy);
  return 0;
}

/// Where every process of the run starts: rank 0's position (its checkpoint, when it resumed),
/// and rank 0's parameters and optimiser state (tr.synchronise()).
template <class Net>
void start_together(coda::trainer<Net>& tr, coda::training_progress& at) {
  std::int64_t position[2] = {at.epoch, at.batches_done};
  tr.group().broadcast(position, sizeof position, 0);
  at.epoch = position[0];
  at.batches_done = position[1];
  tr.synchronise();
}

template <class Net>
int train_with(const train_options& o, coda::collective& group) {
  const bool lead = group.rank() == 0;
  const auto train = load_split(o.data, o.format, coda::dataset_split::train, o.limit_train, o.threads);
  const auto test = load_split(o.data, o.format, coda::dataset_split::test, o.limit_test, o.threads);
  Net net = initial_network<Net>(o);
  coda::trainer<Net> tr(net, o.settings, group);
  coda::training_progress at;
  at.seed = o.seed;
  epoch_stats stats;
  // Rank 0 alone reads and writes checkpoints; the others receive its state.
  if (lead && !o.checkpoint_dir.empty()) prepare_checkpoint_dir(o.checkpoint_dir);
  if (lead && o.resume && coda::detail::file_exists(o.checkpoint_path())) {
    at = coda::load_checkpoint(o.checkpoint_path(), net, tr, o.run_description(), o.model);
    stats = epoch_stats::from(at.record, o.checkpoint_path());
    std::cout << "resuming from " << o.checkpoint_path() << " at epoch " << at.epoch + 1 << ", mini-batch "
              << at.batches_done << "\n";
  }
  start_together(tr, at);
#ifdef CODA_HAS_CUDA
  if (o.device == device_kind::cuda) {
    device_training<Net> steps(net, tr);
    return run_epochs(o, net, tr, steps, train, test, at, stats);
  }
#endif
  host_training<Net> steps(net, tr);
  return run_epochs(o, net, tr, steps, train, test, at, stats);
}

}  // namespace

int run_train(int argc, const char* const* argv) {
  const args a("train", argc, argv, 2);
  if (a.choice("arch", {"cifar10-9l", "imagenet100-9l"}) != "cifar10-9l") return train_image_folders(a);
  for (const char* flag : {"warmup-epochs", "warmup-lr"})
    if (a.has(flag)) throw usage_error("--" + std::string(flag) + " is for --arch imagenet100-9l; cifar10-9l's recipe has no warm-up");
  const train_options o = parse_train(a);
  std::string norm = a.choice("norm", {"squash", "l2"});
  coda::collective& group = join_processes();
  if (group.size() > 1 && o.device == device_kind::cuda)
    throw usage_error("--device cuda trains in one process: run it without mpirun");
  if (group.rank() != 0) progress::silence();
  if (!o.init.empty() && !o.model.norm) norm = coda::read_model_metadata(coda::safetensors_file::read(o.init)).norm;
  const int code = norm == "l2" ? train_with<coda::cifar10_9l<float, coda::l2>>(o, group)
                                : train_with<coda::cifar10_9l<float, coda::squash>>(o, group);
  leave_processes();
  return code;
}

int run_eval(int argc, const char* const* argv) {
  const args a("eval", argc, argv, 2);
  const int threads = apply_threads(a);
  const std::string data = a.required("data"), model = a.required("model");
  const std::string format = a.choice("format", {"auto", "binary", "folder"});
  const auto limit = a.integer("limit-test", 0, 1LL << 40);
  const coda::model_overrides overrides = model_flags(a);
  // Read only by the CUDA build: without it, select_device() only validates the flag.
  [[maybe_unused]] const device_kind device = select_device(a);
  const auto file = coda::safetensors_file::read(model);
  if (coda::read_model_metadata(file, overrides).arch == coda::arch_name<imagenet_net>::value) return eval_image_folders(a, file);
  const auto test = load_split(data, format, coda::dataset_split::test, limit, threads);
  const double acc = with_model(file, overrides, [&](const auto& net) {
#ifdef CODA_HAS_CUDA
    if (device == device_kind::cuda) return device_accuracy(net, test, "test");
#endif
    return accuracy(net, test, "test");
  });
  std::printf("test accuracy: %.2f%%\n", 100 * acc);
  return 0;
}

}  // namespace cifar

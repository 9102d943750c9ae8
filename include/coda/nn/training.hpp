// Training: gradients of a loss through the tape, and the paper's training loop step with
// virtual batches (gradients of virtual_batch / batch mini-batches accumulated, each mini-batch's
// loss scaled by batch / virtual_batch, then one optimiser step).
#pragma once

#include <algorithm>
#include <array>
#include <cassert>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "coda/core/threads.hpp"
#include "coda/nn/collective.hpp"
#include "coda/nn/network.hpp"
#include "coda/nn/loss.hpp"
#include "coda/nn/optimizer.hpp"

namespace coda {

/// Adds to `grad` (a gradient buffer of Net::gradient_size elements) the gradient of the loss of
/// `batch` images and returns the loss (sum of the per-sample terms; see record_loss for `scale`
/// and `mean_over`). The logits of the pass are copied to `logits_out` when given. Part of the
/// DAU parameter gradient is kept as batch sums that are cheaper to apply once per optimiser
/// step: call finish_gradients() before reading grad[0 .. parameter_count).
template <class Net>
double accumulate_gradients(const Net& net, const typename Net::scalar_type* images, const int* labels, index_t batch,
                            loss_kind kind, double scale, index_t mean_over, tape<typename Net::scalar_type>& t,
                            typename Net::scalar_type* grad, typename Net::scalar_type* logits_out = nullptr) {
  using T = typename Net::scalar_type;
  t.prepare(record_mode::train, Net::workspace_size(batch, record_mode::train, 1, true), Net::training_tape_nodes);
  const T* logits = net.forward(images, batch, t);
  if (logits_out) std::copy(logits, logits + batch * Net::num_classes, logits_out);
  const double loss = record_loss(t, kind, logits, batch, Net::num_classes, labels, scale, mean_over);
  T* seed = t.memory().allocate(static_cast<std::size_t>(batch));
  std::fill(seed, seed + batch, T(1));
  // Node 0 is the AddInverse encoding: nothing to learn there, and nobody needs the image gradient.
  run_backward<T>(t, 1, t.size() - 1, backward_mode::train, 1, seed, grad, false);
  return loss;
}

/// Completes a gradient buffer: applies (and zeroes) every DAU layer's batch sums, so that
/// grad[0 .. parameter_count) is the gradient of everything accumulated since it was zeroed.
/// `each_layer(depth, g)` calls g(i) once per layer i (the layers are independent).
template <class Net, class EachLayer = detail::in_order>
void finish_gradients(const Net& net, typename Net::scalar_type* grad, EachLayer&& each_layer = {}) {
  using T = typename Net::scalar_type;
  each_layer(index_t(Net::depth), [&](index_t k) {
    detail::at_index<Net::depth>(std::size_t(k), [&](auto i) {
      using L = typename Net::template layer<i>;
      constexpr kernels::dau_dims g = L::template dims<typename Net::template layer_input_shape<i>>();
      arena<T> scratch;
      scratch.reserve(kernels::finish_dau_param_grads_scratch<T>(g));
      kernels::finish_dau_param_grads(g, net.layer_weights(i), dau_sums_at(g, grad, Net::template sums_offset<i>()),
                                      dau_grads_at<L>(grad, Net::template parameter_offset<i>()), scratch);
    });
  });
}

struct training_settings {
  loss_kind loss = loss_kind::binary_cross_entropy;
  optimizer_kind optimizer = optimizer_kind::adam;
  double lr = 2.5e-4;
  double momentum = 0.9;  ///< SGD only
  index_t lr_step = 30;   ///< epochs between learning-rate decays
  double lr_decay = 1.5;
  index_t batch = 8;
  index_t virtual_batch = 16;  ///< a multiple of batch
  index_t warmup_epochs = 0;   ///< epochs of linear warm-up from warmup_lr to lr (scheduled_lr)
  double warmup_lr = 0;
};

/// The paper's training loop step. A mini-batch is split into chunks of 2 to 4 images (chunk_of),
/// recorded and differentiated on the worker threads (coda::threads()); each worker accumulates
/// into its own gradient buffer, and the buffers are summed in worker order before each optimiser
/// step, so training is bit-reproducible for a fixed thread count.
///
/// Data-parallel over several processes (a `collective` other than single_process()): each
/// process trains its share of every mini-batch (share_of) with the loss still averaged over the
/// whole mini-batch, and the gradient is summed over the processes once per optimiser step, so
/// the steps are those of one process up to the order of the float sums. Every process takes the
/// same steps; call synchronise() once before training (and after loading a checkpoint) so that
/// they also start from the same state.
template <class Net>
class trainer {
 public:
  using T = typename Net::scalar_type;
  /// Most images per tape recording: the memory of a worker is that of `max_chunk` images.
  static constexpr index_t max_chunk = 4;

  /// Images per chunk of an n-image mini-batch: as many as give every worker one chunk, within
  /// [2, max_chunk]. At the paper's batch of 8 on 2 workers that is 4, which gives the 8x8 layers'
  /// parameter gradients products over 4 x 64 positions (kernels::dau_backward_images); smaller
  /// batches or more workers keep chunks of 2, so that no worker waits while another has two.
  static index_t chunk_of(index_t n, int workers) {
    return std::clamp<index_t>((n + workers - 1) / workers, 2, max_chunk);
  }

  trainer(Net& net, const training_settings& s, collective& group = single_process())
      : net_(net), settings_(s), group_(group) {
    CODA_REQUIRE(s.batch > 0 && s.virtual_batch >= s.batch && s.virtual_batch % s.batch == 0,
                 "coda::trainer: the virtual batch must be a positive multiple of the batch");
    CODA_REQUIRE(s.lr > 0 && std::isfinite(s.lr), "coda::trainer: the learning rate must be positive");
    CODA_REQUIRE(s.lr_step > 0 && s.lr_decay > 0 && std::isfinite(s.lr_decay),
                 "coda::trainer: the learning-rate step and decay must be positive");
    CODA_REQUIRE(s.momentum >= 0 && s.momentum <= 1, "coda::trainer: the momentum must be in [0, 1]");
    CODA_REQUIRE(s.warmup_epochs >= 0 && s.warmup_lr >= 0 && std::isfinite(s.warmup_lr),
                 "coda::trainer: the warm-up epochs and rate must not be negative");
    if (s.optimizer == optimizer_kind::adam) {
      optimizer_.template emplace<adam<T>>(Net::parameter_count);
    } else {
      optimizer_.template emplace<sgd<T>>(Net::parameter_count);
      std::get<sgd<T>>(optimizer_).momentum = s.momentum;
    }
  }

  /// One mini-batch of `n` <= batch images: accumulates the gradient of this process's share of
  /// it (all of it when the run is one process), the loss scaled by batch / virtual_batch, and
  /// steps once a virtual batch is complete. Returns this process's part of the mini-batch's mean
  /// loss (unscaled; the parts of the processes sum to it); the share's logits go to
  /// `logits_out` at their place in the mini-batch when given.
  double train_batch(const T* images, const int* labels, index_t n, index_t epoch, T* logits_out = nullptr) {
    const batch_share s = share_of(n, group_.rank(), group_.size());
    return train_share(images + s.first * Net::image_shape::size, labels + s.first, s.count, n, epoch,
                       logits_out ? logits_out + s.first * Net::num_classes : nullptr);
  }

  /// train_batch for a caller that holds only this process's share of the mini-batch: the
  /// `count` images of share_of(n, rank, size), of an n-image mini-batch (count may be 0).
  double train_share(const T* images, const int* labels, index_t count, index_t n, index_t epoch, T* logits_out = nullptr) {
    CODA_REQUIRE(n > 0 && n <= settings_.batch, "coda::trainer: a mini-batch holds 1 to `batch` images");
    CODA_REQUIRE(count == share_of(n, group_.rank(), group_.size()).count,
                 "coda::trainer: the share differs from share_of(n, rank, size)");
    for (index_t i = 0; i < count; ++i)
      if (labels[i] < 0 || labels[i] >= Net::num_classes)
        CODA_THROW(argument_error("coda::trainer: label " + std::to_string(labels[i]) + " of image " + std::to_string(i) +
                             " is outside [0, " + std::to_string(Net::num_classes) + ")"));
    const double scale = double(settings_.batch) / double(settings_.virtual_batch);
    detail::thread_pool& pool = detail::pool();
    while (static_cast<int>(workers_.size()) < pool.workers()) workers_.push_back(std::make_unique<worker>());
    const index_t chunk = chunk_of(count, pool.workers());
    const index_t chunks = (count + chunk - 1) / chunk;
    std::vector<double> losses(static_cast<std::size_t>(chunks));
    pool.run(chunks, [&](long c, int w) {
      const index_t first = c * chunk, m = std::min(chunk, count - first);
      worker& me = *workers_[static_cast<std::size_t>(w)];
      losses[static_cast<std::size_t>(c)] =
          accumulate_gradients(net_, images + first * Net::image_shape::size, labels + first, m, settings_.loss, scale, n,
                               me.recording, me.grad.data(), logits_out ? logits_out + first * Net::num_classes : nullptr);
    });
    double loss = 0;
    for (double l : losses) loss += l;
    if (++pending_ == settings_.virtual_batch / settings_.batch) step(epoch);
    return loss / scale;
  }

  /// Gives every process the parameters, optimiser state and step count of process 0 (collective;
  /// nothing to do for one process). Between virtual batches only.
  void synchronise() {
    CODA_REQUIRE(pending_ == 0, "coda::trainer: synchronise() between virtual batches only");
    if (group_.size() == 1) return;
    const auto send = [&](T* data, index_t count) { group_.broadcast(data, std::size_t(count) * sizeof(T), 0); };
    net_.update_parameters(send);
    std::visit(
        [&](auto& o) {
          if constexpr (std::is_same_v<std::decay_t<decltype(o)>, adam<T>>) {
            send(o.exp_avg(), o.size());
            send(o.exp_avg_sq(), o.size());
          } else {
            send(o.momentum_buffer(), o.size());
          }
          std::int64_t steps = o.steps();
          group_.broadcast(&steps, sizeof steps, 0);
          o.set_steps(steps);
        },
        optimizer_);
  }

  /// Takes the step of a partly accumulated virtual batch (end of an epoch); false if none was due.
  bool flush(index_t epoch) {
    if (pending_ == 0) return false;
    step(epoch);
    return true;
  }

  double lr(index_t epoch) const {
    return scheduled_lr(settings_.lr, settings_.lr_decay, settings_.lr_step, epoch, settings_.warmup_epochs, settings_.warmup_lr);
  }
  const training_settings& settings() const { return settings_; }
  collective& group() const { return group_; }
  index_t pending() const { return pending_; }
  std::int64_t steps() const {
    return std::visit([](const auto& o) { return o.steps(); }, optimizer_);
  }
  std::variant<adam<T>, sgd<T>>& optimizer() { return optimizer_; }
  const std::variant<adam<T>, sgd<T>>& optimizer() const { return optimizer_; }

 private:
  struct worker {
    tape<T> recording;
    coda::detail::aligned_vector<T> grad = coda::detail::aligned_vector<T>(Net::gradient_size, T(0));
  };

  template <std::size_t... I>
  static constexpr std::array<index_t, Net::depth> layer_sizes(std::index_sequence<I...>) {
    return {Net::template layer<I>::parameter_count...};
  }

  /// The layers each of `workers` workers takes in a step's per-layer work (the batch sums, the
  /// refresh), which costs about a layer's parameter count: largest first, each to the least
  /// loaded worker. Dealt in turn, cifar10-9l's L5 and L7 fell to one worker and the other waited.
  static std::vector<std::vector<index_t>> layers_by_worker(int workers) {
    constexpr std::array<index_t, Net::depth> sizes = layer_sizes(std::make_index_sequence<Net::depth>{});
    std::array<index_t, Net::depth> order{};
    for (std::size_t i = 0; i < Net::depth; ++i) order[i] = index_t(i);
    std::stable_sort(order.begin(), order.end(), [&](index_t a, index_t b) { return sizes[std::size_t(a)] > sizes[std::size_t(b)]; });
    std::vector<std::vector<index_t>> plan(static_cast<std::size_t>(workers));
    std::vector<index_t> load(plan.size(), 0);
    for (index_t layer : order) {
      const std::size_t w = std::size_t(std::min_element(load.begin(), load.end()) - load.begin());
      plan[w].push_back(layer);
      load[w] += sizes[std::size_t(layer)];
    }
    return plan;
  }

  // The optimiser step on every worker: the gradient buffers are summed and zeroed, the batch
  // sums applied, the parameters updated and the layers' derived data refreshed in pieces that
  // are independent of each other, so the result is that of one thread, bit for bit.
  void step(index_t epoch) {
    detail::thread_pool& pool = detail::pool();
    const auto plan = layers_by_worker(pool.workers());
    const auto each_layer = [&](index_t count, auto&& g) {
      assert(count == index_t(Net::depth));
      (void)count;
      pool.run(long(plan.size()), [&](long w, int) {
        for (index_t layer : plan[std::size_t(w)]) g(layer);
      });
    };
    const auto ranges = [&](std::size_t count, auto&& f) {
      const std::size_t piece = (count / (4 * std::size_t(pool.workers())) / 64 + 1) * 64;  // whole cache lines
      pool.run(long((count + piece - 1) / piece),
               [&](long c, int) { f(std::size_t(c) * piece, std::min(count, std::size_t(c + 1) * piece)); });
    };
    T* grad = workers_[0]->grad.data();
    ranges(std::size_t(Net::gradient_size), [&](std::size_t begin, std::size_t end) {
      for (std::size_t w = 1; w < workers_.size(); ++w) {
        T* other = workers_[w]->grad.data();
        for (std::size_t i = begin; i < end; ++i) grad[i] += other[i];
        std::fill(other + begin, other + end, T(0));
      }
    });
    finish_gradients(net_, grad, each_layer);
    group_.sum(grad, std::size_t(Net::parameter_count));  // once per step: the processes' shares of the virtual batch
    const double rate = lr(epoch);
    net_.update_parameters([&](T* p, index_t) { std::visit([&](auto& o) { o.step(p, grad, rate, ranges); }, optimizer_); },
                           each_layer);
    ranges(std::size_t(Net::gradient_size), [&](std::size_t begin, std::size_t end) { std::fill(grad + begin, grad + end, T(0)); });
    pending_ = 0;
  }

  Net& net_;
  training_settings settings_;
  collective& group_;
  std::vector<std::unique_ptr<worker>> workers_;
  std::variant<adam<T>, sgd<T>> optimizer_{std::in_place_type<adam<T>>, 0};
  index_t pending_ = 0;
};

}  // namespace coda

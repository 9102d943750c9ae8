// The training step: coda::trainer against the same step done by hand (accumulate_gradients and
// an optimiser), virtual batches (one step per virtual_batch / batch mini-batches, each weighted
// batch / virtual_batch, so that the step sees the mean gradient over the virtual batch), flush()
// of a partial virtual batch, the SGD path, and the validation of settings and mini-batches.
#include <catch2/catch.hpp>
#include <cstring>
#include <limits>
#include <vector>

#include "coda/nn/inference.hpp"
#include "coda/nn/init.hpp"
#include "coda/nn/training.hpp"
#include "support/random_network.hpp"
#include "support/tolerance.hpp"

namespace test_trainer {

using namespace coda;

namespace {

// Three classes on a 6x6 image: a 3x3 padded layer, then a 1x1 layer producing the class maps.
namespace tol {
/// One optimiser step from gradients that agree to double_reorder, compared as displacements
/// (new - old parameter): the parameters are O(0.5) and the displacements O(lr |g|) >= ~1e-6,
/// so the two roundings of each subtraction cost up to ~1e-10 of the displacement's scale.
inline constexpr double step_displacement = 1e-9;
}  // namespace tol

using tiny_net = network<double, shape<3, 6, 6>, dau_conv<6, 4, 3, 3, 1, 1>, dau_conv<4, 3, 3, 1, 1, 0>>;
constexpr index_t P = tiny_net::parameter_count;
constexpr index_t image_size = tiny_net::image_shape::size;

tiny_net make_net() {
  // A low temperature keeps the logits (and so the loss gradients) away from saturation.
  tiny_net net(1.0, -0.5);
  init_uniform(net, 21);
  return net;
}

/// Eight images and labels; mini-batch k of size b starts at image k * b.
struct dataset {
  tensor<double, tiny_net::image_shape> images = test::random_images<double, tiny_net::image_shape>(8, 77);
  std::vector<int> labels = {0, 2, 1, 1, 2, 0, 0, 1};
  const double* image(index_t n) const { return images.data() + n * image_size; }
  const int* label(index_t n) const { return labels.data() + n; }
};

std::vector<double> params_of(const tiny_net& net) { return {net.parameters(), net.parameters() + P}; }

/// The gradient of the mean loss over images [first, first + n), accumulated in one call.
std::vector<double> mean_gradient(const tiny_net& net, const dataset& d, index_t first, index_t n, loss_kind kind,
                                  double* loss = nullptr) {
  std::vector<double> g(static_cast<std::size_t>(tiny_net::gradient_size), 0.0);
  tape<double> t;
  const double l = accumulate_gradients(net, d.image(first), d.label(first), n, kind, 1.0, n, t, g.data());
  finish_gradients(net, g.data());
  if (loss) *loss = l;
  g.resize(static_cast<std::size_t>(P));
  return g;
}

bool any_nonzero(const std::vector<double>& v) {
  for (double x : v)
    if (x != 0) return true;
  return false;
}

training_settings settings(index_t batch, index_t virtual_batch, optimizer_kind opt = optimizer_kind::adam,
                           loss_kind loss = loss_kind::binary_cross_entropy) {
  training_settings s;
  s.batch = batch;
  s.virtual_batch = virtual_batch;
  s.optimizer = opt;
  s.loss = loss;
  s.lr = 1e-2;
  return s;
}

}  // namespace

TEST_CASE("training_settings defaults are the paper's", "[train]") {
  const training_settings s;
  CHECK(s.loss == loss_kind::binary_cross_entropy);
  CHECK(s.optimizer == optimizer_kind::adam);
  CHECK(s.lr == 2.5e-4);
  CHECK(s.lr_step == 30);
  CHECK(s.lr_decay == 1.5);
  CHECK(s.virtual_batch % s.batch == 0);
}

/// Runs the enclosing test with a given number of worker threads.
struct thread_count_scope {
  explicit thread_count_scope(int n) : saved(threads()) { set_threads(n); }
  ~thread_count_scope() { set_threads(saved); }
  int saved;
};

TEST_CASE("a trainer step with batch == virtual batch is accumulate_gradients plus one adam step", "[train][adam]") {
  // One worker accumulates the chunks in image order, exactly as one accumulate_gradients call.
  const thread_count_scope one_thread(1);
  const dataset d;
  for (loss_kind kind : {loss_kind::binary_cross_entropy, loss_kind::cross_entropy}) {
    INFO((kind == loss_kind::binary_cross_entropy ? "bce" : "ce"));
    tiny_net trained = make_net(), manual = make_net();
    trainer<tiny_net> tr(trained, settings(4, 4, optimizer_kind::adam, kind));
    CHECK(tr.pending() == 0);
    CHECK(tr.steps() == 0);
    CHECK(std::holds_alternative<adam<double>>(tr.optimizer()));

    // Epoch 45 is in the second interval of the schedule: lr = 1e-2 / 1.5.
    const index_t epoch = 45;
    CHECK(tr.lr(epoch) == scheduled_lr(1e-2, 1.5, 30, epoch));
    double manual_loss = 0;
    const auto g = mean_gradient(manual, d, 0, 4, kind, &manual_loss);
    REQUIRE(any_nonzero(g));
    adam<double> opt(P);
    manual.update_parameters([&](double* p, index_t) { opt.step(p, g.data(), scheduled_lr(1e-2, 1.5, 30, epoch)); });

    std::vector<double> logits(4 * tiny_net::num_classes, 0.0);
    const double loss = tr.train_batch(d.image(0), d.label(0), 4, epoch, logits.data());
    // The logits handed back are those of the network before the step (predict records no
    // tape, so its kernels may sum in another order).
    const auto expect_logits = predict(make_net(), tensor_view<const double, tiny_net::image_shape>(d.image(0), 4));
    CHECK(test::relative_error(logits.data(), expect_logits.data(), logits.size()) < test::tolerance::double_reorder);
    CHECK(tr.steps() == 1);
    CHECK(tr.pending() == 0);
    // The same computation in the same order (scale batch / virtual_batch = 1): bit for bit.
    CHECK(loss == manual_loss);
    CHECK(params_of(trained) == params_of(manual));
    const auto& state = std::get<adam<double>>(tr.optimizer());
    CHECK(state.steps() == 1);
    CHECK(std::memcmp(state.exp_avg(), opt.exp_avg(), sizeof(double) * P) == 0);
    CHECK(std::memcmp(state.exp_avg_sq(), opt.exp_avg_sq(), sizeof(double) * P) == 0);

    // A second step sees the updated network (the derived data was refreshed by the step).
    const auto g2 = mean_gradient(manual, d, 4, 4, kind);
    manual.update_parameters([&](double* p, index_t) { opt.step(p, g2.data(), scheduled_lr(1e-2, 1.5, 30, epoch)); });
    tr.train_batch(d.image(4), d.label(4), 4, epoch);
    CHECK(tr.steps() == 2);
    CHECK(params_of(trained) == params_of(manual));
  }
}

TEST_CASE("a virtual batch of two mini-batches takes one step with the mean gradient", "[train][virtual]") {
  const dataset d;
  for (optimizer_kind kind : {optimizer_kind::adam, optimizer_kind::sgd}) {
    INFO((kind == optimizer_kind::adam ? "adam" : "sgd"));
    tiny_net net = make_net();
    const tiny_net reference = net;
    const auto initial = params_of(net);
    trainer<tiny_net> tr(net, settings(2, 4, kind));
    CHECK(tr.settings().virtual_batch == 4);

    double loss_first = 0, loss_second = 0;
    mean_gradient(reference, d, 0, 2, loss_kind::binary_cross_entropy, &loss_first);
    mean_gradient(reference, d, 2, 2, loss_kind::binary_cross_entropy, &loss_second);

    // The first mini-batch only accumulates.
    const double l1 = tr.train_batch(d.image(0), d.label(0), 2, 0);
    CHECK(tr.pending() == 1);
    CHECK(tr.steps() == 0);
    CHECK(params_of(net) == initial);
    // train_batch reports the mini-batch's own mean loss, not the loss weighted by 2 / 4.
    CHECK(l1 == Approx(loss_first).epsilon(test::tolerance::double_reorder));

    // The second completes the virtual batch: one step, nothing pending.
    const double l2 = tr.train_batch(d.image(2), d.label(2), 2, 0);
    CHECK(l2 == Approx(loss_second).epsilon(test::tolerance::double_reorder));
    CHECK(tr.pending() == 0);
    CHECK(tr.steps() == 1);
    CHECK(params_of(net) != initial);

    // The gradient of that step is the mean over the four images: the gradient of one
    // accumulate_gradients call on all four with scale 1. The trainer's came as two halves, each
    // weighted 2/4, so the sums are reassociated.
    const auto expect = mean_gradient(reference, d, 0, 4, loss_kind::binary_cross_entropy);
    std::vector<double> used(static_cast<std::size_t>(P));
    if (kind == optimizer_kind::adam) {
      // After one step, exp_avg = (1 - beta1) g.
      const auto& a = std::get<adam<double>>(tr.optimizer());
      for (index_t i = 0; i < P; ++i) used[i] = a.exp_avg()[i] / (1 - a.beta1);
    } else {
      // After one step, the momentum buffer is g itself.
      const auto& s = std::get<sgd<double>>(tr.optimizer());
      std::copy(s.momentum_buffer(), s.momentum_buffer() + P, used.begin());
    }
    CHECK(test::relative_error(used.data(), expect.data(), expect.size()) < test::tolerance::double_reorder);

    // And the parameters are what one optimiser step with that mean gradient gives.
    tiny_net manual = reference;
    if (kind == optimizer_kind::adam) {
      adam<double> opt(P);
      manual.update_parameters([&](double* p, index_t) { opt.step(p, expect.data(), tr.lr(0)); });
    } else {
      sgd<double> opt(P);
      manual.update_parameters([&](double* p, index_t) { opt.step(p, expect.data(), tr.lr(0)); });
    }
    const auto got = params_of(net), want = params_of(manual);
    std::vector<double> moved(got.size()), want_moved(got.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      moved[i] = got[i] - initial[i];
      want_moved[i] = want[i] - initial[i];
    }
    // Compared as displacements: the step is ~lr, far smaller than the parameters themselves.
    CHECK(test::relative_error(moved.data(), want_moved.data(), moved.size()) < tol::step_displacement);

    // The accumulator was cleared: the next virtual batch starts from zero.
    tr.train_batch(d.image(4), d.label(4), 2, 0);
    CHECK(tr.pending() == 1);
    tr.train_batch(d.image(6), d.label(6), 2, 0);
    CHECK(tr.pending() == 0);
    CHECK(tr.steps() == 2);
  }
}

TEST_CASE("flush steps a partial virtual batch and only then", "[train][flush]") {
  const dataset d;
  tiny_net net = make_net();
  const tiny_net reference = net;
  trainer<tiny_net> tr(net, settings(2, 6, optimizer_kind::sgd));
  CHECK(std::get<sgd<double>>(tr.optimizer()).momentum == 0.9);  // the settings' default

  // Nothing pending: no step.
  CHECK_FALSE(tr.flush(0));
  CHECK(tr.steps() == 0);
  CHECK(params_of(net) == params_of(reference));

  // One of three mini-batches, then the end of the epoch.
  tr.train_batch(d.image(0), d.label(0), 2, 0);
  CHECK(tr.pending() == 1);
  CHECK(tr.steps() == 0);
  CHECK(tr.flush(0));
  CHECK(tr.pending() == 0);
  CHECK(tr.steps() == 1);
  CHECK_FALSE(tr.flush(0));
  CHECK(tr.steps() == 1);

  // The partial virtual batch is not renormalised: its gradient is the mini-batch's mean
  // weighted by batch / virtual_batch = 2 / 6, as a PyTorch loop that divides every loss by the
  // number of accumulation steps and steps at the end of the epoch would give.
  const auto half = mean_gradient(reference, d, 0, 2, loss_kind::binary_cross_entropy);
  const auto& s = std::get<sgd<double>>(tr.optimizer());
  std::vector<double> expect(half.size());
  for (std::size_t i = 0; i < half.size(); ++i) expect[i] = half[i] * (2.0 / 6.0);
  CHECK(test::relative_error(s.momentum_buffer(), expect.data(), expect.size()) < test::tolerance::double_reorder);

  // A short last mini-batch (1 image < batch 2) is accepted; its loss is the mean over that one
  // image, still weighted 2 / 6.
  const tiny_net after_first = net;
  std::vector<double> buffer_before(s.momentum_buffer(), s.momentum_buffer() + P);
  tr.train_batch(d.image(2), d.label(2), 2, 1);
  tr.train_batch(d.image(4), d.label(4), 1, 1);
  CHECK(tr.pending() == 2);
  CHECK(tr.flush(1));
  CHECK(tr.steps() == 2);
  const auto g_pair = mean_gradient(after_first, d, 2, 2, loss_kind::binary_cross_entropy);
  const auto g_single = mean_gradient(after_first, d, 4, 1, loss_kind::binary_cross_entropy);
  for (std::size_t i = 0; i < expect.size(); ++i) expect[i] = 0.9 * buffer_before[i] + (g_pair[i] + g_single[i]) * (2.0 / 6.0);
  CHECK(test::relative_error(s.momentum_buffer(), expect.data(), expect.size()) < test::tolerance::double_reorder);
}

TEST_CASE("the SGD path with momentum matches a manual loop", "[train][sgd]") {
  const dataset d;
  tiny_net trained = make_net(), manual = make_net();
  training_settings s = settings(2, 2, optimizer_kind::sgd, loss_kind::cross_entropy);
  s.momentum = 0.8;
  s.lr = 0.05;
  s.lr_step = 2;
  trainer<tiny_net> tr(trained, s);
  REQUIRE(std::holds_alternative<sgd<double>>(tr.optimizer()));
  CHECK(std::get<sgd<double>>(tr.optimizer()).momentum == 0.8);

  sgd<double> opt(P);
  opt.momentum = 0.8;
  for (index_t k = 0; k < 4; ++k) {
    INFO("step " << k + 1);
    const index_t epoch = k;  // lr drops by 1.5 at epoch 2
    const auto g = mean_gradient(manual, d, 2 * k, 2, loss_kind::cross_entropy);
    manual.update_parameters([&](double* p, index_t) { opt.step(p, g.data(), scheduled_lr(0.05, 1.5, 2, epoch)); });
    tr.train_batch(d.image(2 * k), d.label(2 * k), 2, epoch);
    CHECK(tr.steps() == k + 1);
    // Same operations in the same order: bit for bit.
    CHECK(params_of(trained) == params_of(manual));
    CHECK(std::memcmp(std::get<sgd<double>>(tr.optimizer()).momentum_buffer(), opt.momentum_buffer(), sizeof(double) * P) ==
          0);
  }
}

TEST_CASE("the trainer rejects invalid settings", "[train][errors]") {
  tiny_net net = make_net();
  const auto bad = [&](training_settings s) {
    CHECK_THROWS_AS(trainer<tiny_net>(net, s), argument_error);
  };
  bad(settings(2, 3));   // not a multiple
  bad(settings(4, 6));   // not a multiple
  bad(settings(4, 2));   // smaller than the batch
  bad(settings(0, 4));   // empty batch
  bad(settings(-2, 4));  // negative batch
  for (double lr : {0.0, -1e-3, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    INFO("lr " << lr);
    training_settings s = settings(2, 4);
    s.lr = lr;
    bad(s);
  }
  CHECK_THROWS_WITH(trainer<tiny_net>(net, settings(2, 3)), Catch::Matchers::Contains("multiple"));
  training_settings zero_lr = settings(2, 4);
  zero_lr.lr = 0;
  CHECK_THROWS_WITH(trainer<tiny_net>(net, zero_lr), Catch::Matchers::Contains("learning rate"));
  CHECK_NOTHROW(trainer<tiny_net>(net, settings(2, 4)));
  CHECK_NOTHROW(trainer<tiny_net>(net, settings(3, 3)));
}

TEST_CASE("the trainer rejects a mini-batch larger than `batch` and bad labels without side effects",
          "[train][errors]") {
  const dataset d;
  tiny_net net = make_net();
  const auto initial = params_of(net);
  trainer<tiny_net> tr(net, settings(2, 4));
  CHECK_THROWS_AS(tr.train_batch(d.image(0), d.label(0), 3, 0), argument_error);
  CHECK_THROWS_AS(tr.train_batch(d.image(0), d.label(0), 0, 0), argument_error);
  CHECK_THROWS_AS(tr.train_batch(d.image(0), d.label(0), -1, 0), argument_error);
  const int bad_labels[2] = {1, 3};
  CHECK_THROWS_WITH(tr.train_batch(d.image(0), bad_labels, 2, 0), Catch::Matchers::Contains("label 3"));
  CHECK(tr.pending() == 0);
  CHECK(tr.steps() == 0);
  CHECK(params_of(net) == initial);

  // The failed calls left no gradient behind: a full virtual batch now steps exactly as a fresh
  // trainer's does.
  tiny_net fresh_net = make_net();
  trainer<tiny_net> fresh(fresh_net, settings(2, 4));
  for (index_t k = 0; k < 2; ++k) {
    tr.train_batch(d.image(2 * k), d.label(2 * k), 2, 0);
    fresh.train_batch(d.image(2 * k), d.label(2 * k), 2, 0);
  }
  CHECK(tr.steps() == 1);
  CHECK(params_of(net) == params_of(fresh_net));
}

TEST_CASE("training is bit-identical for a fixed thread count and agrees across thread counts", "[train][threads]") {
  const dataset d;
  auto train = [&](int workers) {
    const thread_count_scope scope(workers);
    tiny_net net = make_net();
    trainer<tiny_net> tr(net, settings(8, 8, optimizer_kind::sgd, loss_kind::binary_cross_entropy));
    tr.train_batch(d.image(0), d.label(0), 8, 0);
    return params_of(net);
  };
  const auto two = train(2), again = train(2), one = train(1), three = train(3);
  CHECK(two == again);
  CHECK(test::relative_error(two.data(), one.data(), two.size()) < test::tolerance::double_reorder);
  CHECK(test::relative_error(three.data(), one.data(), three.size()) < test::tolerance::double_reorder);
}

}  // namespace test_trainer

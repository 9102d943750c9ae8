// CPU-vs-GPU parity of coda::cuda::device_network and device_trainer on cifar10-9l and on a
// small network with both norms (see parity.hpp for what is compared and why 1e-4).
#include "cuda/parity.hpp"

using namespace coda;
using namespace coda::test::cuda;

namespace {
struct gpu {
  using network = coda::cuda::device_network;
  using trainer = coda::cuda::device_trainer;
};
}  // namespace

TEST_CASE("device forward logits match the CPU", "[cuda]") {
  check_forward<gpu>(make_small(), 5, 2);  // chunks of 2, 2 and 1
  check_forward<gpu>(make_cifar(), 4, 3);
}

TEST_CASE("device contributions of every class match the CPU", "[cuda]") {
  check_contributions<gpu>(make_small(), 3, 2);
  check_contributions<gpu>(make_cifar(), 3, 2);
}

TEST_CASE("device loss and gradients match the CPU", "[cuda]") {
  for (loss_kind kind : {loss_kind::binary_cross_entropy, loss_kind::cross_entropy}) {
    check_gradients<gpu>(make_small(), 3, 2, kind);
    check_gradients<gpu>(make_cifar(), 3, 2, kind);
  }
}

TEST_CASE("one device Adam step and one SGD step match the CPU", "[cuda]") {
  check_adam_step<gpu>(make_small(), 3);
  check_adam_step<gpu>(make_cifar(), 2);
  check_sgd_step<gpu>(make_small(), 3);
  check_sgd_step<gpu>(make_cifar(), 2);
}

TEST_CASE("a virtual batch of device trainer steps matches coda::trainer", "[cuda]") {
  check_trainer<gpu>(make_small(), optimizer_kind::adam, loss_kind::binary_cross_entropy);
  check_trainer<gpu>(make_small(), optimizer_kind::sgd, loss_kind::cross_entropy);
  check_trainer<gpu>(make_cifar(), optimizer_kind::adam, loss_kind::binary_cross_entropy);
  check_trainer<gpu>(make_cifar(), optimizer_kind::sgd, loss_kind::cross_entropy);
}

TEST_CASE("device parameters and optimiser state round-trip, and bad requests are refused", "[cuda]") {
  check_round_trips<gpu>(make_small());
  CHECK_THROWS_AS(coda::cuda::device_network(coda::cuda::network_desc{}, 1), argument_error);
}

TEST_CASE("the bridge moves parameters and optimiser state between CPU and device", "[cuda]") {
  auto net = make_small();
  auto dev = coda::cuda::to_device(net, 2);
  training_settings s;
  s.optimizer = optimizer_kind::sgd;
  s.batch = s.virtual_batch = 2;
  coda::cuda::device_trainer tr(dev, coda::cuda::device_settings(s));
  const auto images = images_for<small_net>(2, 18);
  const std::vector<int> labels = labels_for<small_net>(2);
  tr.train_batch(images.data(), labels.data(), 2, 1e-3);
  auto back = make_small();
  trainer<small_net> cpu(back, s);
  coda::cuda::download_parameters(dev, back);
  coda::cuda::download_optimizer(tr, cpu);
  CHECK(cpu.steps() == 1);
  const std::vector<float> p = parameters_of(dev);
  CHECK(std::equal(p.begin(), p.end(), back.parameters()));
  coda::cuda::device_trainer again(dev, coda::cuda::device_settings(s));
  coda::cuda::upload_optimizer(cpu, again);
  CHECK(again.steps() == 1);
}

// Training against the PyTorch reference (tests/fixtures/make_fixtures.py, authors' algorithm
// with materialised dynamic weights): gradients of both losses and the weight updates of one
// deterministic epoch with torch.optim.Adam and torch.optim.SGD(momentum=0.9).
#include <catch2/catch.hpp>
#include <cmath>

#include "coda/data/cifar.hpp"
#include "coda/io/model_file.hpp"
#include "coda/nn/init.hpp"
#include "coda/nn/training.hpp"
#include "support/fixtures.hpp"
#include "support/tolerance.hpp"

namespace test_training_golden {

using namespace coda;

namespace {

using small_net = network<float, shape<3, 8, 8>, dau_conv<6, 8, 4, 3, 1, 1>, dau_conv<8, 6, 5, 3, 2, 1>, dau_conv<6, 5, 6, 1, 1, 0>>;

/// Float gradients against an independent float implementation: both sum ~10^3-10^4 products in
/// different orders (and the fused Gram form of |w|^2 against the materialised one).
constexpr double gradient_tolerance = 1e-4;
/// The bar for a whole epoch of updates: |delta - delta_ref| / |delta_ref| per tensor.
constexpr double update_tolerance = 0.01;

/// |a - b| / |b| over the elements of one tensor (Euclidean norms).
double norm_ratio(const float* a, const float* b, std::size_t n, std::size_t stride = 1) {
  double diff = 0, ref = 0;
  for (std::size_t i = 0, k = 0; k < n; ++k, i += stride) {
    diff += (double(a[i]) - double(b[k])) * (double(a[i]) - double(b[k]));
    ref += double(b[k]) * double(b[k]);
  }
  return std::sqrt(diff) / std::max(std::sqrt(ref), 1e-300);
}

/// Calls f(name, offset, size) for every parameter tensor of Net in state_dict order.
template <class Net, class F>
void for_each_tensor(F&& f) {
  detail::for_each_index(
      [&](auto i) {
        for (const parameter_tensor& p : Net::template layer<i>::parameter_tensors)
          f(std::to_string(i) + "." + p.suffix, Net::template parameter_offset<i>() + p.offset, p.size);
      },
      std::make_index_sequence<Net::depth>{});
}

struct small_setup {
  safetensors_file golden = safetensors_file::read(test::fixture_path("training_small.safetensors"));
  std::vector<float> images = test::fixture_values<float>(golden, "images");
  std::vector<int> labels = test::fixture_values<int>(golden, "labels");

  small_net fresh() const {
    small_net net(10.f, -1.5f);
    init_uniform(net, 21);
    return net;
  }
};

}  // namespace

TEST_CASE("gradients of both losses match PyTorch on a reduced network", "[golden][train][grad]") {
  small_setup s;
  const small_net net = s.fresh();
  for (const auto& loss : {std::pair{"bce", loss_kind::binary_cross_entropy}, std::pair{"ce", loss_kind::cross_entropy}}) {
    const std::string name = loss.first;  // named copies: C++17 lambdas may not capture structured bindings (Clang refuses)
    const loss_kind kind = loss.second;
    std::vector<float> grad(small_net::gradient_size, 0.f);
    tape<float> t;
    accumulate_gradients(net, s.images.data(), s.labels.data(), 4, kind, 1.0, 4, t, grad.data());
    finish_gradients(net, grad.data());
    for_each_tensor<small_net>([&](const std::string& tensor, index_t offset, index_t size) {
      const auto expect = test::fixture_values<float>(s.golden, std::string("grad_") + name + "." + tensor);
      INFO(name << " " << tensor);
      CHECK(test::relative_error(grad.data() + offset, expect.data(), static_cast<std::size_t>(size)) < gradient_tolerance);
    });
  }
}

TEST_CASE("one epoch of Adam and of SGD with momentum matches torch.optim on a reduced network", "[golden][train][optim]") {
  small_setup s;
  for (const char* name : {"adam", "sgd"}) {
    small_net net = s.fresh();
    const small_net before = net;
    training_settings settings;
    settings.batch = 2;
    settings.virtual_batch = 4;
    settings.optimizer = std::string(name) == "adam" ? optimizer_kind::adam : optimizer_kind::sgd;
    settings.lr = settings.optimizer == optimizer_kind::adam ? 0.01 : 0.1;
    trainer<small_net> tr(net, settings);
    for (index_t first = 0; first < 12; first += 2)
      tr.train_batch(s.images.data() + first * 192, s.labels.data() + first, 2, 0);
    CHECK_FALSE(tr.flush(0));
    CHECK(tr.steps() == 3);
    std::vector<float> delta(small_net::parameter_count);
    for (index_t i = 0; i < small_net::parameter_count; ++i) delta[i] = net.parameters()[i] - before.parameters()[i];
    for_each_tensor<small_net>([&](const std::string& tensor, index_t offset, index_t size) {
      const auto expect = test::fixture_values<float>(s.golden, std::string("update_") + name + "." + tensor);
      INFO(name << " " << tensor);
      CHECK(norm_ratio(delta.data() + offset, expect.data(), static_cast<std::size_t>(size)) < update_tolerance);
    });
  }
}

TEST_CASE("cifar10-9l gradients on a fixed batch match PyTorch", "[golden][train][grad][cifar10-9l]") {
  using Net = cifar10_9l<float>;
  const auto golden = safetensors_file::read(test::fixture_path("training_cifar10_9l.safetensors"));
  const index_t every = std::stoll(golden.metadata().at("subsample"));
  Net net;
  init_uniform(net, std::stoull(golden.metadata().at("seed")));
  const auto data = read_cifar_binary(test::fixture_path("cifar48"), dataset_split::train);
  std::vector<float> images(4 * 3072);
  for (index_t n = 0; n < 4; ++n) data.image_as(n, images.data() + n * 3072);
  std::vector<float> grad(Net::gradient_size, 0.f);
  tape<float> t;
  accumulate_gradients(net, images.data(), data.labels.data(), 4, loss_kind::binary_cross_entropy, 1.0, 4, t, grad.data());
  finish_gradients(net, grad.data());
  for_each_tensor<Net>([&](const std::string& tensor, index_t offset, index_t) {
    const auto expect = test::fixture_values<float>(golden, "grad." + tensor);
    std::vector<float> got;
    for (std::size_t k = 0; k < expect.size(); ++k) got.push_back(grad[static_cast<std::size_t>(offset) + k * static_cast<std::size_t>(every)]);
    INFO(tensor);
    CHECK(test::relative_error(got.data(), expect.data(), expect.size()) < gradient_tolerance);
  });
}

}  // namespace test_training_golden

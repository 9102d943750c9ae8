// The optimisers against PyTorch 1.13's update rules: coda::adam and coda::sgd against scalar
// re-implementations in double written from torch's documented algorithms (several steps with
// varying gradients and learning rates, momentum 0, a gradient so small that eps dominates),
// step counting and the state accessors (enough to resume), a golden check against numbers
// produced by torch.optim itself, and the paper's step learning-rate schedule.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include "coda/nn/optimizer.hpp"
#include "support/tolerance.hpp"

namespace test_optimizers {

using namespace coda;

namespace {

namespace tol {
/// The re-implementations use an algebraically equal form (bias-corrected m-hat and v-hat, as in
/// the Adam paper, instead of torch's folded step size) and -march=native may contract a*b+c
/// into an FMA: a few ulps per step, over at most eight steps of O(1) values.
inline constexpr double double_same_update = 1e-13;
/// Float against torch.optim on the CPU: the same formulas, but torch's vectorised kernels and
/// Eigen's may round the scalar multiplies and the addcdiv differently (FMA or not); per element,
/// a few ulps (1.2e-7) of accumulated error over three steps.
inline constexpr double float_vs_torch = 1e-6;
/// std::pow against a hand-written power of 1.5 (exact in binary) divided into the base rate:
/// two correctly rounded operations on one side, a libm pow on the other.
inline constexpr double libm_pow = 1e-15;
}  // namespace tol

/// torch.optim.Adam(betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False), written as in
/// the Adam paper: m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t), p -= lr m_hat / (sqrt(v_hat) + eps).
struct reference_adam {
  std::vector<double> m, v;
  int t = 0;
  explicit reference_adam(std::size_t n) : m(n, 0.0), v(n, 0.0) {}
  void step(std::vector<double>& p, const std::vector<double>& g, double lr) {
    ++t;
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (std::size_t i = 0; i < p.size(); ++i) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const double m_hat = m[i] / (1 - std::pow(b1, t));
      const double v_hat = v[i] / (1 - std::pow(b2, t));
      p[i] -= lr * m_hat / (std::sqrt(v_hat) + eps);
    }
  }
};

/// torch.optim.SGD(momentum=mu, dampening=0, nesterov=False, weight_decay=0): without momentum
/// p -= lr g; with it, the buffer is g on the first step and mu buf + g afterwards, p -= lr buf.
struct reference_sgd {
  std::vector<double> buf;
  double mu;
  bool first = true;
  reference_sgd(std::size_t n, double momentum) : buf(n, 0.0), mu(momentum) {}
  void step(std::vector<double>& p, const std::vector<double>& g, double lr) {
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (mu == 0) {
        p[i] -= lr * g[i];
        continue;
      }
      buf[i] = first ? g[i] : mu * buf[i] + g[i];
      p[i] -= lr * buf[i];
    }
    first = false;
  }
};

/// Element-wise |a - b| <= tol * |b| (every element on its own scale: some are ~1e-10).
template <class A, class B>
void check_each_relative(const A* got, const B* expect, std::size_t n, double tol) {
  for (std::size_t i = 0; i < n; ++i) {
    INFO("element " << i << ": got " << double(got[i]) << ", expected " << double(expect[i]));
    CHECK(std::abs(double(got[i]) - double(expect[i])) <= tol * std::abs(double(expect[i])));
  }
}

const std::vector<double> initial_params = {0.5, -1.25, 2.0, 0.0, 3.0e-3, -0.75};

/// Gradient of step k: varying signs and sizes; element 3 is ~1e-9, far below eps = 1e-8 once
/// bias-corrected, so Adam's eps dominates its update; element 5 is exactly 0 on even steps.
std::vector<double> gradient(int k) {
  std::vector<double> g(initial_params.size());
  for (std::size_t i = 0; i < g.size(); ++i) g[i] = std::sin(1.3 * k + 0.7 * double(i) + 0.2) * (1.0 + double(i));
  g[3] = 1e-9 * std::cos(0.9 * k);
  if (k % 2 == 0) g[5] = 0;
  return g;
}

/// Learning rates that change between steps (the trainer changes them at epoch boundaries).
double rate(int k) { return k < 3 ? 0.1 : 0.02; }

}  // namespace

TEST_CASE("adam matches torch.optim.Adam's update rule step by step", "[optim][adam]") {
  const std::size_t n = initial_params.size();
  adam<double> opt(static_cast<index_t>(n));
  CHECK(opt.size() == static_cast<index_t>(n));
  CHECK(opt.steps() == 0);
  CHECK(opt.beta1 == 0.9);
  CHECK(opt.beta2 == 0.999);
  CHECK(opt.eps == 1e-8);
  for (std::size_t i = 0; i < n; ++i) {
    CHECK(opt.exp_avg()[i] == 0.0);
    CHECK(opt.exp_avg_sq()[i] == 0.0);
  }

  std::vector<double> p = initial_params, expect = initial_params;
  reference_adam ref(n);
  for (int k = 0; k < 8; ++k) {
    INFO("step " << k + 1);
    const std::vector<double> g = gradient(k);
    const std::vector<double> before = p;
    opt.step(p.data(), g.data(), rate(k));
    ref.step(expect, g, rate(k));
    CHECK(opt.steps() == k + 1);
    check_each_relative(p.data(), expect.data(), n, tol::double_same_update);
    check_each_relative(opt.exp_avg(), ref.m.data(), n, tol::double_same_update);
    check_each_relative(opt.exp_avg_sq(), ref.v.data(), n, tol::double_same_update);
    if (k == 0) {
      // The first step moves every element with a non-negligible gradient by lr (sign of g):
      // m_hat / sqrt(v_hat) = g / |g|. The 1e-9 gradient moves by only lr |g| / (|g| + eps).
      for (std::size_t i : {0, 1, 2, 4})
        CHECK(std::abs(before[i] - p[i]) == Approx(rate(0)).epsilon(1e-6));
      const double tiny = std::abs(g[3]);
      CHECK(std::abs(before[3] - p[3]) == Approx(rate(0) * tiny / (tiny + 1e-8)).epsilon(1e-12));
      CHECK(std::abs(before[3] - p[3]) < 0.1 * rate(0));
    }
  }
}

TEST_CASE("adam's state accessors are enough to resume", "[optim][adam]") {
  const std::size_t n = initial_params.size();
  adam<double> original(static_cast<index_t>(n));
  std::vector<double> p = initial_params;
  for (int k = 0; k < 3; ++k) {
    const auto g = gradient(k);
    original.step(p.data(), g.data(), rate(k));
  }

  // A fresh optimiser given the moments and the step count continues identically.
  adam<double> resumed(static_cast<index_t>(n));
  std::copy(original.exp_avg(), original.exp_avg() + n, resumed.exp_avg());
  std::copy(original.exp_avg_sq(), original.exp_avg_sq() + n, resumed.exp_avg_sq());
  resumed.set_steps(original.steps());
  CHECK(resumed.steps() == 3);
  const adam<double>& view = resumed;  // the const accessors see the same state
  CHECK(view.exp_avg()[1] == original.exp_avg()[1]);
  CHECK(view.exp_avg_sq()[1] == original.exp_avg_sq()[1]);

  std::vector<double> q = p;
  for (int k = 3; k < 6; ++k) {
    const auto g = gradient(k);
    original.step(p.data(), g.data(), rate(k));
    resumed.step(q.data(), g.data(), rate(k));
  }
  CHECK(p == q);
  CHECK(resumed.steps() == 6);

  // The step count drives the bias correction: a wrong count changes the update.
  adam<double> miscounted(static_cast<index_t>(n));
  std::copy(original.exp_avg(), original.exp_avg() + n, miscounted.exp_avg());
  std::copy(original.exp_avg_sq(), original.exp_avg_sq() + n, miscounted.exp_avg_sq());
  miscounted.set_steps(0);
  std::vector<double> r = p, s = p;
  const auto g = gradient(6);
  original.step(r.data(), g.data(), 0.1);
  miscounted.step(s.data(), g.data(), 0.1);
  CHECK(r != s);
}

TEST_CASE("sgd matches torch.optim.SGD with and without momentum", "[optim][sgd]") {
  const std::size_t n = initial_params.size();
  for (double mu : {0.9, 0.5, 0.0}) {
    INFO("momentum " << mu);
    sgd<double> opt(static_cast<index_t>(n));
    CHECK(opt.momentum == 0.9);  // the paper's (and the trainer's) default
    opt.momentum = mu;
    CHECK(opt.size() == static_cast<index_t>(n));
    CHECK(opt.steps() == 0);
    std::vector<double> p = initial_params, expect = initial_params;
    reference_sgd ref(n, mu);
    for (int k = 0; k < 6; ++k) {
      INFO("step " << k + 1);
      const auto g = gradient(k);
      opt.step(p.data(), g.data(), rate(k));
      ref.step(expect, g, rate(k));
      CHECK(opt.steps() == k + 1);
      check_each_relative(p.data(), expect.data(), n, tol::double_same_update);
      if (mu != 0) check_each_relative(opt.momentum_buffer(), ref.buf.data(), n, tol::double_same_update);
      if (k == 0) {
        // The first step uses the gradient itself (no dampening of a zero buffer): p -= lr g.
        for (std::size_t i = 0; i < n; ++i) CHECK(opt.momentum_buffer()[i] == g[i]);
      }
    }
  }
}

TEST_CASE("sgd's momentum buffer and step count are enough to resume", "[optim][sgd]") {
  const std::size_t n = initial_params.size();
  sgd<double> original(static_cast<index_t>(n));
  std::vector<double> p = initial_params;
  for (int k = 0; k < 2; ++k) {
    const auto g = gradient(k);
    original.step(p.data(), g.data(), 0.1);
  }
  sgd<double> resumed(static_cast<index_t>(n));
  std::copy(original.momentum_buffer(), original.momentum_buffer() + n, resumed.momentum_buffer());
  resumed.set_steps(original.steps());
  const sgd<double>& view = resumed;
  CHECK(view.momentum_buffer()[0] == original.momentum_buffer()[0]);
  std::vector<double> q = p;
  for (int k = 2; k < 5; ++k) {
    const auto g = gradient(k);
    original.step(p.data(), g.data(), 0.1);
    resumed.step(q.data(), g.data(), 0.1);
  }
  CHECK(p == q);
  CHECK(resumed.steps() == 5);

  // With a step count of 0 the buffer is (re)started from the gradient, as for fresh torch state.
  sgd<double> restarted(static_cast<index_t>(n));
  std::copy(original.momentum_buffer(), original.momentum_buffer() + n, restarted.momentum_buffer());
  const auto g = gradient(7);
  std::vector<double> r = p;
  restarted.step(r.data(), g.data(), 0.1);
  for (std::size_t i = 0; i < n; ++i) CHECK(restarted.momentum_buffer()[i] == g[i]);
}

TEST_CASE("float optimisers reproduce torch.optim numbers", "[optim][torch]") {
  // Expected values produced with PyTorch 1.13 (Debian python3-torch, torch.__version__
  // '1.13.0a0', CPU) by:
  //   p = torch.nn.Parameter(torch.tensor([0.5, -1.25, 2.0, 0.0], dtype=torch.float32))
  //   opt = torch.optim.Adam([p], lr=0.1)   # resp. torch.optim.SGD([p], lr=0.1, momentum=0.9)
  //   for g in grads: p.grad = torch.tensor(g, dtype=torch.float32); opt.step()
  // printing repr(float(x)) of p after every step and opt.state[p] at the end.
  // The size goes through a volatile: when GCC 12 (-O3 -march=native) sees that the buffers hold
  // 4 floats, it reports -Warray-bounds (an error under -Werror) on the dead 16-wide AVX-512 path
  // of the Eigen loops inside sgd<float>::step.
  volatile index_t opaque_size = 4;
  const index_t n = opaque_size;
  const std::vector<float> p0 = {0.5f, -1.25f, 2.0f, 0.0f};
  const std::vector<std::vector<float>> grads = {
      {0.1f, -0.2f, 0.3f, 1e-9f}, {-0.05f, 0.4f, 0.0f, -1e-9f}, {0.2f, 0.1f, -0.6f, 2e-9f}};

  SECTION("Adam(lr=0.1)") {
    const double expect[3][4] = {
        {0.4000000059604645, -1.149999976158142, 1.899999976158142, -0.00909090880304575},
        {0.3733662962913513, -1.1866103410720825, 1.8329942226409912, -0.008612439967691898},
        {0.3075551390647888, -1.228175401687622, 1.8669977188110352, -0.01478697918355465}};
    const double exp_avg[4] = {0.023600000888109207, 0.02979999966919422, -0.035700004547834396, 1.9099999359895037e-10};
    const double exp_avg_sq[4] = {5.2477513236226514e-05, 0.00020976005180273205, 0.0004498201305978,
                                  5.997000875975847e-21};
    adam<float> opt(n);
    std::vector<float> p(static_cast<std::size_t>(n));
    std::copy(p0.begin(), p0.end(), p.begin());
    for (int k = 0; k < 3; ++k) {
      INFO("step " << k + 1);
      opt.step(p.data(), grads[k].data(), 0.1);
      check_each_relative(p.data(), expect[k], 4, tol::float_vs_torch);
    }
    CHECK(opt.steps() == 3);
    check_each_relative(opt.exp_avg(), exp_avg, 4, tol::float_vs_torch);
    check_each_relative(opt.exp_avg_sq(), exp_avg_sq, 4, tol::float_vs_torch);
  }

  SECTION("SGD(lr=0.1, momentum=0.9)") {
    const double expect[3][4] = {
        {0.49000000953674316, -1.2300000190734863, 1.9700000286102295, -1.000000013351432e-10},
        {0.4860000014305115, -1.2519999742507935, 1.943000078201294, -9.000000050773949e-11},
        {0.46239998936653137, -1.2818000316619873, 1.978700041770935, -2.8100000104558376e-10}};
    const double buffer[4] = {0.23600000143051147, 0.2980000078678131, -0.3570000231266022, 1.9099999359895037e-09};
    sgd<float> opt(n);
    opt.momentum = 0.9;
    std::vector<float> p(static_cast<std::size_t>(n));
    std::copy(p0.begin(), p0.end(), p.begin());
    for (int k = 0; k < 3; ++k) {
      INFO("step " << k + 1);
      opt.step(p.data(), grads[k].data(), 0.1);
      check_each_relative(p.data(), expect[k], 4, tol::float_vs_torch);
    }
    CHECK(opt.steps() == 3);
    check_each_relative(opt.momentum_buffer(), buffer, 4, tol::float_vs_torch);
  }
}

TEST_CASE("scheduled_lr follows the paper's step schedule", "[optim][schedule]") {
  // The paper: lr 2.5e-4, divided by 1.5 every 30 epochs.
  const double base = 2.5e-4, decay = 1.5;
  const index_t step = 30;
  struct point {
    index_t epoch;
    double divisor;  // decay^floor(epoch / 30), exact in binary
  };
  for (const point e : {point{0, 1.0}, point{29, 1.0}, point{30, 1.5}, point{59, 1.5}, point{60, 2.25},
                        point{199, 11.390625}}) {
    INFO("epoch " << e.epoch);
    CHECK_THAT(scheduled_lr(base, decay, step, e.epoch), Catch::Matchers::WithinRel(base / e.divisor, tol::libm_pow));
  }
  CHECK(scheduled_lr(base, decay, step, 0) == base);
  CHECK(scheduled_lr(base, decay, step, 29) == base);
  // Constant within an interval, decreasing across boundaries.
  CHECK(scheduled_lr(base, decay, step, 30) == scheduled_lr(base, decay, step, 59));
  CHECK(scheduled_lr(base, decay, step, 60) < scheduled_lr(base, decay, step, 59));
  // A decay of 1 keeps the rate; a decay below 1 raises it.
  CHECK(scheduled_lr(0.1, 1.0, 10, 95) == 0.1);
  CHECK_THAT(scheduled_lr(0.1, 0.5, 10, 25), Catch::Matchers::WithinRel(0.4, tol::libm_pow));
}

TEST_CASE("scheduled_lr with warm-up follows the authors' ImageNet schedule", "[optim][schedule]") {
  // Their list: numpy.linspace(2.5e-4, 1e-3, 15) for epochs 0-14, then 1e-3 / 2^(epoch // 20).
  for (index_t epoch = 0; epoch <= 60; ++epoch) {
    INFO("epoch " << epoch);
    const double expect = epoch < 15 ? 2.5e-4 + double(epoch) * ((1e-3 - 2.5e-4) / 14) : 1e-3 / double(1 << (epoch / 20));
    CHECK_THAT(scheduled_lr(1e-3, 2.0, 20, epoch, 15, 2.5e-4), Catch::Matchers::WithinRel(expect, tol::libm_pow));
  }
  CHECK(scheduled_lr(1e-3, 2.0, 20, 0, 15, 2.5e-4) == 2.5e-4);
  CHECK(scheduled_lr(1e-3, 2.0, 20, 14, 15, 2.5e-4) == 1e-3);
  CHECK(scheduled_lr(1e-3, 2.0, 20, 0, 1, 2.5e-4) == 1e-3);  // one warm-up epoch is the base rate
}

TEST_CASE("scheduled_lr rejects a non-positive step or decay", "[optim][schedule]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(scheduled_lr(2.5e-4, 1.5, 0, 10), argument_error);
  CHECK_THROWS_AS(scheduled_lr(2.5e-4, 1.5, -30, 10), argument_error);
  CHECK_THROWS_AS(scheduled_lr(2.5e-4, 0.0, 30, 10), argument_error);
  CHECK_THROWS_AS(scheduled_lr(2.5e-4, -1.5, 30, 10), argument_error);
  CHECK_THROWS_AS(scheduled_lr(2.5e-4, nan, 30, 10), argument_error);
  CHECK_THROWS_WITH(scheduled_lr(2.5e-4, 1.5, 0, 10), Catch::Matchers::Contains("scheduled_lr"));
}

}  // namespace test_optimizers

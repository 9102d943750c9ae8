// Gradients against finite differences: the DAU layer's train-mode backward rule alone (both
// norms, strides 1 and 2, kernels 1 and 3, padding 0 and 1, odd non-square images, batches 1
// and 3), the same rule against the reference kernel on every cifar10-9l layer shape, the frozen
// (explanation) rule as the adjoint of the frozen linear map, the encoding / head / loss rules
// one at a time, a whole small network (every parameter and every input pixel), and the reuse
// of a training tape.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

#include "coda/kernels/dau_fast.hpp"
#include "coda/kernels/dau_reference.hpp"
#include "coda/nn/dau_conv.hpp"
#include "coda/nn/init.hpp"
#include "coda/nn/training.hpp"
#include "support/random_layer.hpp"
#include "support/tolerance.hpp"

namespace test_gradients {

using namespace coda;

namespace {

namespace tol {
/// The acceptance bar for analytic gradients against central differences in double. With the
/// step below the truncation error is ~h^2/6 |f'''| ~ 1e-11 and the rounding error ~eps |f| / h
/// ~ 1e-11, both relative to gradients of order one; 1e-6 is five orders above that noise and
/// still far below any wrong term (a missing factor or a dropped summand is an O(1) error).
inline constexpr double fd = 1e-6;
/// Central differences of a map that is affine in the perturbed variable (the frozen DAU, the
/// encoding, the head) have no truncation error at all; what is left is the rounding of sums of
/// a few hundred products (~1e-14 relative), so a much tighter bar still leaves a wide margin.
inline constexpr double affine_fd = 1e-10;
}  // namespace tol

/// Central-difference step for smooth (non-affine) functions of O(1) variables: near the optimum
/// (3 eps)^(1/3) ~ 1e-5 of the error h^2/6 |f'''| + eps |f| / h.
inline constexpr double fd_step = 1e-5;
/// Step for affine maps: no truncation error, so a step of order one minimises the rounding.
inline constexpr double affine_step = 0.5;

std::vector<double> random_vector(std::size_t n, double lo, double hi, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(n);
  for (auto& e : v) e = u(rng);
  return v;
}

/// d f / d v_i for every i by central differences; v is restored exactly afterwards.
std::vector<double> central_differences(std::vector<double>& v, const std::function<double()>& f, double h) {
  std::vector<double> g(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double keep = v[i];
    v[i] = keep + h;
    const double up = f();
    v[i] = keep - h;
    const double down = f();
    v[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

double relative_error(const std::vector<double>& ad, const std::vector<double>& fd) {
  REQUIRE(ad.size() == fd.size());
  return test::relative_error(ad.data(), fd.data(), ad.size());
}

/// One DAU layer's parameters (PyTorch-default-like ranges) and their derived data, in T.
template <class T>
struct layer_params : test::random_layer<T> {
  layer_params(const kernels::dau_dims& dims, std::mt19937& rng) : test::random_layer<T>(dims, static_cast<unsigned>(rng())) {}
};

/// Gradients of one layer (input of every image, then A, B, b) computed with the fast kernels the
/// way the tape's rule does: forward per image, train backward of the batch into shared batch sums,
/// finish once per batch.
template <class Norm, class T>
struct fast_train_gradients {
  std::vector<T> x, a, b, bias;

  fast_train_gradients(const layer_params<T>& p, const std::vector<T>& xs, const std::vector<T>& grad_out, index_t batch) {
    const kernels::dau_dims& g = p.g;
    const index_t in = g.conv.image_size(), out = g.output_size();
    const kernels::dau_weights<T> w = p.weights();
    std::vector<test::train_record<T>> records(static_cast<std::size_t>(batch), test::train_record<T>(g));
    std::vector<T> y(static_cast<std::size_t>(out));
    arena<T> fwd;
    fwd.reserve(kernels::dau_forward_scratch<T>(g, true));
    for (index_t n = 0; n < batch; ++n)
      kernels::dau_forward<Norm>(g, w, xs.data() + n * in, y.data(), records[static_cast<std::size_t>(n)].state(), fwd);

    x.assign(xs.size(), T(99));  // overwritten by the backward pass
    a.assign(p.a.size(), T(0));
    b.assign(p.b.size(), T(0));
    bias.assign(p.bias.size(), T(0));
    const kernels::dau_param_grads<T> grads{a.data(), b.data(), bias.data()};
    arena<T> bwd;
    const std::size_t need = dau_backward_scratch<T>(g, backward_mode::train, batch);
    bwd.reserve(need);
    std::vector<T> sums_buffer(static_cast<std::size_t>(kernels::dau_batch_sums<T>::size(g.c_out, g.rank)), T(0));
    const kernels::dau_batch_sums<T> sums = dau_sums_at(g, sums_buffer.data(), 0);
    const auto state_of = [&](index_t n) { return records[static_cast<std::size_t>(n)].state(); };
    kernels::dau_train_backward<Norm>(g, w, batch, xs.data(), state_of, grad_out.data(), x.data(), &grads, &sums, bwd);
    kernels::finish_dau_param_grads(g, w, sums, grads, bwd);
    CHECK(bwd.peak() <= need);

    // The input gradient must not depend on whether parameter gradients were asked for, nor on
    // which images share a product with it (one image at a time here).
    std::vector<T> x_only(xs.size(), T(-7));
    for (index_t n = 0; n < batch; ++n)
      kernels::dau_train_backward<Norm>(g, w, 1, xs.data() + n * in, [&](index_t) { return state_of(n); }, grad_out.data() + n * out,
                                        x_only.data() + n * in, static_cast<const kernels::dau_param_grads<T>*>(nullptr),
                                        static_cast<const kernels::dau_batch_sums<T>*>(nullptr), bwd);
    CHECK(test::relative_error(x_only.data(), x.data(), x.size()) == 0.0);
  }
};

template <class Norm>
void check_layer_against_differences(const kernels::dau_dims& g, index_t batch, unsigned seed) {
  std::mt19937 rng(seed);
  layer_params<double> p(g, rng);
  const index_t in = g.conv.image_size(), out = g.output_size();
  std::vector<double> xs = random_vector(static_cast<std::size_t>(batch * in), -1, 1, rng);
  const std::vector<double> c = random_vector(static_cast<std::size_t>(batch * out), -1, 1, rng);

  const fast_train_gradients<Norm, double> ad(p, xs, c, batch);

  // L = sum_i c_i y_i, y from the reference forward (it reads A, B, b only, never the Gram data).
  std::vector<double> y(static_cast<std::size_t>(out));
  auto objective = [&] {
    const kernels::dau_weights<double> w = p.weights();
    double L = 0;
    for (index_t n = 0; n < batch; ++n) {
      kernels::dau_forward_reference<Norm>(g, w, xs.data() + n * in, y.data());
      for (index_t i = 0; i < out; ++i) L += c[static_cast<std::size_t>(n * out + i)] * y[static_cast<std::size_t>(i)];
    }
    return L;
  };
  CHECK(relative_error(ad.x, central_differences(xs, objective, fd_step)) <= tol::fd);
  CHECK(relative_error(ad.a, central_differences(p.a, objective, fd_step)) <= tol::fd);
  CHECK(relative_error(ad.b, central_differences(p.b, objective, fd_step)) <= tol::fd);
  CHECK(relative_error(ad.bias, central_differences(p.bias, objective, fd_step)) <= tol::fd);
}

// (C_in, H, W, k, stride, pad, C_out, R): kernels 1 and 3, strides 1 and 2, padding 0 and 1
// (padding 1 only with k = 3: a dau_conv requires pad < kernel), odd non-square images; the
// seventh has C_out * R = 360 with R = 40, so some B_o straddle two blocks of the packed B (the
// batch sums are then applied from B itself); the last takes Winograd's t in the forward and its
// weight and input gradients in the backward (kernels::winograd_forward_applies,
// kernels::winograd_weight_gradient_applies).
const kernels::dau_dims small_layers[] = {
    {{3, 5, 7, 3, 1, 1}, 4, 3}, {{3, 5, 7, 3, 2, 1}, 4, 3}, {{2, 7, 5, 3, 1, 0}, 3, 4},
    {{2, 7, 5, 3, 2, 0}, 3, 4}, {{4, 5, 7, 1, 1, 0}, 2, 3}, {{4, 7, 5, 1, 2, 0}, 3, 2},
    {{3, 3, 2, 1, 1, 0}, 9, 40}, {{32, 2, 4, 3, 1, 1}, 2, 3},
};

// (C_in, H, W, k, stride, pad, C_out, R) of each cifar10-9l layer (as in test_dau_kernels.cpp).
const kernels::dau_dims cifar_layers[] = {
    {{6, 32, 32, 3, 1, 1}, 16, 32},  {{16, 32, 32, 3, 1, 1}, 16, 32}, {{16, 32, 32, 3, 2, 1}, 32, 64},
    {{32, 16, 16, 3, 1, 1}, 32, 64}, {{32, 16, 16, 3, 1, 1}, 32, 64}, {{32, 16, 16, 3, 2, 1}, 64, 64},
    {{64, 8, 8, 3, 1, 1}, 64, 64},   {{64, 8, 8, 3, 1, 1}, 64, 64},   {{64, 8, 8, 1, 1, 0}, 10, 64},
};

/// y' = W(x0) x: the DAU with its dynamic weights and norm factors frozen at x0, applied to x,
/// built from the reference kernel's materialised weights.
template <class Norm>
void frozen_apply(const kernels::dau_dims& g, const kernels::dau_weights<double>& p, const double* x0, const double* x,
                  double* y) {
  Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> out(y, g.c_out, g.positions());
  Eigen::VectorXd patch(g.patch_size());
  for (index_t q = 0; q < g.positions(); ++q) {
    const kernels::detail::reference_position<Norm, double> at(g, p, x0, q);
    kernels::im2col(g.conv, x, patch.data(), 1, q, 1);
    out.col(q) = (at.w * patch).cwiseProduct(at.scale);
  }
}

template <class Norm>
void check_frozen_rule(const kernels::dau_dims& g, index_t seeds, unsigned seed) {
  std::mt19937 rng(seed);
  const layer_params<double> p(g, rng);
  const kernels::dau_weights<double> w = p.weights();
  const index_t in = g.conv.image_size(), out = g.output_size(), P = g.positions();
  const std::vector<double> x0 = random_vector(static_cast<std::size_t>(in), -1, 1, rng);
  const std::vector<double> grad_out = random_vector(static_cast<std::size_t>(seeds * out), -1, 1, rng);

  // The explanation record: codes and scales only.
  std::vector<double> y(static_cast<std::size_t>(out)), z(static_cast<std::size_t>(g.rank * P)),
      scale(static_cast<std::size_t>(out));
  kernels::dau_state<double> s;
  s.z = z.data();
  s.scale = scale.data();
  arena<double> mem;
  const std::size_t need = dau_backward_scratch<double>(g, backward_mode::frozen, 1);
  mem.reserve(std::max(kernels::dau_forward_scratch<double>(g, false), need));
  kernels::dau_forward<Norm>(g, w, x0.data(), y.data(), s, mem);
  std::vector<double> g_in(static_cast<std::size_t>(seeds * in), 99.0);
  const std::size_t before = mem.peak();
  kernels::dau_explain_backward<double>(g, w, z.data(), scale.data(), seeds, grad_out.data(), g_in.data(), mem);
  CHECK(mem.peak() <= std::max(before, need));

  // The frozen map reproduces the layer at x0 (y = W(x0) x0): it is the right linear map.
  std::vector<double> yf(static_cast<std::size_t>(out));
  frozen_apply<Norm>(g, w, x0.data(), x0.data(), yf.data());
  CHECK(test::relative_error(yf.data(), y.data(), yf.size()) <= test::tolerance::double_reorder);

  // g_in[k] = d <grad_out[k], W(x0) x> / dx, by central differences of the (linear) frozen map.
  std::vector<double> x = x0;
  for (index_t k = 0; k < seeds; ++k) {
    auto objective = [&] {
      frozen_apply<Norm>(g, w, x0.data(), x.data(), yf.data());
      double v = 0;
      for (index_t i = 0; i < out; ++i) v += grad_out[static_cast<std::size_t>(k * out + i)] * yf[static_cast<std::size_t>(i)];
      return v;
    };
    const std::vector<double> fd = central_differences(x, objective, affine_step);
    INFO("seed " << k);
    CHECK(test::relative_error(g_in.data() + k * in, fd.data(), fd.size()) <= tol::affine_fd);
  }
}

/// Runs one recorded node's backward rule alone: gradient of the node's input for `seeds`
/// gradients of its output per sample ([batch][seeds][output]).
std::vector<double> node_backward(tape<double>& t, backward_mode mode, index_t seeds, const std::vector<double>& grad_out) {
  const tape_node<double>& n = t.node(t.size() - 1);
  REQUIRE(grad_out.size() == static_cast<std::size_t>(n.batch * seeds * n.output_size));
  const std::size_t mark = t.memory().mark();
  const double* g = run_backward<double>(t, t.size() - 1, t.size() - 1, mode, seeds, grad_out.data(), nullptr, true);
  std::vector<double> out(g, g + n.batch * seeds * n.input_size);
  t.memory().release(mark);
  return out;
}

/// For an op f applied per sample: checks that the rule's gradient for seed k of sample n equals
/// d <grad_out[n][k], f(x_n)> / d x_n by central differences. `forward(x, y, batch, t)` records
/// f of `batch` samples on `t`.
using op_forward = std::function<void(const double*, double*, index_t, tape<double>&)>;
void check_rule_against_differences(index_t batch, index_t in_size, index_t out_size, index_t seeds, backward_mode mode,
                                    const op_forward& forward,
                                    double step, double tolerance, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<double> x = random_vector(static_cast<std::size_t>(batch * in_size), 0, 1, rng);
  const std::vector<double> grad_out = random_vector(static_cast<std::size_t>(batch * seeds * out_size), -1, 1, rng);
  std::vector<double> y(static_cast<std::size_t>(batch * out_size));
  tape<double> t;
  const std::size_t room = 4 * static_cast<std::size_t>(batch * seeds * (in_size + out_size)) + 1024;
  t.prepare(record_mode::train, room, 1);
  forward(x.data(), y.data(), batch, t);
  REQUIRE(t.size() == 1);
  const std::vector<double> ad = node_backward(t, mode, seeds, grad_out);

  std::vector<double> fd(ad.size());
  tape<double> ft;
  for (index_t n = 0; n < batch; ++n)
    for (index_t k = 0; k < seeds; ++k) {
      std::vector<double> xn(x.begin() + n * in_size, x.begin() + (n + 1) * in_size);
      std::vector<double> yn(static_cast<std::size_t>(out_size));
      const double* go = grad_out.data() + (n * seeds + k) * out_size;
      auto objective = [&] {
        ft.prepare(record_mode::none, room, 1);
        forward(xn.data(), yn.data(), 1, ft);
        double v = 0;
        for (index_t i = 0; i < out_size; ++i) v += go[i] * yn[static_cast<std::size_t>(i)];
        return v;
      };
      const std::vector<double> g = central_differences(xn, objective, step);
      std::copy(g.begin(), g.end(), fd.begin() + (n * seeds + k) * in_size);
    }
  CHECK(relative_error(ad, fd) <= tolerance);
}

/// The loss of hand-made logits as record_loss computes it, on a fresh tape; `per_sample`
/// receives the node's outputs when not null.
double recorded_loss(loss_kind kind, const std::vector<double>& logits, index_t batch, index_t classes,
                     const std::vector<int>& labels, double scale, index_t mean_over, std::vector<double>* per_sample = nullptr) {
  tape<double> t;
  t.prepare(record_mode::none, static_cast<std::size_t>(batch * classes) + loss_workspace<double>(batch) + 64, 1);
  double* l = t.memory().allocate(logits.size());
  std::copy(logits.begin(), logits.end(), l);
  const double total = record_loss(t, kind, l, batch, classes, labels.data(), scale, mean_over);
  if (per_sample) per_sample->assign(t.node(0).output, t.node(0).output + batch);
  return total;
}

// The small network of the whole-network tests: stride 2 and padding, an unpadded l2 layer, a
// 1x1 head layer; 3 classes.
using small_net = network<double, shape<3, 7, 6>,                   //
                          dau_conv<6, 5, 4, 3, 2, 1, squash>,        //
                          dau_conv<5, 4, 3, 3, 1, 0, l2>,            //
                          dau_conv<4, 3, 5, 1, 1, 0>>;

/// A temperature of order one keeps the logits (and so every gradient) far from flat, so that
/// the finite differences' absolute rounding error stays small relative to the gradients.
small_net make_small_net(std::uint64_t seed) {
  small_net net(1.5, -0.4);
  init_uniform(net, seed);
  return net;
}

std::vector<double> images_in_unit_range(index_t batch, unsigned seed) {
  std::mt19937 rng(seed);
  return random_vector(static_cast<std::size_t>(batch * small_net::image_shape::size), 0, 1, rng);
}

/// The loss as training computes it, forward only.
double forward_loss(const small_net& net, const std::vector<double>& images, const std::vector<int>& labels, index_t batch,
                    loss_kind kind, double scale, index_t mean_over, tape<double>& t) {
  t.prepare(record_mode::none, small_net::workspace_size(batch, record_mode::train, 1, true), small_net::training_tape_nodes);
  const double* logits = net.forward(images.data(), batch, t);
  return record_loss(t, kind, logits, batch, small_net::num_classes, labels.data(), scale, mean_over);
}

}  // namespace

TEST_CASE("DAU train backward matches finite differences for input, A, B and b", "[grad][dau]") {
  unsigned seed = 100;
  for (const auto& g : small_layers)
    for (index_t batch : {1, 3}) {
      INFO("C_in=" << g.conv.channels << " " << g.conv.height << "x" << g.conv.width << " k=" << g.conv.kernel
                   << " s=" << g.conv.stride << " p=" << g.conv.pad << " C_out=" << g.c_out << " R=" << g.rank
                   << " batch=" << batch);
      {
        INFO("norm squash");
        check_layer_against_differences<squash>(g, batch, seed++);
      }
      {
        INFO("norm l2");
        check_layer_against_differences<l2>(g, batch, seed++);
      }
    }
}

TEST_CASE("DAU fast train backward matches the reference kernel on every cifar10-9l layer", "[grad][dau][kernels][cifar10-9l]") {
  unsigned seed = 200;
  for (const auto& g : cifar_layers) {
    INFO("layer with C_in=" << g.conv.channels << " " << g.conv.height << "x" << g.conv.width << " s=" << g.conv.stride
                            << " C_out=" << g.c_out << " R=" << g.rank);
    std::mt19937 rng(seed++);
    const layer_params<float> p(g, rng);
    std::vector<float> x(static_cast<std::size_t>(g.conv.image_size())), grad_out(static_cast<std::size_t>(g.output_size()));
    std::uniform_real_distribution<float> u(-1, 1);
    for (auto& e : x) e = u(rng);
    for (auto& e : grad_out) e = u(rng);

    const fast_train_gradients<squash, float> fast(p, x, grad_out, 1);
    std::vector<float> in(x.size()), a(p.a.size(), 0.f), b(p.b.size(), 0.f), bias(p.bias.size(), 0.f);
    kernels::dau_backward_reference<squash>(g, p.weights(), x.data(), grad_out.data(), in.data(), a.data(), b.data(),
                                            bias.data());
    // Float, same maths in another order (test::tolerance::float_reorder): the parameter
    // gradients are sums over up to 1024 positions of products of 64-term dot products, and the
    // fast kernel applies the |w|^2 terms through per-batch Gram sums instead of per position.
    CHECK(test::relative_error(fast.x.data(), in.data(), in.size()) <= test::tolerance::float_reorder);
    CHECK(test::relative_error(fast.a.data(), a.data(), a.size()) <= test::tolerance::float_reorder);
    CHECK(test::relative_error(fast.b.data(), b.data(), b.size()) <= test::tolerance::float_reorder);
    CHECK(test::relative_error(fast.bias.data(), bias.data(), bias.size()) <= test::tolerance::float_reorder);
  }
}

TEST_CASE("DAU frozen backward is the adjoint of the frozen linear map", "[grad][dau][explain]") {
  unsigned seed = 300;
  for (const auto& g : small_layers) {
    INFO("C_in=" << g.conv.channels << " " << g.conv.height << "x" << g.conv.width << " k=" << g.conv.kernel
                 << " s=" << g.conv.stride << " p=" << g.conv.pad << " C_out=" << g.c_out << " R=" << g.rank);
    check_frozen_rule<squash>(g, 2, seed++);
    check_frozen_rule<l2>(g, 1, seed++);
  }
}

TEST_CASE("AddInverse backward matches finite differences", "[grad][encoding]") {
  using image = shape<2, 3, 5>;
  const op_forward forward = [](const double* x, double* y, index_t batch, tape<double>& t) {
    add_inverse<image>::forward(x, y, batch, t);
  };
  SECTION("ordinary gradients") {
    check_rule_against_differences(2, image::size, 2 * image::size, 1, backward_mode::train, forward, affine_step,
                                   tol::affine_fd, 400);
  }
  SECTION("several seeds per sample (frozen mode)") {
    check_rule_against_differences(2, image::size, 2 * image::size, 3, backward_mode::frozen, forward, affine_step,
                                   tol::affine_fd, 401);
  }
}

TEST_CASE("logit head backward matches finite differences, with temperature and bias", "[grad][head]") {
  using map = shape<3, 2, 5>;
  const logit_head_params<double> head{0.37, -1.25};
  const op_forward forward = [&](const double* x, double* y, index_t batch, tape<double>& t) {
    logit_head<map>::forward(head, x, y, batch, t);
  };
  SECTION("forward value") {
    std::vector<double> x(static_cast<std::size_t>(map::size)), y(3);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = double(i % 7) - 2.5;
    tape<double> t;
    t.prepare(record_mode::none, 64, 1);
    logit_head<map>::forward(head, x.data(), y.data(), 1, t);
    for (index_t c = 0; c < 3; ++c) {
      double s = 0;
      for (index_t q = 0; q < 10; ++q) s += x[static_cast<std::size_t>(c * 10 + q)];
      CHECK(y[static_cast<std::size_t>(c)] == Approx(s / head.temperature + head.logit_bias).epsilon(1e-14));
    }
  }
  SECTION("ordinary gradients") {
    check_rule_against_differences(2, map::size, 3, 1, backward_mode::train, forward, affine_step, tol::affine_fd, 410);
  }
  SECTION("several seeds per sample (frozen mode)") {
    check_rule_against_differences(2, map::size, 3, 4, backward_mode::frozen, forward, affine_step, tol::affine_fd, 411);
  }
}

TEST_CASE("loss backward rules match finite differences, with scale and mean_over", "[grad][loss]") {
  constexpr index_t batch = 3, classes = 5;
  const std::vector<int> labels{4, 0, 2};
  std::mt19937 rng(420);
  std::vector<double> logits = random_vector(static_cast<std::size_t>(batch * classes), -4, 4, rng);
  // One sample far in the tails: the stable branches of the sigmoid and the log-sum-exp.
  for (index_t c = 0; c < classes; ++c) logits[static_cast<std::size_t>(2 * classes + c)] = (c % 2 ? 1 : -1) * (30.0 + c);
  const std::vector<double> sample_seed = random_vector(batch, 0.5, 2, rng);

  struct setting {
    double scale;
    index_t mean_over;
  };
  for (const loss_kind kind : {loss_kind::binary_cross_entropy, loss_kind::cross_entropy})
    for (const setting s : {setting{1.0, 0}, setting{0.25, 0}, setting{0.5, 7}}) {
      const bool bce = kind == loss_kind::binary_cross_entropy;
      INFO((bce ? "binary cross-entropy" : "cross-entropy") << ", scale " << s.scale << ", mean over " << s.mean_over);
      const index_t mean_over = s.mean_over ? s.mean_over : batch;

      // Normalisation of the value: at zero logits every BCE term is log 2 and every sample's CE
      // is log(classes); the mean is over mean_over (times classes for BCE), times scale.
      const std::vector<double> zero(logits.size(), 0.0);
      const double expect = s.scale * batch * (bce ? std::log(2.0) : std::log(double(classes))) / double(mean_over);
      CHECK(recorded_loss(kind, zero, batch, classes, labels, s.scale, s.mean_over) == Approx(expect).epsilon(1e-14));
      CHECK(recorded_loss(kind, logits, batch, classes, labels, s.scale, s.mean_over) ==
            Approx(recorded_loss(kind, logits, batch, classes, labels, 1.0, 0) * s.scale * batch / double(mean_over))
                .epsilon(1e-14));

      // The rule alone: seeds (one per sample, not all 1) times the per-sample losses.
      tape<double> t;
      t.prepare(record_mode::train, 4 * static_cast<std::size_t>(batch * classes) + loss_workspace<double>(batch) + 256, 1);
      double* l = t.memory().allocate(logits.size());
      std::copy(logits.begin(), logits.end(), l);
      const double total = record_loss(t, kind, l, batch, classes, labels.data(), s.scale, s.mean_over);
      REQUIRE(t.size() == 1);
      double sum = 0;
      for (index_t n = 0; n < batch; ++n) sum += t.node(0).output[n];
      CHECK(sum == Approx(total).epsilon(1e-14));
      const std::vector<double> ad = node_backward(t, backward_mode::train, 1, sample_seed);

      std::vector<double> per_sample;
      auto objective = [&] {
        recorded_loss(kind, logits, batch, classes, labels, s.scale, s.mean_over, &per_sample);
        double v = 0;
        for (index_t n = 0; n < batch; ++n) v += sample_seed[static_cast<std::size_t>(n)] * per_sample[static_cast<std::size_t>(n)];
        return v;
      };
      CHECK(relative_error(ad, central_differences(logits, objective, fd_step)) <= tol::fd);
    }
}

TEST_CASE("whole-network parameter gradients match finite differences for both losses", "[grad][network]") {
  const small_net net0 = make_small_net(7);
  constexpr index_t batch = 3;
  const std::vector<double> images = images_in_unit_range(batch, 8);
  const std::vector<int> labels{2, 0, 1};
  struct setting {
    loss_kind kind;
    double scale;
    index_t mean_over;
  };
  for (const setting s : {setting{loss_kind::binary_cross_entropy, 0.5, 0}, setting{loss_kind::cross_entropy, 1.0, 5}}) {
    INFO((s.kind == loss_kind::binary_cross_entropy ? "binary cross-entropy" : "cross-entropy"));
    small_net net = net0;
    tape<double> t;
    std::vector<double> grad(static_cast<std::size_t>(small_net::gradient_size), 0.0);
    const double loss = accumulate_gradients(net, images.data(), labels.data(), batch, s.kind, s.scale, s.mean_over, t,
                                             grad.data());
    finish_gradients(net, grad.data());
    grad.resize(static_cast<std::size_t>(small_net::parameter_count));
    tape<double> ft;
    CHECK(loss == Approx(forward_loss(net, images, labels, batch, s.kind, s.scale, s.mean_over, ft)).epsilon(1e-14));

    std::vector<double> fd(grad.size());
    for (std::size_t i = 0; i < grad.size(); ++i) {
      const double keep = net.parameters()[i];
      auto at = [&](double v) {
        net.update_parameters([&](double* p, index_t) { p[i] = v; });  // refreshes the Gram matrices
        return forward_loss(net, images, labels, batch, s.kind, s.scale, s.mean_over, ft);
      };
      const double up = at(keep + fd_step), down = at(keep - fd_step);
      at(keep);
      fd[i] = (up - down) / (2 * fd_step);
    }
    // Every parameter tensor of every layer on its own, so that a small tensor is not hidden by
    // the scale of a large one.
    detail::for_each_index(
        [&](auto li) {
          using L = typename small_net::template layer<li>;
          for (const parameter_tensor& p : L::parameter_tensors) {
            const std::size_t at = static_cast<std::size_t>(small_net::template parameter_offset<li>() + p.offset);
            INFO("layer " << decltype(li)::value << " tensor " << p.suffix);
            CHECK(test::relative_error(grad.data() + at, fd.data() + at, static_cast<std::size_t>(p.size)) <= tol::fd);
          }
        },
        std::make_index_sequence<small_net::depth>{});
  }
}

TEST_CASE("whole-network input gradient matches finite differences of each logit", "[grad][network]") {
  const small_net net = make_small_net(17);
  constexpr index_t batch = 2, classes = small_net::num_classes, pixels = small_net::image_shape::size;
  std::vector<double> images = images_in_unit_range(batch, 18);

  // AD: one train-mode recording, one backward pass per class from a one-hot seed on the logits,
  // through every node (the encoding included).
  tape<double> t;
  t.prepare(record_mode::train, small_net::workspace_size(batch, record_mode::train, 1), small_net::tape_nodes);
  net.forward(images.data(), batch, t);
  REQUIRE(t.size() == small_net::tape_nodes);
  std::vector<std::vector<double>> ad(classes);
  const std::size_t mark = t.memory().mark();
  for (index_t c = 0; c < classes; ++c) {
    double* seed = t.memory().allocate(static_cast<std::size_t>(batch * classes));
    std::fill(seed, seed + batch * classes, 0.0);
    for (index_t n = 0; n < batch; ++n) seed[n * classes + c] = 1.0;
    const double* g = run_backward<double>(t, 0, t.size() - 1, backward_mode::input, 1, seed, nullptr, true);
    REQUIRE(g != nullptr);
    ad[static_cast<std::size_t>(c)].assign(g, g + batch * pixels);
    t.memory().release(mark);
  }

  // FD: d logit_c(image n) / d pixel of image n; the images of a batch are independent, so a
  // pixel of image n moves only image n's logits.
  std::vector<std::vector<double>> fd(classes, std::vector<double>(static_cast<std::size_t>(batch * pixels)));
  tape<double> ft;
  auto logits_at = [&](std::vector<double>& out) {
    ft.prepare(record_mode::none, small_net::workspace_size(batch, record_mode::none, 0), small_net::tape_nodes);
    const double* l = net.forward(images.data(), batch, ft);
    out.assign(l, l + batch * classes);
  };
  std::vector<double> up, down;
  for (index_t n = 0; n < batch; ++n)
    for (index_t i = 0; i < pixels; ++i) {
      double& px = images[static_cast<std::size_t>(n * pixels + i)];
      const double keep = px;
      px = keep + fd_step;
      logits_at(up);
      px = keep - fd_step;
      logits_at(down);
      px = keep;
      for (index_t c = 0; c < classes; ++c) {
        const std::size_t k = static_cast<std::size_t>(n * classes + c);
        fd[static_cast<std::size_t>(c)][static_cast<std::size_t>(n * pixels + i)] = (up[k] - down[k]) / (2 * fd_step);
      }
      for (index_t m = 0; m < batch; ++m)
        if (m != n)
          for (index_t c = 0; c < classes; ++c)
            CHECK(up[static_cast<std::size_t>(m * classes + c)] == down[static_cast<std::size_t>(m * classes + c)]);
    }
  for (index_t c = 0; c < classes; ++c) {
    INFO("class " << c);
    CHECK(relative_error(ad[static_cast<std::size_t>(c)], fd[static_cast<std::size_t>(c)]) <= tol::fd);
  }
}

TEST_CASE("a training tape is reused without growing and gives bit-identical gradients", "[grad][network][tape]") {
  const small_net net = make_small_net(27);
  constexpr index_t batch = 3;
  const std::vector<double> images = images_in_unit_range(batch, 28);
  const std::vector<int> labels{1, 1, 0};
  const std::size_t count = static_cast<std::size_t>(small_net::gradient_size);

  tape<double> t;
  std::vector<double> first(count, 0.0);
  const double first_loss =
      accumulate_gradients(net, images.data(), labels.data(), batch, loss_kind::binary_cross_entropy, 0.5, batch, t, first.data());
  const std::size_t capacity = t.memory().capacity();
  CHECK(capacity >= small_net::workspace_size(batch, record_mode::train, 1, true));
  CHECK(t.memory().peak() <= capacity);

  for (int repeat = 0; repeat < 3; ++repeat) {
    INFO("repeat " << repeat);
    std::vector<double> again(count, 0.0);
    const double loss = accumulate_gradients(net, images.data(), labels.data(), batch, loss_kind::binary_cross_entropy, 0.5,
                                             batch, t, again.data());
    CHECK(t.memory().capacity() == capacity);
    CHECK(loss == first_loss);
    CHECK(std::memcmp(again.data(), first.data(), count * sizeof(double)) == 0);
  }

  // A smaller batch fits in the same arena.
  std::vector<double> small(count, 0.0);
  accumulate_gradients(net, images.data(), labels.data(), 2, loss_kind::binary_cross_entropy, 0.5, 2, t, small.data());
  CHECK(t.memory().capacity() == capacity);

  // Memory left over from earlier recordings does not leak into the result: a fresh tape agrees.
  tape<double> fresh;
  std::vector<double> clean(count, 0.0);
  accumulate_gradients(net, images.data(), labels.data(), batch, loss_kind::binary_cross_entropy, 0.5, batch, fresh, clean.data());
  CHECK(std::memcmp(clean.data(), first.data(), count * sizeof(double)) == 0);
}

}  // namespace test_gradients

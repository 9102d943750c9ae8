// The classification losses on the tape: record_loss's value for binary cross-entropy with
// logits (mean over batch x classes, one-hot targets) and softmax cross-entropy (mean over the
// batch) against the textbook formulas, including logits so large that the textbook formulas
// break; the scale and mean_over weighting; label validation; and the gradient that the loss
// node's backward rule feeds into run_backward against (sigmoid - y) / (N C) and (softmax - y) / N.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <vector>

#include "coda/nn/loss.hpp"
#include "support/tolerance.hpp"

namespace test_losses {

using namespace coda;

namespace {

namespace tol {
/// Double, the library's stable form (max(x,0) - x y + log1p(e^-|x|), log-sum-exp about the
/// maximum) against the textbook form (log of sigmoid, log of softmax) for |logits| <= 3: both
/// are within a few ulps of the true value; the textbook log(1 - sigmoid) loses up to
/// ~e^3 ulps to cancellation.
inline constexpr double double_formula = 1e-13;
/// Float logits and float gradients: the backward rule computes exp and the division in float,
/// a few float ulps (1.2e-7) relative to the gradient's scale 1 / (N C).
inline constexpr double float_gradient = 1e-6;
}  // namespace tol

/// Sizes of the tape's arena for recording a loss over [batch][classes] logits and running
/// its backward pass (logits, loss record, seed, two gradient buffers).
template <class T>
std::size_t loss_test_workspace(index_t batch, index_t classes) {
  return coda::detail::aligned_count<T>(batch * classes) + loss_workspace<T>(batch) + coda::detail::aligned_count<T>(batch) +
         backward_buffers_size<T>(batch * classes, 1);
}

/// Records the loss of `logits` on a fresh tape and returns (value, gradient w.r.t. the logits).
template <class T>
struct recorded {
  double value = 0;
  std::vector<double> per_sample;  // the loss node's output
  std::vector<double> grad;        // d value / d logits
};

template <class T>
recorded<T> record(loss_kind kind, const std::vector<T>& logits_in, index_t classes, const std::vector<int>& labels,
                   double scale = 1.0, index_t mean_over = 0) {
  const auto batch = static_cast<index_t>(labels.size());
  tape<T> t;
  t.prepare(record_mode::train, loss_test_workspace<T>(batch, classes), 1);
  T* logits = t.memory().allocate(logits_in.size());
  std::copy(logits_in.begin(), logits_in.end(), logits);
  recorded<T> r;
  r.value = record_loss(t, kind, logits, batch, classes, labels.data(), scale, mean_over);
  REQUIRE(t.size() == 1);
  const tape_node<T>& node = t.node(0);
  CHECK(node.input == logits);
  CHECK(node.batch == batch);
  CHECK(node.input_size == classes);
  CHECK(node.output_size == 1);
  r.per_sample.assign(node.output, node.output + batch);
  T* seed = t.memory().allocate(static_cast<std::size_t>(batch));
  std::fill(seed, seed + batch, T(1));
  const T* g = run_backward<T>(t, 0, 0, backward_mode::train, 1, seed, nullptr, true);
  REQUIRE(g != nullptr);
  r.grad.assign(g, g + batch * classes);
  return r;
}

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

/// -[y log s + (1 - y) log(1 - s)], s = sigmoid(x): the textbook form, fine for moderate x.
double textbook_bce(double x, double y) { return -(y * std::log(sigmoid(x)) + (1 - y) * std::log(1 - sigmoid(x))); }

/// -log(softmax(l)_label): the textbook form, fine for moderate logits.
double textbook_ce(const double* l, index_t classes, int label) {
  double sum = 0;
  for (index_t c = 0; c < classes; ++c) sum += std::exp(l[c]);
  return -std::log(std::exp(l[label]) / sum);
}

const index_t classes = 4;
const std::vector<int> labels = {2, 0, 3};
// Three samples of four moderate logits (|l| <= 3), mixed signs.
const std::vector<double> moderate = {0.3, -1.2, 2.5, 0.05,  //
                                      -2.9, 1.7, -0.4, 0.8,  //
                                      1.1, 0.0, -3.0, 2.2};

}  // namespace

TEST_CASE("binary cross-entropy is the mean over batch x classes of the textbook formula", "[loss][bce]") {
  const auto r = record<double>(loss_kind::binary_cross_entropy, moderate, classes, labels);
  const index_t batch = 3;
  double sum = 0;
  for (index_t n = 0; n < batch; ++n) {
    double sample = 0;
    for (index_t c = 0; c < classes; ++c) sample += textbook_bce(moderate[n * classes + c], labels[n] == c ? 1.0 : 0.0);
    INFO("sample " << n);
    CHECK(r.per_sample[n] == Approx(sample / double(batch * classes)).epsilon(tol::double_formula));
    sum += sample;
  }
  CHECK(r.value == Approx(sum / double(batch * classes)).epsilon(tol::double_formula));
}

TEST_CASE("cross-entropy is the mean over the batch of -log softmax", "[loss][ce]") {
  const auto r = record<double>(loss_kind::cross_entropy, moderate, classes, labels);
  const index_t batch = 3;
  double sum = 0;
  for (index_t n = 0; n < batch; ++n) {
    const double sample = textbook_ce(moderate.data() + n * classes, classes, labels[n]);
    INFO("sample " << n);
    CHECK(r.per_sample[n] == Approx(sample / double(batch)).epsilon(tol::double_formula));
    sum += sample;
  }
  CHECK(r.value == Approx(sum / double(batch)).epsilon(tol::double_formula));
}

TEST_CASE("the losses stay finite and exact for logits of large magnitude", "[loss][stability]") {
  // The textbook BCE takes log(1 - sigmoid(50)) = log(0) = -inf in double (and float); the
  // textbook softmax overflows exp(1000) = inf. The true values: for a logit x against target y,
  // the BCE term is |x| + log1p(e^-|x|) when sign(x) disagrees with y, log1p(e^-|x|) otherwise.
  CHECK(std::isinf(textbook_bce(50, 0)));

  SECTION("binary cross-entropy at +-50, double and float") {
    const std::vector<double> x = {50, -50,  //
                                   -50, 50};
    const double tiny = std::log1p(std::exp(-50.0));  // 1.93e-22
    // Labels {0, 1}: every (logit, target) pair agrees, (50, 1) (-50, 0) | (-50, 0) (50, 1), so
    // the mean of the four terms is log1p(e^-50).
    const auto d = record<double>(loss_kind::binary_cross_entropy, x, 2, {0, 1});
    CHECK(d.value == Approx(tiny).epsilon(1e-12));
    // Labels {1, 0}: every pair disagrees, each term is 50 + log1p(e^-50), which is 50 in double.
    const auto e = record<double>(loss_kind::binary_cross_entropy, x, 2, {1, 0});
    CHECK(e.value == Approx(50.0 + tiny).epsilon(1e-15));
    for (double v : e.grad) CHECK(std::isfinite(v));
    // Gradient (sigmoid(x) - y) / (N C): +1/4 for (50, 0), -1/4 for (-50, 1).
    const double expect_grad[4] = {0.25, -0.25, -0.25, 0.25};
    for (int i = 0; i < 4; ++i) CHECK(e.grad[i] == Approx(expect_grad[i]).epsilon(1e-15));
    // Agreeing terms have gradients of magnitude at most e^-50 / (N C).
    for (int i = 0; i < 4; ++i) CHECK(std::abs(d.grad[i]) <= std::exp(-50.0) / 4 * (1 + 1e-12));

    const auto f = record<float>(loss_kind::binary_cross_entropy, std::vector<float>(x.begin(), x.end()), 2, {1, 0});
    CHECK(std::isfinite(f.value));
    CHECK(f.value == Approx(50.0).epsilon(1e-7));
    for (int i = 0; i < 4; ++i) {
      CHECK(std::isfinite(f.grad[i]));
      CHECK(f.grad[i] == Approx(expect_grad[i]).epsilon(1e-7));
    }
  }

  SECTION("binary cross-entropy at +-1000: no overflow in exp") {
    const auto r = record<double>(loss_kind::binary_cross_entropy, {1000, -1000, 0}, 3, {1});
    // (1000, 0): 1000; (-1000, 1): 1000; (0, 0): log 2. Mean over 3 terms.
    CHECK(r.value == Approx((2000 + std::log(2.0)) / 3).epsilon(1e-15));
    CHECK(r.grad[0] == Approx(1.0 / 3).epsilon(1e-15));
    CHECK(r.grad[1] == Approx(-1.0 / 3).epsilon(1e-15));
    CHECK(r.grad[2] == Approx(0.5 / 3).epsilon(1e-15));
  }

  SECTION("cross-entropy at +-50 and +-1000") {
    const std::vector<double> x = {50, -50, 0,  //
                                   1000, -1000, 0};
    for (int label : {0, 1, 2}) {
      INFO("label " << label);
      const auto r = record<double>(loss_kind::cross_entropy, x, 3, {label, label});
      // -log softmax = logsumexp - l_label; logsumexp(50, -50, 0) = 50 + log1p(e^-50 + e^-100).
      const double lse50 = 50 + std::log1p(std::exp(-50.0) + std::exp(-100.0));
      const double expect = (lse50 - x[label]) + (1000 - x[3 + label]);
      CHECK(std::isfinite(r.value));
      CHECK(r.value == Approx(expect / 2).epsilon(1e-15).margin(1e-300));
      for (double v : r.grad) CHECK(std::isfinite(v));
      // softmax(1000, -1000, 0) = (1, 0, 0) in double: gradient (onehot0 - onehot_label) / N.
      for (int c = 0; c < 3; ++c) CHECK(r.grad[3 + c] == Approx(((c == 0) - (c == label)) / 2.0).margin(1e-300));
    }
    const auto f = record<float>(loss_kind::cross_entropy, {50.f, -50.f, 0.f}, 3, {1});
    CHECK(f.value == Approx(100.0).epsilon(1e-7));
  }
}

TEST_CASE("scale and mean_over weight the loss and its gradient", "[loss][scale]") {
  for (loss_kind kind : {loss_kind::binary_cross_entropy, loss_kind::cross_entropy}) {
    INFO((kind == loss_kind::binary_cross_entropy ? "bce" : "ce"));
    const auto plain = record<double>(kind, moderate, classes, labels);
    // A mini-batch of a virtual batch of four mini-batches: weight 1/4.
    const auto scaled = record<double>(kind, moderate, classes, labels, 0.25);
    CHECK(scaled.value == Approx(0.25 * plain.value).epsilon(1e-15));
    for (std::size_t i = 0; i < plain.grad.size(); ++i) CHECK(scaled.grad[i] == Approx(0.25 * plain.grad[i]).epsilon(1e-15));
    // The three samples as part of a mean over 8: each term divided by 8 (x classes), not 3.
    const auto part = record<double>(kind, moderate, classes, labels, 1.0, 8);
    CHECK(part.value == Approx(plain.value * 3.0 / 8.0).epsilon(1e-15));
    for (std::size_t i = 0; i < plain.grad.size(); ++i) CHECK(part.grad[i] == Approx(plain.grad[i] * 3.0 / 8.0).epsilon(1e-15));
    // Both together, and mean_over == batch is the default.
    const auto both = record<double>(kind, moderate, classes, labels, 0.5, 6);
    CHECK(both.value == Approx(plain.value * 0.5 * 3.0 / 6.0).epsilon(1e-15));
    const auto same = record<double>(kind, moderate, classes, labels, 1.0, 3);
    CHECK(same.value == plain.value);
    CHECK(same.grad == plain.grad);
    // The value is the sum of the node's per-sample outputs (what a seed of ones differentiates).
    double sum = 0;
    for (double v : both.per_sample) sum += v;
    CHECK(both.value == Approx(sum).epsilon(1e-15));
    // A split mini-batch: two tapes with mean_over = 3 add up to the whole.
    const std::vector<double> first(moderate.begin(), moderate.begin() + 2 * classes),
        second(moderate.begin() + 2 * classes, moderate.end());
    const auto a = record<double>(kind, first, classes, {labels[0], labels[1]}, 1.0, 3);
    const auto b = record<double>(kind, second, classes, {labels[2]}, 1.0, 3);
    CHECK(a.value + b.value == Approx(plain.value).epsilon(1e-15));
  }
}

TEST_CASE("record_loss rejects bad labels and a mean over fewer samples than recorded", "[loss][errors]") {
  for (loss_kind kind : {loss_kind::binary_cross_entropy, loss_kind::cross_entropy}) {
    tape<double> t;
    t.prepare(record_mode::train, loss_test_workspace<double>(3, classes), 1);
    double* logits = t.memory().allocate(moderate.size());
    std::copy(moderate.begin(), moderate.end(), logits);
    const std::size_t used = t.memory().used();

    const int too_large[3] = {2, 4, 0};
    CHECK_THROWS_AS(record_loss(t, kind, logits, 3, classes, too_large), argument_error);
    CHECK_THROWS_WITH(record_loss(t, kind, logits, 3, classes, too_large),
                      Catch::Matchers::Contains("label 4") && Catch::Matchers::Contains("sample 1") &&
                          Catch::Matchers::Contains("[0, 4)"));
    const int negative[3] = {0, 1, -1};
    CHECK_THROWS_AS(record_loss(t, kind, logits, 3, classes, negative), argument_error);
    CHECK_THROWS_WITH(record_loss(t, kind, logits, 3, classes, negative),
                      Catch::Matchers::Contains("label -1") && Catch::Matchers::Contains("sample 2"));
    CHECK_THROWS_AS(record_loss(t, kind, logits, 3, classes, labels.data(), 1.0, 2), argument_error);
    CHECK_THROWS_AS(record_loss(t, kind, logits, 0, classes, labels.data()), argument_error);
    // Nothing was recorded or allocated by the failed calls.
    CHECK(t.size() == 0);
    CHECK(t.memory().used() == used);
    CHECK_NOTHROW(record_loss(t, kind, logits, 3, classes, labels.data()));
    CHECK(t.size() == 1);
  }
}

TEST_CASE("the loss node's gradient is (sigmoid - y) / (N C) and (softmax - y) / N", "[loss][gradient]") {
  const index_t batch = 3;
  SECTION("double") {
    const auto bce = record<double>(loss_kind::binary_cross_entropy, moderate, classes, labels);
    const auto ce = record<double>(loss_kind::cross_entropy, moderate, classes, labels);
    std::vector<double> expect_bce(moderate.size()), expect_ce(moderate.size());
    for (index_t n = 0; n < batch; ++n) {
      double sum = 0;
      for (index_t c = 0; c < classes; ++c) sum += std::exp(moderate[n * classes + c]);
      for (index_t c = 0; c < classes; ++c) {
        const double x = moderate[n * classes + c], y = labels[n] == c ? 1.0 : 0.0;
        expect_bce[n * classes + c] = (sigmoid(x) - y) / double(batch * classes);
        expect_ce[n * classes + c] = (std::exp(x) / sum - y) / double(batch);
      }
    }
    CHECK(test::relative_error(bce.grad.data(), expect_bce.data(), expect_bce.size()) < tol::double_formula);
    CHECK(test::relative_error(ce.grad.data(), expect_ce.data(), expect_ce.size()) < tol::double_formula);
    // Softmax cross-entropy's gradient sums to zero over the classes of each sample.
    for (index_t n = 0; n < batch; ++n) {
      double s = 0;
      for (index_t c = 0; c < classes; ++c) s += ce.grad[n * classes + c];
      CHECK(std::abs(s) < 1e-15);
    }
    // Central finite differences of the recorded value agree with the gradient.
    for (loss_kind kind : {loss_kind::binary_cross_entropy, loss_kind::cross_entropy}) {
      const auto& g = kind == loss_kind::binary_cross_entropy ? bce.grad : ce.grad;
      for (std::size_t i = 0; i < moderate.size(); ++i) {
        const double h = 1e-5;
        auto up = moderate, down = moderate;
        up[i] += h;
        down[i] -= h;
        const double fd = (record<double>(kind, up, classes, labels).value - record<double>(kind, down, classes, labels).value) / (2 * h);
        INFO("element " << i);
        CHECK(fd == Approx(g[i]).margin(1e-9));  // O(h^2) truncation plus ~1e-16/h rounding
      }
    }
  }
  SECTION("float") {
    const std::vector<float> lf(moderate.begin(), moderate.end());
    const auto bce = record<float>(loss_kind::binary_cross_entropy, lf, classes, labels);
    const auto ce = record<float>(loss_kind::cross_entropy, lf, classes, labels);
    const auto bce_d = record<double>(loss_kind::binary_cross_entropy, std::vector<double>(lf.begin(), lf.end()), classes, labels);
    const auto ce_d = record<double>(loss_kind::cross_entropy, std::vector<double>(lf.begin(), lf.end()), classes, labels);
    CHECK(test::relative_error(bce.grad.data(), bce_d.grad.data(), bce.grad.size()) < tol::float_gradient);
    CHECK(test::relative_error(ce.grad.data(), ce_d.grad.data(), ce.grad.size()) < tol::float_gradient);
    // The value is accumulated in double from the float logits.
    CHECK(bce.value == Approx(bce_d.value).epsilon(tol::float_gradient));
    CHECK(ce.value == Approx(ce_d.value).epsilon(tol::float_gradient));
  }
}

}  // namespace test_losses

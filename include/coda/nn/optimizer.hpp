// Optimisers with PyTorch's exact update rules (torch.optim.Adam with its defaults, no weight
// decay or amsgrad; torch.optim.SGD with momentum, no dampening, no Nesterov) and the paper's
// step learning-rate schedule. They work on the flat parameter vector of a network, in plain
// loops (Adam's in simd/adam.hpp): this header is compiled by nvcc (through cuda/description.hpp),
// which must not see Eigen.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>

#include "coda/core/error.hpp"
#include "coda/core/shape.hpp"
#include "coda/core/aligned_allocator.hpp"
#include "coda/simd/adam.hpp"

namespace coda {

/// The optimiser of a training run (coda::trainer; the CUDA trainer takes the same choice).
enum class optimizer_kind { adam, sgd };

/// lr(epoch) = base * decay^(-floor(epoch / step)), after `warmup_epochs` epochs whose rate rises
/// linearly from `warmup_lr` (epoch 0) to `base` (epoch warmup_epochs - 1): the authors' ImageNet
/// schedule is base 1e-3, 15 warm-up epochs from 2.5e-4, halved every 20 epochs (counted from 0).
inline double scheduled_lr(double base, double decay, index_t step, index_t epoch, index_t warmup_epochs = 0,
                           double warmup_lr = 0) {
  CODA_REQUIRE(step > 0 && decay > 0, "coda::scheduled_lr: step and decay must be positive");
  if (epoch < warmup_epochs)
    return warmup_epochs == 1 ? base : warmup_lr + (base - warmup_lr) * double(epoch) / double(warmup_epochs - 1);
  return base * std::pow(decay, -double(epoch / step));
}

/// Runs f(begin, end) once over [0, count): an optimiser step on one thread. A trainer passes its
/// own splitter instead to update ranges of parameters on several threads; every element's update
/// is independent of the others, so the split never changes the result.
struct whole_range {
  template <class F>
  void operator()(std::size_t count, F&& f) const { f(std::size_t(0), count); }
};

template <class T>
class adam {
 public:
  static constexpr const char* name = "adam";
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;

  explicit adam(index_t size) : exp_avg_(static_cast<std::size_t>(size), T(0)), exp_avg_sq_(exp_avg_.size(), T(0)) {}

  /// params -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps), as torch.optim.Adam.
  template <class Ranges = whole_range>
  void step(T* params, const T* grads, double lr, Ranges&& ranges = {}) {
    ++steps_;
    const double bc1 = 1 - std::pow(beta1, double(steps_)), bc2 = 1 - std::pow(beta2, double(steps_));
    // (1 - beta) is formed in double, then rounded, as torch does with its Python-float alphas.
    const simd::adam_constants<T> k{T(beta1), T(beta2), T(1 - beta1), T(1 - beta2), T(lr / bc1), T(std::sqrt(bc2)), T(eps)};
    T* m = exp_avg_.data();
    T* v = exp_avg_sq_.data();
    ranges(exp_avg_.size(), [&](std::size_t begin, std::size_t end) {
      simd::adam_update<T>(end - begin, params + begin, grads + begin, m + begin, v + begin, k);
    });
  }

  std::int64_t steps() const { return steps_; }
  void set_steps(std::int64_t s) { steps_ = s; }
  T* exp_avg() { return exp_avg_.data(); }
  T* exp_avg_sq() { return exp_avg_sq_.data(); }
  const T* exp_avg() const { return exp_avg_.data(); }
  const T* exp_avg_sq() const { return exp_avg_sq_.data(); }
  index_t size() const { return static_cast<index_t>(exp_avg_.size()); }

 private:
  detail::aligned_vector<T> exp_avg_, exp_avg_sq_;
  std::int64_t steps_ = 0;
};

template <class T>
class sgd {
 public:
  static constexpr const char* name = "sgd";
  double momentum = 0.9;

  explicit sgd(index_t size) : buffer_(static_cast<std::size_t>(size), T(0)) {}

  /// b = g on the first step, b = momentum * b + g afterwards; params -= lr * b (torch.optim.SGD).
  template <class Ranges = whole_range>
  void step(T* params, const T* grads, double lr, Ranges&& ranges = {}) {
    const bool first = steps_ == 0 || momentum == 0;
    const T mu = T(momentum), rate = T(lr);
    T* b = buffer_.data();
    ranges(buffer_.size(), [&](std::size_t begin, std::size_t end) {
      for (std::size_t i = begin; i < end; ++i) {
        b[i] = first ? grads[i] : b[i] * mu + grads[i];
        params[i] -= rate * b[i];
      }
    });
    ++steps_;
  }

  std::int64_t steps() const { return steps_; }
  void set_steps(std::int64_t s) { steps_ = s; }
  T* momentum_buffer() { return buffer_.data(); }
  const T* momentum_buffer() const { return buffer_.data(); }
  index_t size() const { return static_cast<index_t>(buffer_.size()); }

 private:
  detail::aligned_vector<T> buffer_;
  std::int64_t steps_ = 0;
};

}  // namespace coda

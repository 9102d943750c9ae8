// The CUDA implementation's algorithm, written once against a backend (backend.cuh): with
// cuda_backend it is coda::cuda::device_network, with host_backend the emulation the tests run
// without a GPU. Every step mirrors the CPU code it names (coda/kernels/dau_fast.hpp and the
// backward rules beside the forward passes in coda/nn/); the GEMMs are the CPU's GEMMs with N*P columns instead of P, because
// activations are kept channel-major over the batch (kernels.cuh).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "backend.cuh"
#include "coda/cuda/description.hpp"
#include "kernels.cuh"

namespace coda::cuda::detail {

inline matrix_arg rows(const float* data, index_t ld) { return {data, ld, false, 0}; }
inline matrix_arg transposed(const float* data, index_t ld) { return {data, ld, true, 0}; }

/// Calls f(norm) with the norm functor of kernels.cuh that `kind` names.
template <class F>
void with_norm(norm_kind kind, F&& f) {
  if (kind == norm_kind::squash)
    f(squash_norm{});
  else
    f(l2_norm{});
}

/// Where one layer's a [R][J], b [J][O][R] and bias [J][O] sit in a flat parameter (or gradient)
/// vector.
struct layer_params {
  float* a;
  float* b;
  float* bias;
};

template <class Backend>
class engine {
  template <class T>
  using buffer = typename Backend::template buffer<T>;

  static buffer<float> floats(index_t n) { return buffer<float>(static_cast<std::size_t>(n)); }

  struct layer {
    layer_desc d;
    index_t param_offset, sums_offset;
    buffer<float> gram, gram_bias, bias_norm2;  ///< derived from the parameters (refresh)
    buffer<float> z, t, dot, n2, scale;         ///< dau_state of the last forward pass
    buffer<float> out;                          ///< [O][N][P], the next layer's input
  };

 public:
  engine(const network_desc& desc, index_t max_batch) : desc_(desc), max_batch_(max_batch) {
    desc_.validate();
    CODA_REQUIRE(max_batch > 0, "coda::cuda::device_network: max_batch must be positive");
    const index_t M = max_batch;
    index_t cols = 0, big = 0, small = 0, codes = 0, positions = 0;
    max_activation_ = desc_.encoded_size();
    layers_.reserve(static_cast<std::size_t>(desc_.depth()));
    for (index_t l = 0; l < desc_.depth(); ++l) {
      const layer_desc& d = desc_.layer(l);
      const index_t P = d.positions(), J = d.patch_size(), O = d.c_out, R = d.rank;
      layers_.push_back(layer{d, desc_.parameter_offset(l), desc_.sums_offset(l), floats(O * R * R), floats(O * R), floats(O),
                              floats(R * P * M), floats(O * R * P * M), floats(O * P * M), floats(O * P * M),
                              floats(O * P * M), floats(O * P * M)});
      cols = std::max(cols, J * P);
      big = std::max(big, O * R * P);
      small = std::max(small, O * P);
      codes = std::max(codes, R * P);
      positions = std::max(positions, P);
      max_activation_ = std::max({max_activation_, d.input_size(), d.output_size()});
    }
    max_cols_ = cols;
    const index_t classes = num_classes();
    params_ = floats(desc_.parameter_count());
    grads_ = floats(desc_.gradient_size());
    images_ = floats(M * image_size());
    encoded_ = floats(M * encoded_size());
    cols_ = floats(M * cols);
    gcols_ = floats(M * cols);
    big_a_ = floats(M * big);
    big_b_ = floats(M * big);
    small_a_ = floats(M * small);
    small_b_ = floats(M * small);
    gz_ = floats(M * codes);
    ping_ = floats(M * max_activation_);
    pong_ = floats(M * max_activation_);
    ones_ = floats(M * positions);
    pooled_ = floats(M * classes);
    logits_ = floats(M * classes);
    grad_logits_ = floats(M * classes);
    sample_loss_ = buffer<double>(static_cast<std::size_t>(M));
    loss_ = buffer<double>(1);
    labels_ = buffer<int>(static_cast<std::size_t>(M));
    backend_.launch(M * positions, fill_op{ones_.data(), 1.0f});
    refresh();
  }
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  const network_desc& description() const { return desc_; }
  index_t max_batch() const { return max_batch_; }
  index_t parameter_count() const { return desc_.parameter_count(); }
  index_t num_classes() const { return desc_.num_classes(); }
  index_t image_size() const { return desc_.image_size(); }
  index_t encoded_size() const { return desc_.encoded_size(); }
  Backend& backend() const { return backend_; }
  float* parameters() { return params_.data(); }
  float* gradients() { return grads_.data(); }

  void upload_parameters(const float* host) {
    backend_.upload(params_.data(), host, static_cast<std::size_t>(parameter_count()));
    refresh();
  }
  void download_parameters(float* host) const {
    backend_.download(host, params_.data(), static_cast<std::size_t>(parameter_count()));
  }

  void forward(const float* images, index_t batch, float* logits) {
    require_images(images, batch);
    for_each_chunk(batch, [&](index_t n0, index_t nb) {
      run_forward(images + n0 * image_size(), nb);
      download_logits(logits + n0 * num_classes(), nb);
    });
  }

  void contributions_all(const float* images, index_t batch, float* contributions, float* logits) {
    require_images(images, batch);
    allocate_explanation();
    const index_t classes = num_classes(), per_image = classes * encoded_size();
    for_each_chunk(batch, [&](index_t n0, index_t nb) {
      run_forward(images + n0 * image_size(), nb);
      if (logits) download_logits(logits + n0 * classes, nb);
      for (index_t k0 = 0; k0 < classes; k0 += frozen_max_seeds) explain(nb, k0, std::min(frozen_max_seeds, classes - k0));
      backend_.download(contributions + n0 * per_image, contributions_.data(), static_cast<std::size_t>(nb * per_image));
    });
  }

  void accumulate_gradients(const float* images, const int* labels, index_t batch, loss_kind kind, double scale,
                            index_t mean_over, double* loss, float* logits) {
    if (mean_over == 0) mean_over = batch;
    CODA_REQUIRE(batch > 0 && mean_over >= batch,
                 "coda::cuda::device_network: the mean must cover at least the batch, which must not be empty");
    const index_t classes = num_classes();
    for (index_t n = 0; n < batch; ++n)
      if (labels[n] < 0 || labels[n] >= classes)
        throw argument_error("coda::cuda::device_network: label " + std::to_string(labels[n]) + " of sample " +
                             std::to_string(n) + " is outside [0, " + std::to_string(classes) + ")");
    // As record_loss: the mean over mean_over samples (times the classes for BCE), times scale.
    const bool binary = kind == loss_kind::binary_cross_entropy;
    const double norm = scale / double(binary ? mean_over * classes : mean_over);
    backend_.zero(loss_.data(), 1);
    for_each_chunk(batch, [&](index_t n0, index_t nb) {
      run_forward(images + n0 * image_size(), nb);
      if (logits) download_logits(logits + n0 * classes, nb);
      backend_.upload(labels_.data(), labels + n0, static_cast<std::size_t>(nb));
      backend_.launch(nb, loss_op{classes, binary, norm, static_cast<float>(norm), logits_.data(), labels_.data(),
                                  grad_logits_.data(), sample_loss_.data()});
      backend_.launch(1, loss_total_op{nb, sample_loss_.data(), loss_.data()});
      run_backward(nb);
    });
    if (loss) *loss = last_loss();
  }

  /// The loss of the last accumulate_gradients call (copied back now).
  double last_loss() const {
    double v = 0;
    backend_.download(&v, loss_.data(), 1);
    return v;
  }

  void zero_gradients() { backend_.zero(grads_.data(), grads_.size()); }

  /// finish_dau_param_grads of every layer, then the batch sums are zeroed.
  void finish_gradients() {
    for (layer& L : layers_) {
      const index_t J = L.d.patch_size(), O = L.d.c_out, R = L.d.rank;
      const layer_params p = params_at(params_.data(), L), g = params_at(grads_.data(), L);
      const float* s_mat = grads_.data() + L.sums_offset;
      // dL/dB_o += B_o S_o for every o: B_o is [J][R] inside B with leading dimension O*R.
      backend_.gemm(gemm_args{J, R, R, matrix_arg{p.b, O * R, false, R}, matrix_arg{s_mat, R, false, R * R}, g.b, O * R, 1.0f,
                              R, O});
      backend_.launch(J * O, finish_bias_op{O, R, p.b, p.bias, s_mat + O * R * R, s_mat + O * R * R + O * R, g.b, g.bias});
    }
    backend_.zero(grads_.data() + parameter_count(), static_cast<std::size_t>(desc_.gradient_size() - parameter_count()));
  }

  void download_gradients(float* host) {
    finish_gradients();
    backend_.download(host, grads_.data(), static_cast<std::size_t>(parameter_count()));
  }
  void upload_gradients(const float* host) {
    backend_.upload(grads_.data(), host, static_cast<std::size_t>(parameter_count()));
    backend_.zero(grads_.data() + parameter_count(), static_cast<std::size_t>(desc_.gradient_size() - parameter_count()));
  }

  /// compute_dau_derived for every layer: G_o = B_o^T B_o, B_o^T b_o and |b_o|^2.
  void refresh() {
    for (layer& L : layers_) {
      const index_t J = L.d.patch_size(), O = L.d.c_out, R = L.d.rank;
      const layer_params p = params_at(params_.data(), L);
      backend_.gemm(gemm_args{R, R, J, matrix_arg{p.b, O * R, true, R}, matrix_arg{p.b, O * R, false, R}, L.gram.data(), R, 0.0f,
                              R * R, O});
      backend_.launch(O * (R + 1), gram_vectors_op{J, O, R, p.b, p.bias, L.gram_bias.data(), L.bias_norm2.data()});
    }
  }

  void synchronize() const { backend_.synchronize(); }

 private:
  layer_params params_at(float* base, const layer& L) const {
    float* a = base + L.param_offset;
    const index_t J = L.d.patch_size();
    return {a, a + L.d.rank * J, a + L.d.rank * J + J * L.d.c_out * L.d.rank};
  }

  static conv_geometry geometry(const layer& L, index_t batch) {
    const layer_desc& d = L.d;
    return {d.c_in, d.height, d.width, d.kernel, d.stride, d.pad, d.out_height(), d.out_width(), batch};
  }

  float* input_of(index_t l) { return l == 0 ? encoded_.data() : layers_[static_cast<std::size_t>(l - 1)].out.data(); }

  void gemm(index_t m, index_t n, index_t k, matrix_arg a, matrix_arg b, float* c, index_t ldc, float beta) {
    backend_.gemm(gemm_args{m, n, k, a, b, c, ldc, beta, 0, 1});
  }

  template <class F>
  void for_each_chunk(index_t batch, F&& f) {
    CODA_REQUIRE(batch >= 0, "coda::cuda::device_network: the batch size must not be negative");
    for (index_t n0 = 0; n0 < batch; n0 += max_batch_) f(n0, std::min(max_batch_, batch - n0));
  }

  void require_images(const float* images, index_t batch) const {
    for (index_t i = 0; i < batch * image_size(); ++i)
      if (!std::isfinite(images[i]))
        throw argument_error("coda::cuda::device_network: image " + std::to_string(i / image_size()) +
                             " contains a non-finite value (NaN or infinity)");
  }

  void download_logits(float* host, index_t batch) {
    backend_.download(host, logits_.data(), static_cast<std::size_t>(batch * num_classes()));
  }

  void allocate_explanation() {
    if (contributions_.size() > 0) return;
    const index_t M = max_batch_, seeds = std::min(num_classes(), frozen_max_seeds);
    seed_a_ = floats(seeds * M * max_activation_);
    seed_b_ = floats(seeds * M * max_activation_);
    seed_cols_ = floats(seeds * M * max_cols_);
    contributions_ = floats(M * num_classes() * encoded_size());
  }

  /// Uploads and encodes `batch` images, runs every layer and the head: logits_ [N][classes].
  void run_forward(const float* images, index_t batch) {
    backend_.upload(images_.data(), images, static_cast<std::size_t>(batch * image_size()));
    const layer_desc& first = desc_.layer(0);
    backend_.launch(batch * image_size(), add_inverse_op{batch, desc_.image_channels(), first.height * first.width,
                                                         images_.data(), encoded_.data()});
    for (index_t l = 0; l < desc_.depth(); ++l) forward_layer(l, batch);
    // Sum pooling as a GEMM with a vector of ones, then / T + beta.
    const layer& last = layers_.back();
    const index_t classes = num_classes(), P = last.d.positions();
    gemm(classes * batch, 1, P, rows(last.out.data(), P), rows(ones_.data(), 1), pooled_.data(), 1, 0.0f);
    backend_.launch(batch * classes,
                    logits_op{batch, classes, pooled_.data(), desc_.temperature, desc_.logit_bias, logits_.data()});
  }

  /// dau_forward over the batch: z = A x, t = B^T x, b^T x, G z and (B^T b) z as GEMMs, then the
  /// epilogue forms d, n2, scale and y, keeping them for the backward passes.
  void forward_layer(index_t l, index_t batch) {
    layer& L = layers_[static_cast<std::size_t>(l)];
    const index_t J = L.d.patch_size(), O = L.d.c_out, R = L.d.rank, NP = batch * L.d.positions();
    const layer_params p = params_at(params_.data(), L);
    float* cols = cols_.data();
    float *gz = big_a_.data(), *bx = small_a_.data(), *gbz = small_b_.data();
    backend_.launch(J * NP, im2col_op{geometry(L, batch), input_of(l), cols});
    gemm(R, NP, J, rows(p.a, J), rows(cols, NP), L.z.data(), NP, 0.0f);
    gemm(O * R, NP, J, transposed(p.b, O * R), rows(cols, NP), L.t.data(), NP, 0.0f);
    gemm(O, NP, J, transposed(p.bias, O), rows(cols, NP), bx, NP, 0.0f);
    gemm(O * R, NP, R, rows(L.gram.data(), R), rows(L.z.data(), NP), gz, NP, 0.0f);
    gemm(O, NP, R, rows(L.gram_bias.data(), R), rows(L.z.data(), NP), gbz, NP, 0.0f);
    with_norm(L.d.norm, [&](auto norm) {
      backend_.launch(O * NP, dau_epilogue_op<decltype(norm)>{O, R, NP, L.z.data(), L.t.data(), gz, bx, gbz, L.bias_norm2.data(),
                                                              L.out.data(), L.dot.data(), L.n2.data(), L.scale.data()});
    });
  }

  /// From grad_logits_: the head, then every layer's dau_train_backward (layer 0 is not asked
  /// for its input gradient, as accumulate_gradients does not ask the encoding).
  void run_backward(index_t batch) {
    const layer& last = layers_.back();
    const index_t classes = num_classes(), P = last.d.positions();
    float* g = ping_.data();
    float* other = pong_.data();
    backend_.launch(classes * batch * P, head_backward_op{batch, classes, P, grad_logits_.data(), 1.0f / desc_.temperature, g});
    for (index_t l = desc_.depth() - 1; l >= 0; --l) {
      train_backward_layer(l, batch, g, l > 0 ? other : nullptr);
      std::swap(g, other);
    }
  }

  /// dau_train_backward over the batch, accumulating the parameter gradients and batch sums.
  void train_backward_layer(index_t l, index_t batch, const float* grad_out, float* grad_in) {
    layer& L = layers_[static_cast<std::size_t>(l)];
    const index_t J = L.d.patch_size(), O = L.d.c_out, R = L.d.rank, NP = batch * L.d.positions();
    const layer_params p = params_at(params_.data(), L), g = params_at(grads_.data(), L);
    float* s_mat = grads_.data() + L.sums_offset;
    float* s_vec = s_mat + O * R * R;
    float* beta_sum = s_vec + O * R;
    float *cols = cols_.data(), *alpha = small_a_.data(), *beta = small_b_.data();
    float *alpha_z = big_a_.data(), *beta_z = big_b_.data(), *gz = gz_.data();
    const conv_geometry geo = geometry(L, batch);

    backend_.launch(J * NP, im2col_op{geo, input_of(l), cols});
    with_norm(L.d.norm, [&](auto norm) {
      backend_.launch(O * NP, alpha_beta_op<decltype(norm)>{grad_out, L.scale.data(), L.dot.data(), L.n2.data(), alpha, beta});
    });
    backend_.launch(R * NP, code_grad_op{O, R, NP, L.z.data(), L.t.data(), alpha, beta, alpha_z, beta_z, gz});
    // dL/dz += sum_o beta_o (G_o z + B_o^T b_o); G_o is symmetric, read transposed as on the CPU.
    gemm(R, NP, O * R, transposed(L.gram.data(), R), rows(beta_z, NP), gz, NP, 1.0f);
    gemm(R, NP, O, transposed(L.gram_bias.data(), R), rows(beta, NP), gz, NP, 1.0f);
    // Parameter gradients; the sums over all images and positions are the GEMMs' inner dimension.
    gemm(J, O * R, NP, rows(cols, NP), transposed(alpha_z, NP), g.b, O * R, 1.0f);
    gemm(J, O, NP, rows(cols, NP), transposed(alpha, NP), g.bias, O, 1.0f);
    gemm(R, J, NP, rows(gz, NP), transposed(cols, NP), g.a, J, 1.0f);
    // Batch sums S_o += sum beta z z^T, s_o += sum beta z, sum beta (row sums: GEMMs with ones).
    gemm(O * R, R, NP, rows(beta_z, NP), transposed(L.z.data(), NP), s_mat, R, 1.0f);
    gemm(O * R, 1, NP, rows(beta_z, NP), rows(ones_.data(), 1), s_vec, 1, 1.0f);
    gemm(O, 1, NP, rows(beta, NP), rows(ones_.data(), 1), beta_sum, 1, 1.0f);
    if (!grad_in) return;
    // dL/dpatch = B (alpha (x) z) + b alpha + A^T dL/dz, then col2im.
    float* gcols = gcols_.data();
    gemm(J, NP, O * R, rows(p.b, O * R), rows(alpha_z, NP), gcols, NP, 0.0f);
    gemm(J, NP, O, rows(p.bias, O), rows(alpha, NP), gcols, NP, 1.0f);
    gemm(J, NP, R, transposed(p.a, J), rows(gz, NP), gcols, NP, 1.0f);
    backend_.launch(geo.image_elements(), col2im_op{geo, gcols, grad_in});
  }

  /// The frozen backward of `seeds` classes first .. first + seeds - 1 from the state of the
  /// last forward pass, down to the encoded input: contributions_ [N][classes][encoded].
  void explain(index_t batch, index_t first, index_t seeds) {
    const layer& last = layers_.back();
    const index_t classes = num_classes(), P = last.d.positions();
    float* g = seed_a_.data();
    float* other = seed_b_.data();
    backend_.launch(seeds * classes * batch * P, seed_head_op{first, batch, classes, P, 1.0f / desc_.temperature, g});
    for (index_t l = desc_.depth() - 1; l >= 0; --l) {
      layer& L = layers_[static_cast<std::size_t>(l)];
      const index_t J = L.d.patch_size(), NP = batch * L.d.positions();
      const layer_params p = params_at(params_.data(), L);
      const conv_geometry geo = geometry(L, batch);
      backend_.launch(J * NP, frozen_op{J, L.d.c_out, L.d.rank, NP, seeds, p.b, p.bias, L.z.data(), L.scale.data(), g,
                                        seed_cols_.data()});
      backend_.launch(seeds * geo.image_elements(), col2im_op{geo, seed_cols_.data(), other});
      std::swap(g, other);
    }
    const layer_desc& d0 = desc_.layer(0);
    backend_.launch(batch * seeds * encoded_size(), contributions_op{batch, seeds, first, classes, d0.c_in, d0.height * d0.width,
                                                                     encoded_.data(), g, contributions_.data()});
  }

  network_desc desc_;
  index_t max_batch_;
  index_t max_activation_ = 0, max_cols_ = 0;
  mutable Backend backend_;  // queueing work on the device does not change the network
  std::vector<layer> layers_;
  buffer<float> params_, grads_;
  buffer<float> images_, encoded_, cols_, gcols_, big_a_, big_b_, small_a_, small_b_, gz_, ping_, pong_, ones_;
  buffer<float> pooled_, logits_, grad_logits_;
  buffer<double> sample_loss_, loss_;
  buffer<int> labels_;
  buffer<float> seed_a_, seed_b_, seed_cols_, contributions_;  ///< allocated by the first explanation
};

}  // namespace coda::cuda::detail

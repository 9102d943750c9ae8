// Grad-CAM as the paper's evaluation runs it (captum's LayerGradCam on the layer before the
// pooling, i.e. the OUTPUT of the last DAU layer: the class maps A [classes][h][w]):
//   cam_t = ReLU(sum_k mean_positions(d f_t / d A_k) A_k),
// upsampled to the image by nearest neighbour (captum's default interpolation). The head of a
// CoDA-Net sums the positions and divides by the temperature T, so d f_t / d A_k is 1/T for
// k = t and 0 otherwise, and cam_t = ReLU(A_t / T): the class map itself, which is why Grad-CAM
// localises well on a CoDA-Net. The gradients are still taken from the tape, not from that
// closed form, so the method stays Grad-CAM for any head.
#pragma once

#include <algorithm>
#include <vector>

#include "coda/attribution/gradients.hpp"
#include "coda/core/diagnostics.hpp"

namespace coda {

/// Nearest-neighbour upsampling of `in` [h][w] to `out` [H][W] as PyTorch's mode="nearest":
/// output pixel y reads input row floor(y * h / H) (exact for the integer ratios of a CoDA-Net).
template <class T>
void upsample_nearest(const T* in, index_t h, index_t w, T* out, index_t H, index_t W) {
  using plane = Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using indices = Eigen::Array<index_t, Eigen::Dynamic, 1>;
  const indices rows = indices::LinSpaced(H, 0, H - 1) * h / H, cols = indices::LinSpaced(W, 0, W - 1) * w / W;
  Eigen::Map<plane>(out, H, W) = Eigen::Map<const plane>(in, h, w)(rows, cols);
}

CODA_BEGIN_EIGEN_REDUCTIONS
/// Grad-CAM maps [classes][1][H][W] of one image.
template <class Net>
std::vector<typename Net::scalar_type> gradcam(const Net& net, const typename Net::scalar_type* image, const std::vector<index_t>& classes) {
  using T = typename Net::scalar_type;
  using A = typename Net::output_map_shape;
  constexpr index_t channels = A::dim(0), positions = A::dim(1) * A::dim(2);
  constexpr index_t H = Net::image_shape::dim(1), W = Net::image_shape::dim(2);
  detail::require_attribution_input<Net>(image, classes);
  std::vector<T> maps(classes.size() * static_cast<std::size_t>(H * W));
  tape<T> t;
  t.prepare(record_mode::train, Net::workspace_size(1, record_mode::train, 1), Net::tape_nodes);
  net.forward(image, 1, t);
  constexpr std::size_t head = Net::depth + 1;
  using class_maps = Eigen::Map<const Eigen::Array<T, channels, positions, Eigen::RowMajor>>;
  const class_maps activation(t.node(head).input);
  Eigen::Array<T, 1, positions> cam;
  for (std::size_t k = 0; k < classes.size(); ++k) {
    scratch_scope<T> scope(t.memory());
    const T* seed = detail::class_seeds<Net>(t, 1, classes[k]);
    const auto weights = class_maps(run_backward<T>(t, head, head, backward_mode::input, 1, seed, nullptr)).rowwise().mean();
    cam = (activation.colwise() * weights).colwise().sum().max(T(0));
    upsample_nearest(cam.data(), A::dim(1), A::dim(2), maps.data() + long(k) * H * W, H, W);
  }
  return maps;
}
CODA_END_EIGEN_REDUCTIONS

}  // namespace coda

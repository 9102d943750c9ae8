// The attribution methods of the paper's evaluation behind one name each, for the command line
// and the metrics. Each method is its own function (gradients.hpp, gradcam.hpp, occlusion.hpp,
// rise.hpp; coda() below for the model's own contributions); attribute() only dispatches by
// name. Maps are [classes][channels][H][W] where the channels are the method's own:
//   coda                                 the encoded channels (6 for RGB): the exact contributions
//   grad, ixg, intgrad, deeplift         the image channels (3)
//   gradcam, occlusion5/9, rise          1
// The metrics use each map summed over its channels (attribution::summed).
#pragma once

#include <array>
#include <optional>
#include <string_view>
#include <vector>

#include "coda/attribution/gradcam.hpp"
#include "coda/attribution/gradients.hpp"
#include "coda/attribution/occlusion.hpp"
#include "coda/attribution/rise.hpp"

namespace coda {

enum class attribution_method { coda, grad, ixg, intgrad, deeplift, gradcam, occlusion5, occlusion9, rise };

inline constexpr std::array<attribution_method, 9> all_attribution_methods{
    attribution_method::coda,     attribution_method::grad,       attribution_method::ixg,
    attribution_method::intgrad,  attribution_method::deeplift,   attribution_method::gradcam,
    attribution_method::occlusion5, attribution_method::occlusion9, attribution_method::rise};

/// The method's name on the command line, in files and in reports.
inline const char* method_name(attribution_method m) {
  constexpr const char* names[] = {"coda", "grad", "ixg", "intgrad", "deeplift", "gradcam", "occlusion5", "occlusion9", "rise"};
  return names[static_cast<int>(m)];
}

inline std::optional<attribution_method> parse_method(std::string_view name) {
  for (attribution_method m : all_attribution_methods)
    if (name == method_name(m)) return m;
  return std::nullopt;
}

/// Channels of the maps of `m` for network Net.
template <class Net>
constexpr index_t method_channels(attribution_method m) {
  switch (m) {
    case attribution_method::coda: return Net::encoded_shape::dim(0);
    case attribution_method::grad:
    case attribution_method::ixg:
    case attribution_method::intgrad:
    case attribution_method::deeplift: return Net::image_shape::dim(0);
    default: return 1;
  }
}

/// Parameters of the methods that have any (the defaults are the paper's).
struct attribution_options {
  integrated_gradients_options intgrad{};
  rise_options rise{};
};

/// Maps of one image for several classes: values [classes][channels][H][W].
template <class T>
struct attribution {
  index_t channels = 0, plane = 0;
  std::vector<T> values;

  /// Map k summed over its channels: [H][W].
  std::vector<T> summed(std::size_t k) const {
    std::vector<T> out(static_cast<std::size_t>(plane));
    const Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic>> m(values.data() + long(k) * channels * plane, plane, channels);
    Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>(out.data(), plane) = m.rowwise().sum();
    return out;
  }
};

/// The model's own explanation: the contributions of each class to the encoded input (complete:
/// they sum to logit - logit bias). [classes][encoded_shape], from one forward pass.
template <class Net>
std::vector<typename Net::scalar_type> coda_contributions(const Net& net, const typename Net::scalar_type* image,
                                                          const std::vector<index_t>& classes) {
  using T = typename Net::scalar_type;
  detail::require_attribution_input<Net>(image, classes);
  std::vector<T> maps(classes.size() * static_cast<std::size_t>(Net::encoded_shape::size));
  tape<T> t;
  detail::explain_batch<0>(net, image, 1, static_cast<index_t>(classes.size()),
                           [&](index_t, index_t k) { return classes[static_cast<std::size_t>(k)]; }, t, maps.data(), nullptr);
  return maps;
}

/// Maps of `method` for one image of Net::image_shape and the given classes, on the calling thread.
template <class Net>
attribution<typename Net::scalar_type> attribute(const Net& net, attribution_method method, const typename Net::scalar_type* image,
                                                 const std::vector<index_t>& classes, const attribution_options& o = {}) {
  constexpr index_t plane = Net::image_shape::dim(1) * Net::image_shape::dim(2);
  attribution<typename Net::scalar_type> a{method_channels<Net>(method), plane, {}};
  switch (method) {
    case attribution_method::coda: a.values = coda_contributions(net, image, classes); break;
    case attribution_method::grad: a.values = grad(net, image, classes); break;
    case attribution_method::ixg: a.values = ixg(net, image, classes); break;
    case attribution_method::intgrad: a.values = intgrad(net, image, classes, o.intgrad); break;
    case attribution_method::deeplift: a.values = deeplift(net, image, classes); break;
    case attribution_method::gradcam: a.values = gradcam(net, image, classes); break;
    case attribution_method::occlusion5: a.values = occlusion(net, image, classes, occlusion5); break;
    case attribution_method::occlusion9: a.values = occlusion(net, image, classes, occlusion9); break;
    case attribution_method::rise: a.values = rise(net, image, classes, o.rise); break;
  }
  return a;
}

}  // namespace coda

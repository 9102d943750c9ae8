// The attribution methods of the paper's evaluation behind one name each, for the command line
// and the metrics. Each method is its own function (gradients.hpp, gradcam.hpp, occlusion.hpp,
// rise.hpp; coda_contributions() below for the model's own contributions); one table,
// detail::method_table, gives each its name, its maps' channels and how attribute() calls it, and
// everything else here is read from that table. Maps are [classes][channels][H][W] where the
// channels are the method's own:
//   coda                                 the encoded channels (6 for RGB): the exact contributions
//   grad, ixg, intgrad, deeplift         the image channels (3)
//   gradcam, occlusion5/9, rise          1
// The metrics use each map summed over its channels (attribution::summed).
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "coda/attribution/gradcam.hpp"
#include "coda/attribution/gradients.hpp"
#include "coda/attribution/occlusion.hpp"
#include "coda/attribution/rise.hpp"

namespace coda {

/// In the order of detail::method_table (a static_assert there checks it).
enum class attribution_method { coda, grad, ixg, intgrad, deeplift, gradcam, occlusion5, occlusion9, rise };

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

namespace detail {

/// Which channels a method's maps have.
enum class map_channels { encoded, image, one };

/// The arguments of attribute(), passed to a method as one value so that every table entry has
/// the same short form.
template <class Net>
struct attribution_request {
  const Net& net;
  const typename Net::scalar_type* image;
  const std::vector<index_t>& classes;
  const attribution_options& options;
};

/// One method: its name, its maps' channels, and `run`, which calls the method's own function
/// with an attribution_request of any network.
template <class Run>
struct method_entry {
  attribution_method method;
  const char* name;
  map_channels channels;
  Run run;
};
template <class Run>
method_entry(attribution_method, const char*, map_channels, Run) -> method_entry<Run>;

/// The methods in the order of attribution_method. A tuple, not an array: each run is a generic
/// lambda of its own type, instantiated per network. Adding a method is its enumerator and one line
/// here. The calls are qualified so that no coda::detail helper of the same name can hide them.
constexpr auto make_method_table() {
  using m = attribution_method;
  using c = map_channels;
  return std::make_tuple(
      method_entry{m::coda, "coda", c::encoded, [](const auto& r) { return coda::coda_contributions(r.net, r.image, r.classes); }},
      method_entry{m::grad, "grad", c::image, [](const auto& r) { return coda::grad(r.net, r.image, r.classes); }},
      method_entry{m::ixg, "ixg", c::image, [](const auto& r) { return coda::ixg(r.net, r.image, r.classes); }},
      method_entry{m::intgrad, "intgrad", c::image, [](const auto& r) { return coda::intgrad(r.net, r.image, r.classes, r.options.intgrad); }},
      method_entry{m::deeplift, "deeplift", c::image, [](const auto& r) { return coda::deeplift(r.net, r.image, r.classes); }},
      method_entry{m::gradcam, "gradcam", c::one, [](const auto& r) { return coda::gradcam(r.net, r.image, r.classes); }},
      method_entry{m::occlusion5, "occlusion5", c::one, [](const auto& r) { return coda::occlusion(r.net, r.image, r.classes, occlusion5); }},
      method_entry{m::occlusion9, "occlusion9", c::one, [](const auto& r) { return coda::occlusion(r.net, r.image, r.classes, occlusion9); }},
      method_entry{m::rise, "rise", c::one, [](const auto& r) { return coda::rise(r.net, r.image, r.classes, r.options.rise); }});
}

inline constexpr auto method_table = make_method_table();

inline constexpr std::size_t method_count = std::tuple_size_v<decltype(method_table)>;

/// One field of every entry, in table order: field(entry) for each.
template <class Field>
constexpr auto method_column(Field field) {
  return std::apply([&](const auto&... entry) { return std::array{field(entry)...}; }, method_table);
}

inline constexpr auto method_names = method_column([](const auto& e) { return e.name; });
inline constexpr auto method_channel_kinds = method_column([](const auto& e) { return e.channels; });

template <class Net>
using method_function = std::vector<typename Net::scalar_type> (*)(const attribution_request<Net>&);

/// The table's runs for Net as plain function pointers, indexed by attribution_method.
template <class Net, std::size_t... I>
constexpr std::array<method_function<Net>, sizeof...(I)> method_functions(std::index_sequence<I...>) {
  return {[](const attribution_request<Net>& r) { return std::get<I>(method_table).run(r); }...};
}

}  // namespace detail

inline constexpr auto all_attribution_methods = detail::method_column([](const auto& e) { return e.method; });

// The enumerators and the table rows are in the same order, so either indexes the other.
static_assert([] {
  for (std::size_t i = 0; i < all_attribution_methods.size(); ++i)
    if (static_cast<std::size_t>(all_attribution_methods[i]) != i) return false;
  return true;
}());

/// The method's name on the command line, in files and in reports.
inline const char* method_name(attribution_method m) { return detail::method_names[static_cast<std::size_t>(m)]; }

inline std::optional<attribution_method> parse_method(std::string_view name) {
  for (attribution_method m : all_attribution_methods)
    if (name == method_name(m)) return m;
  return std::nullopt;
}

/// Channels of the maps of `m` for network Net.
template <class Net>
constexpr index_t method_channels(attribution_method m) {
  const std::array<index_t, 3> by_kind{Net::encoded_shape::dim(0), Net::image_shape::dim(0), 1};
  return by_kind[static_cast<std::size_t>(detail::method_channel_kinds[static_cast<std::size_t>(m)])];
}

/// Maps of `method` for one image of Net::image_shape and the given classes, on the calling thread.
template <class Net>
attribution<typename Net::scalar_type> attribute(const Net& net, attribution_method method, const typename Net::scalar_type* image,
                                                 const std::vector<index_t>& classes, const attribution_options& o = {}) {
  static constexpr auto functions = detail::method_functions<Net>(std::make_index_sequence<detail::method_count>{});
  constexpr index_t plane = Net::image_shape::dim(1) * Net::image_shape::dim(2);
  return {method_channels<Net>(method), plane, functions[static_cast<std::size_t>(method)]({net, image, classes, o})};
}

}  // namespace coda

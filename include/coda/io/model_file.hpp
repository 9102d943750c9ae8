// Model files: safetensors holding the authors' parameter names and shapes plus the metadata
// keys of docs/file-format.md §2.2 (format, arch, norm, temperature, logit_bias). Reading checks
// every tensor against the network type and reports the first mismatch by name; a file without
// metadata (a plain export of the authors' model) gets the documented defaults.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <string>

#include "coda/io/safetensors.hpp"
#include "coda/nn/presets.hpp"

namespace coda {

/// Tensors whose names start with one of these belong to a training checkpoint (optimiser
/// state, counters) and are ignored when a file is read as a model.
inline constexpr const char* checkpoint_prefixes[] = {"optimizer.", "training."};

/// What a model file's metadata says, with the documented defaults filled in.
struct model_metadata {
  std::string arch = "cifar10-9l";
  std::string norm = "squash";
  double temperature = 1000.0;
  double logit_bias = std::log(1.0 / 9.0);
};

/// Values that replace the metadata (command-line overrides).
struct model_overrides {
  std::optional<std::string> norm;
  std::optional<double> temperature;
  std::optional<double> logit_bias;
};

namespace detail {

inline double parse_metadata_number(const std::string& origin, const std::string& key, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || errno != 0 || *end != '\0' || !std::isfinite(v))
    CODA_THROW(format_error(origin + ": metadata '" + key + "' is not a finite number: '" + text + "'"));
  return v;
}

template <class Container>
std::string shape_text(const Container& dims, std::size_t rank) {
  std::string s = "[";
  for (std::size_t i = 0; i < rank; ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

inline bool is_checkpoint_tensor(const std::string& name) {
  for (const char* p : checkpoint_prefixes)
    if (name.rfind(p, 0) == 0) return true;
  return false;
}

}  // namespace detail

/// Reads and validates the metadata of a model file, applying `overrides`.
inline model_metadata read_model_metadata(const safetensors_file& file, const model_overrides& overrides = {}) {
  model_metadata m;
  const auto& meta = file.metadata();
  const auto get = [&](const char* key) -> const std::string* {
    const auto it = meta.find(key);
    return it == meta.end() ? nullptr : &it->second;
  };
  if (const auto* f = get("format"); f && *f != "coda")
    CODA_THROW(format_error(file.origin() + ": metadata 'format' is '" + *f + "', expected 'coda'"));
  if (const auto* a = get("arch")) m.arch = *a;
  if (const auto* n = get("norm")) m.norm = *n;
  if (const auto* t = get("temperature")) m.temperature = detail::parse_metadata_number(file.origin(), "temperature", *t);
  if (const auto* b = get("logit_bias")) m.logit_bias = detail::parse_metadata_number(file.origin(), "logit_bias", *b);
  if (overrides.norm) m.norm = *overrides.norm;
  if (overrides.temperature) m.temperature = *overrides.temperature;
  if (overrides.logit_bias) m.logit_bias = *overrides.logit_bias;
  if (m.norm != squash::name && m.norm != l2::name)
    CODA_THROW(format_error(file.origin() + ": norm '" + m.norm + "' is not one of squash, l2"));
  if (!(m.temperature > 0)) CODA_THROW(format_error(file.origin() + ": the temperature must be positive"));
  return m;
}

/// Builds a network of type Net from a parsed model file: names, dtypes (F32 or F64), shapes and
/// finiteness of every parameter are checked, and the metadata must agree with Net.
template <class Net>
Net model_from_file(const safetensors_file& file, const model_overrides& overrides = {}) {
  using T = typename Net::scalar_type;
  const model_metadata meta = read_model_metadata(file, overrides);
  const std::string& origin = file.origin();
  if (meta.arch != arch_name<Net>::value)
    CODA_THROW(format_error(origin + ": the model's arch is '" + meta.arch + "', expected '" + arch_name<Net>::value + "'"));
  Net net(static_cast<T>(meta.temperature), static_cast<T>(meta.logit_bias));
  net.update_parameters([&](T* params, index_t) {
    detail::for_each_index(
        [&](auto i) {
          using L = typename Net::template layer<i>;
          if (meta.norm != L::norm::name)
            CODA_THROW(format_error(origin + ": the model's norm is '" + meta.norm + "' but layer " + std::to_string(i) +
                               " of this network uses '" + L::norm::name + "'"));
          for (const parameter_tensor& p : L::parameter_tensors) {
            const std::string name = std::to_string(i) + "." + p.suffix;
            const tensor_entry* e = file.find(name);
            const std::string want = detail::shape_text(p.dims, static_cast<std::size_t>(p.rank));
            if (!e) CODA_THROW(format_error(origin + ": tensor '" + name + "' is missing (expected shape " + want + ")"));
            const std::string got = detail::shape_text(e->shape, e->shape.size());
            if (got != want)
              CODA_THROW(format_error(origin + ": tensor '" + name + "' has shape " + got + ", expected " + want));
            if (e->type != dtype::f32 && e->type != dtype::f64)
              CODA_THROW(format_error(origin + ": tensor '" + name + "' has dtype " + dtype_name(e->type) + ", expected F32 or F64"));
            T* dst = params + Net::template parameter_offset<i>() + p.offset;
            file.copy_to(*e, dst);
            for (index_t k = 0; k < p.size; ++k)
              if (!std::isfinite(dst[k]))
                CODA_THROW(format_error(origin + ": tensor '" + name + "' holds a non-finite value (NaN or infinity) at element " +
                                   std::to_string(k)));
          }
        },
        std::make_index_sequence<Net::depth>{});
  });
  for (const tensor_entry& e : file.tensors())
    if (!detail::is_checkpoint_tensor(e.name) && !Net::has_parameter_tensor(e.name))
      CODA_THROW(format_error(origin + ": unexpected tensor '" + e.name + "' (not a parameter of " + arch_name<Net>::value + ")"));
  return net;
}

/// Reads a model file (see model_from_file).
template <class Net>
Net load_model(const std::string& path, const model_overrides& overrides = {}) {
  return model_from_file<Net>(safetensors_file::read(path), overrides);
}

/// Adds the network's parameters (F32, authors' names) and metadata to a writer.
template <class Net>
void add_model(safetensors_writer& w, const Net& net) {
  detail::for_each_index(
      [&](auto i) {
        using L = typename Net::template layer<i>;
        for (const parameter_tensor& p : L::parameter_tensors) {
          std::vector<std::int64_t> dims(p.dims.begin(), p.dims.begin() + p.rank);
          std::vector<float> values(net.parameters() + Net::template parameter_offset<i>() + p.offset,
                                    net.parameters() + Net::template parameter_offset<i>() + p.offset + p.size);
          w.add_values(std::to_string(i) + "." + p.suffix, dims, values.data());
        }
      },
      std::make_index_sequence<Net::depth>{});
  std::ostringstream t, b;
  t.precision(17);
  b.precision(17);
  t << double(net.temperature());
  b << double(net.logit_bias());
  w.set_metadata("format", "coda");
  w.set_metadata("arch", arch_name<Net>::value);
  w.set_metadata("norm", Net::template layer<0>::norm::name);
  w.set_metadata("temperature", t.str());
  w.set_metadata("logit_bias", b.str());
}

/// Writes a model file atomically (temporary file, then rename).
template <class Net>
void save_model(const Net& net, const std::string& path) {
  safetensors_writer w;
  add_model(w, net);
  w.write(path);
}

}  // namespace coda

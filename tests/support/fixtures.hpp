// Access to the committed golden fixtures (tests/fixtures, made by make_fixtures.py from the
// independent PyTorch model).
#pragma once

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "coda/io/safetensors.hpp"

namespace coda::test {

inline std::string fixture_path(const std::string& name) { return std::string(CODA_FIXTURE_DIR) + "/" + name; }

/// A tensor of a fixture file converted to T; fails the test if it is missing.
template <class T>
std::vector<T> fixture_values(const safetensors_file& f, const std::string& name) {
  const tensor_entry* e = f.find(name);
  if (!e) throw std::runtime_error(f.origin() + ": fixture tensor '" + name + "' is missing");
  std::vector<T> out(static_cast<std::size_t>(e->element_count()));
  if (e->type == dtype::i64) {
    std::vector<std::int64_t> raw(out.size());
    std::memcpy(raw.data(), f.data(*e), raw.size() * sizeof(std::int64_t));
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(raw[i]);
  } else {
    f.copy_to(*e, out.data());
  }
  return out;
}

}  // namespace coda::test

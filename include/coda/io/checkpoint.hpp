// Training checkpoints: the model, the optimiser state, the position in the run (epoch,
// mini-batches done in it, optimiser steps), the seed of the run's random streams and, when the
// application gives one, an opaque record of its own (e.g. the running statistics it reports),
// in one safetensors file written atomically (temporary file, then rename). The model part uses
// the model-file names, so a checkpoint also loads as a model. A description of the run's
// settings is stored as metadata so that resuming with different settings is refused.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "coda/io/model_file.hpp"
#include "coda/nn/training.hpp"

namespace coda {

/// Bytes an application stores in a checkpoint and gets back verbatim: the library neither
/// reads nor checks them. `kind` names what the bytes hold and `version` their layout, so that
/// the application can refuse a record it does not understand. An empty kind means no record.
struct checkpoint_record {
  std::string kind;
  std::int64_t version = 0;
  std::vector<std::uint8_t> bytes;

  bool empty() const { return kind.empty(); }
};

/// Where a training run stands. Checkpoints are taken at virtual-batch boundaries, so no
/// partly accumulated gradient is ever lost.
struct training_progress {
  std::int64_t epoch = 0;         ///< epoch in progress (0-based)
  std::int64_t batches_done = 0;  ///< mini-batches of that epoch already trained
  std::uint64_t seed = 0;         ///< seed of the shuffling and augmentation streams
  checkpoint_record record;       ///< the application's own record (none when empty)
};

namespace detail {

inline const tensor_entry& checkpoint_tensor(const safetensors_file& f, const std::string& name, dtype type,
                                             std::int64_t count) {
  const tensor_entry* e = f.find(name);
  if (!e) CODA_THROW(format_error(f.origin() + ": checkpoint tensor '" + name + "' is missing"));
  if (e->type != type || e->shape.size() != 1 || e->shape[0] != count)
    CODA_THROW(format_error(f.origin() + ": checkpoint tensor '" + name + "' must be " + dtype_name(type) + " [" +
                       std::to_string(count) + "]"));
  return *e;
}

inline constexpr const char* record_tensor = "training.record";

/// The application record of a checkpoint: empty when the file has none; the record's tensor and
/// its two metadata entries come together or not at all.
inline checkpoint_record read_checkpoint_record(const safetensors_file& f) {
  const auto& meta = f.metadata();
  const auto kind = meta.find("record_kind"), version = meta.find("record_version");
  const tensor_entry* e = f.find(record_tensor);
  if (kind == meta.end() && version == meta.end() && !e) return {};
  if (kind == meta.end() || version == meta.end() || !e || kind->second.empty())
    CODA_THROW(format_error(f.origin() + ": an application record needs the tensor '" + record_tensor +
                            "' and the metadata 'record_kind' (not empty) and 'record_version'"));
  if (e->type != dtype::u8 || e->shape.size() != 1)
    CODA_THROW(format_error(f.origin() + ": checkpoint tensor '" + record_tensor + "' must be U8 [bytes]"));
  const char* text = version->second.c_str();
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text, &end, 10);
  if (version->second.empty() || *end != '\0' || errno == ERANGE)
    CODA_THROW(format_error(f.origin() + ": metadata 'record_version' is not an integer: '" + version->second + "'"));
  const std::uint8_t* data = f.data(*e);
  return {kind->second, static_cast<std::int64_t>(v), std::vector<std::uint8_t>(data, data + e->shape[0])};
}

}  // namespace detail

/// Writes net, optimiser state and progress to `path` atomically; `run` describes the settings.
template <class Net>
void save_checkpoint(const std::string& path, const Net& net, const trainer<Net>& tr, const training_progress& p,
                     const std::string& run) {
  CODA_REQUIRE(tr.pending() == 0, "coda::save_checkpoint: a virtual batch is half accumulated");
  safetensors_writer w;
  add_model(w, net);
  const std::int64_t n = Net::parameter_count;
  std::visit(
      [&](const auto& o) {
        using O = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<O, adam<typename Net::scalar_type>>) {
          w.add_values("optimizer.exp_avg", {n}, o.exp_avg());
          w.add_values("optimizer.exp_avg_sq", {n}, o.exp_avg_sq());
        } else {
          w.add_values("optimizer.momentum_buffer", {n}, o.momentum_buffer());
        }
        w.set_metadata("optimizer", O::name);
      },
      tr.optimizer());
  std::int64_t seed_bits = 0;
  std::memcpy(&seed_bits, &p.seed, sizeof seed_bits);
  const std::int64_t state[4] = {p.epoch, p.batches_done, tr.steps(), seed_bits};
  w.add_values("training.state", {4}, state);
  if (!p.record.empty()) {
    w.add_values(detail::record_tensor, {static_cast<std::int64_t>(p.record.bytes.size())}, p.record.bytes.data());
    w.set_metadata("record_kind", p.record.kind);
    w.set_metadata("record_version", std::to_string(p.record.version));
  }
  w.set_metadata("checkpoint", "1");
  w.set_metadata("run", run);
  w.write(path);
}

/// Restores net and trainer from a checkpoint written for the same `run`, and returns where the
/// run stands (with the application record saved with it). Every inconsistency is a format_error
/// naming the file, and leaves net and trainer as they were: everything is read and checked
/// into temporaries first, and only then moved into place.
template <class Net>
training_progress load_checkpoint(const std::string& path, Net& net, trainer<Net>& tr, const std::string& run,
                                  const model_overrides& overrides = {}) {
  using T = typename Net::scalar_type;
  using optimizer_state = std::decay_t<decltype(tr.optimizer())>;
  // The commit at the end must not fail half-way.
  static_assert(std::is_nothrow_move_assignable_v<Net> && std::is_nothrow_move_assignable_v<optimizer_state>,
                "coda::load_checkpoint: the network and the optimiser state must move without throwing");
  const auto f = safetensors_file::read(path);
  const auto& meta = f.metadata();
  const auto at = [&](const char* key) {
    const auto it = meta.find(key);
    if (it == meta.end()) CODA_THROW(format_error(path + ": not a checkpoint (no metadata '" + key + "')"));
    return it->second;
  };
  if (at("checkpoint") != "1") CODA_THROW(format_error(path + ": unknown checkpoint version '" + at("checkpoint") + "'"));
  if (at("run") != run)
    CODA_THROW(format_error(path + ": the checkpoint was made with different settings (" + at("run") + ") than this run (" + run + ")"));
  Net loaded = model_from_file<Net>(f, overrides);
  const std::int64_t n = Net::parameter_count;
  constexpr dtype state_type = std::is_same_v<T, float> ? dtype::f32 : dtype::f64;
  std::int64_t state[4];
  std::memcpy(state, f.data(detail::checkpoint_tensor(f, "training.state", dtype::i64, 4)), sizeof state);
  if (state[0] < 0 || state[1] < 0 || state[2] < 0) CODA_THROW(format_error(path + ": negative counters in 'training.state'"));
  optimizer_state optimizer = tr.optimizer();  // the run's optimiser and hyper-parameters; its state is replaced
  std::visit(
      [&](auto& o) {
        using O = std::decay_t<decltype(o)>;
        if (at("optimizer") != O::name)
          CODA_THROW(format_error(path + ": the checkpoint's optimiser is '" + at("optimizer") + "', this run uses '" + O::name + "'"));
        if constexpr (std::is_same_v<O, adam<T>>) {
          f.copy_to(detail::checkpoint_tensor(f, "optimizer.exp_avg", state_type, n), o.exp_avg());
          f.copy_to(detail::checkpoint_tensor(f, "optimizer.exp_avg_sq", state_type, n), o.exp_avg_sq());
          for (index_t i = 0; i < n; ++i)
            if (!std::isfinite(o.exp_avg()[i]) || !(o.exp_avg_sq()[i] >= 0))
              CODA_THROW(format_error(path + ": invalid Adam state at element " + std::to_string(i)));
        } else {
          f.copy_to(detail::checkpoint_tensor(f, "optimizer.momentum_buffer", state_type, n), o.momentum_buffer());
          for (index_t i = 0; i < n; ++i)
            if (!std::isfinite(o.momentum_buffer()[i]))
              CODA_THROW(format_error(path + ": non-finite momentum buffer at element " + std::to_string(i)));
        }
        o.set_steps(state[2]);
      },
      optimizer);
  training_progress p;
  p.epoch = state[0];
  p.batches_done = state[1];
  std::memcpy(&p.seed, &state[3], sizeof p.seed);
  p.record = detail::read_checkpoint_record(f);
  net = std::move(loaded);
  tr.optimizer() = std::move(optimizer);
  return p;
}

}  // namespace coda

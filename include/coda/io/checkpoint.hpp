// Training checkpoints: the model, the optimiser state, the position in the run (epoch,
// mini-batches done in it, optimiser steps) and the seed of the run's random streams, in one
// safetensors file written atomically (temporary file, then rename). The model part uses the
// model-file names, so a checkpoint also loads as a model. A description of the run's settings
// is stored as metadata so that resuming with different settings is refused.
#pragma once

#include <cstdint>
#include <cmath>
#include <cstring>
#include <string>
#include <variant>

#include "coda/io/model_file.hpp"
#include "coda/nn/training.hpp"

namespace coda {

/// Where a training run stands. Checkpoints are taken at virtual-batch boundaries, so no
/// partly accumulated gradient is ever lost.
struct training_progress {
  std::int64_t epoch = 0;         ///< epoch in progress (0-based)
  std::int64_t batches_done = 0;  ///< mini-batches of that epoch already trained
  std::uint64_t seed = 0;         ///< seed of the shuffling and augmentation streams
  /// Running statistics of the epoch in progress, so that a resumed epoch reports the same
  /// summary (loss, training accuracy, seconds) as an uninterrupted one.
  double loss_sum = 0;     ///< sum over the images seen of their loss
  std::int64_t seen = 0;   ///< images of the epoch trained so far
  std::int64_t correct = 0;
  double seconds = 0;      ///< training time of the epoch so far
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
  const double stats[4] = {p.loss_sum, double(p.seen), double(p.correct), p.seconds};
  w.add_values("training.epoch_stats", {4}, stats);
  w.set_metadata("checkpoint", "1");
  w.set_metadata("run", run);
  w.write(path);
}

/// Restores net and trainer from a checkpoint written for the same `run`, and returns where the
/// run stands. Every inconsistency is a format_error naming the file.
template <class Net>
training_progress load_checkpoint(const std::string& path, Net& net, trainer<Net>& tr, const std::string& run,
                                  const model_overrides& overrides = {}) {
  using T = typename Net::scalar_type;
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
  net = model_from_file<Net>(f, overrides);
  const std::int64_t n = Net::parameter_count;
  constexpr dtype state_type = std::is_same_v<T, float> ? dtype::f32 : dtype::f64;
  std::int64_t state[4];
  std::memcpy(state, f.data(detail::checkpoint_tensor(f, "training.state", dtype::i64, 4)), sizeof state);
  if (state[0] < 0 || state[1] < 0 || state[2] < 0) CODA_THROW(format_error(path + ": negative counters in 'training.state'"));
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
      tr.optimizer());
  training_progress p;
  p.epoch = state[0];
  p.batches_done = state[1];
  std::memcpy(&p.seed, &state[3], sizeof p.seed);
  double stats[4];
  std::memcpy(stats, f.data(detail::checkpoint_tensor(f, "training.epoch_stats", dtype::f64, 4)), sizeof stats);
  // Counts are stored as doubles (exact below 2^53); anything else is a damaged file.
  const bool counts_ok = stats[1] >= 0 && stats[1] < 0x1p53 && stats[1] == std::floor(stats[1]) && stats[2] >= 0 &&
                         stats[2] <= stats[1] && stats[2] == std::floor(stats[2]);
  if (!counts_ok || !(std::isfinite(stats[0]) && stats[0] >= 0) || !(std::isfinite(stats[3]) && stats[3] >= 0))
    CODA_THROW(format_error(path + ": invalid epoch statistics in 'training.epoch_stats'"));
  p.loss_sum = stats[0];
  p.seen = static_cast<std::int64_t>(stats[1]);
  p.correct = static_cast<std::int64_t>(stats[2]);
  p.seconds = stats[3];
  return p;
}

}  // namespace coda

// A chain tape: reverse-mode autodiff over whole-tensor operations applied one after another.
// A forward pass pushes one node per operation (not per scalar) holding pointers to its input,
// output and whatever its backward rule saved; every buffer lives in the tape's arena, so
// clearing the tape and recording the next step reuses the same memory.
//
// What it can express: a chain, where node i's input is node i - 1's output (a CoDA-Net is one:
// encoding, DAU layers, head, loss), and any contiguous sub-chain of it (run_backward from node
// `first` to node `last`, e.g. an explanation that starts at an inner layer). What it cannot: a
// tensor read by two operations (fan-out, residual connections), an operation of two tensors
// (fan-in), or anything else whose gradients would have to be accumulated across nodes. That is
// why run_backward needs just two gradient buffers, used in turn. The tape does not check that
// its nodes form a chain: whoever pushes them (network::forward, record_loss) does.
//
// The same tape serves training and explanation: the backward mode says whether the dynamic
// weights of the DAU layers are differentiated (train, input) or frozen (explanation, where the
// network is the linear map whose input gradient times the input gives the contributions).
//
// This header is the generic machinery only. Each operation's backward rule lives beside its
// forward pass in nn/, and starts with check_backward().
#pragma once

#include <algorithm>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "coda/core/arena.hpp"
#include "coda/core/error.hpp"
#include "coda/core/shape.hpp"

namespace coda {

/// What a forward pass keeps for a later backward pass. Each mode keeps everything the one
/// before it keeps (check_backward compares them in this order).
enum class record_mode {
  none,     ///< inference: nothing beyond the activations
  explain,  ///< enough for frozen (explanation) backward passes
  train,    ///< enough for full gradients
};

/// How the backward pass treats the dynamic weights of DAU layers.
enum class backward_mode {
  train,   ///< ordinary gradients, parameters included (needs record_mode::train)
  input,   ///< ordinary gradients with respect to the input only (needs record_mode::train)
  frozen,  ///< dynamic weights and norms held constant: the explanation (needs explain or train)
};

template <class T>
struct tape_node;

/// What a backward rule is asked to do. Gradients are laid out [batch][seeds][per-sample size]:
/// several gradient vectors per sample travel together (the explanations of all classes).
template <class T>
struct backward_args {
  backward_mode mode;
  index_t seeds;
  const T* grad_out;
  T* grad_in;        ///< overwritten; nullptr when nobody needs the input gradient
  T* param_grad;     ///< gradient buffer (Net::gradient_size), accumulated into (train mode only)
  arena<T>* scratch;
};

/// One operation of a recording. Everything specific to the operation (a layer's weights, where
/// its parameters sit in a gradient buffer) is reached through `op` and the rule's template
/// arguments, so the node stays the same size for every operation.
template <class T>
struct tape_node {
  using rule = void (*)(const tape_node&, const backward_args<T>&);

  rule backward;
  const void* op;          ///< the operation's constant data (e.g. a layer's weights)
  const T* input;          ///< [batch][input_size]: the output of the node before (node 0: the chain's input)
  const T* output;         ///< [batch][output_size]
  T* saved;                ///< what the forward pass recorded for the rule
  index_t batch;
  index_t input_size;      ///< per sample
  index_t output_size;     ///< per sample
  record_mode recorded;    ///< what the forward pass saved
};

namespace detail {

/// A buffer of `count` consecutive per-sample blocks of `rows` elements ([batch][size], or
/// [batch][seeds][size] for gradients) as an Eigen array of `count` columns: how the rules and
/// forward passes of nn/ write their element-wise work. `Rows` is the block size when it is a
/// compile-time shape constant.
template <index_t Rows = Eigen::Dynamic, class T>
auto columns(T* data, index_t count, index_t rows = Rows) {
  using plain = Eigen::Array<std::remove_const_t<T>, Rows, Eigen::Dynamic>;
  return Eigen::Map<std::conditional_t<std::is_const_v<T>, const plain, plain>>(data, rows, count);
}

}  // namespace detail

/// The check every backward rule makes first. The node must have been recorded with at least
/// `needs` (what the rule needs for args.mode); ordinary gradients (train, input: one loss or
/// one logit per backward pass) carry exactly one seed per sample, and no pass carries more than
/// `max_seeds` (a rule that reads one gradient per sample says 1). A frozen pass of no seeds is
/// an empty explanation (no classes asked for). Anything else is a bug of the caller of
/// run_backward, not bad input.
template <class T>
void check_backward(const char* op, const tape_node<T>& node, const backward_args<T>& args, record_mode needs,
                    index_t max_seeds = std::numeric_limits<index_t>::max()) {
  if (static_cast<int>(node.recorded) < static_cast<int>(needs))
    CODA_THROW(std::logic_error(std::string("coda: ") + op + ": the forward pass did not record what this backward mode needs"));
  if (args.mode != backward_mode::frozen && args.seeds != 1)
    CODA_THROW(std::logic_error(std::string("coda: ") + op + ": ordinary gradients carry one seed per sample"));
  if (args.seeds > max_seeds)
    CODA_THROW(std::logic_error(std::string("coda: ") + op + ": " + std::to_string(args.seeds) +
                                " seeds per sample, outside what this backward rule carries"));
}

/// The chain tape (see the top of this file): nodes in the order their operations ran.
template <class T>
class tape {
 public:
  /// A tape that owns its arena and grows it on demand (training, batched explanation).
  tape() = default;
  /// A tape over caller storage; it never allocates once `max_nodes` nodes are reserved.
  tape(T* buffer, std::size_t count, std::size_t max_nodes) : memory_(buffer, count) { nodes_.reserve(max_nodes); }

  tape(const tape&) = delete;
  tape& operator=(const tape&) = delete;

  /// Forgets every node and buffer, keeping the memory for the next recording.
  void clear(record_mode mode) {
    nodes_.clear();
    memory_.clear();
    mode_ = mode;
  }

  /// Clears the tape and makes sure `elements` of arena and `nodes` node slots are available.
  void prepare(record_mode mode, std::size_t elements, std::size_t nodes) {
    clear(mode);
    memory_.reserve(elements);
    if (nodes_.capacity() < nodes) nodes_.reserve(nodes);
  }

  record_mode mode() const { return mode_; }
  void push(const tape_node<T>& n) { nodes_.push_back(n); }
  const tape_node<T>& node(std::size_t i) const { return nodes_[i]; }
  std::size_t size() const { return nodes_.size(); }
  arena<T>& memory() { return memory_; }

 private:
  arena<T> memory_;
  std::vector<tape_node<T>> nodes_;
  record_mode mode_ = record_mode::none;
};

/// Propagates `seed` (gradients of the output of node `last`, layout [batch][seeds][size]) back
/// through nodes last, last-1, ..., first and returns the gradient with respect to the input of
/// node `first`, valid until the tape's arena is released below the returned pointer. When
/// `input_grad` is false the first node is not asked for its input gradient (training does not
/// need the gradient of the images) and nullptr is returned.
template <class T>
T* run_backward(tape<T>& t, std::size_t first, std::size_t last, backward_mode mode, index_t seeds, const T* seed,
                T* param_grad, bool input_grad = true) {
  arena<T>& mem = t.memory();
  index_t largest = 0;
  for (std::size_t i = first; i <= last; ++i) largest = std::max(largest, t.node(i).batch * t.node(i).input_size);
  const std::size_t buffer = static_cast<std::size_t>(largest * seeds);
  T* ping = mem.allocate(buffer);
  T* pong = mem.allocate(buffer);
  const T* grad_out = seed;
  T* grad_in = nullptr;
  for (std::size_t i = last + 1; i-- > first;) {
    const tape_node<T>& n = t.node(i);
    grad_in = (i == first && !input_grad) ? nullptr : (grad_out == ping ? pong : ping);
    n.backward(n, backward_args<T>{mode, seeds, grad_out, grad_in, param_grad, &mem});
    grad_out = grad_in;
  }
  return grad_in;
}

/// Arena elements run_backward() takes for its two gradient buffers.
template <class T>
constexpr std::size_t backward_buffers_size(index_t largest_input, index_t seeds) {
  return 2 * coda::detail::aligned_count<T>(static_cast<std::size_t>(largest_input * seeds));
}

}  // namespace coda

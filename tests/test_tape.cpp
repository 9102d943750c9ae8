// The chain tape's contract with its backward rules: every rule checks the backward mode and
// the number of seeds per sample it is run with, and rejects what it does not support with
// std::logic_error (a bug of the caller of run_backward, not bad input), while accepting
// everything it does support.
#include <catch2/catch.hpp>
#include <algorithm>
#include <stdexcept>
#include <vector>

#include "coda/nn/init.hpp"
#include "coda/nn/loss.hpp"
#include "coda/nn/network.hpp"

namespace test_tape {

using namespace coda;

namespace {

using image = shape<1, 3, 3>;
using net_t = network<double, image, dau_conv<2, 3, 2, 3, 1, 1>, dau_conv<3, 2, 2, 1, 1, 0>>;
constexpr index_t batch = 2;

/// Records one forward pass of `batch` inputs in mode `m` on `t` (with room for any backward
/// pass and a loss): from images, or with `encoded` from inputs in the encoded space.
void record(const net_t& net, tape<double>& t, record_mode m, const std::vector<double>& input, bool encoded = false) {
  t.prepare(m, net_t::workspace_size(batch, record_mode::train, 8, true) + 4096, net_t::training_tape_nodes);
  if (encoded)
    net.forward_encoded(input.data(), batch, t);
  else
    net.forward(input.data(), batch, t);
}

/// Runs node i's backward rule alone with `seeds` zero gradients per sample.
void node_backward(tape<double>& t, std::size_t i, backward_mode mode, index_t seeds) {
  const tape_node<double>& n = t.node(i);
  const std::vector<double> seed(static_cast<std::size_t>(n.batch * std::max<index_t>(seeds, 1) * n.output_size), 0.0);
  scratch_scope<double> scope(t.memory());
  run_backward<double>(t, i, i, mode, seeds, seed.data(), nullptr, true);
}

struct fixture {
  net_t net;
  std::vector<double> images = std::vector<double>(static_cast<std::size_t>(batch * image::size), 0.5);
  tape<double> t;
  fixture() { init_uniform(net, 3); }
};

}  // namespace

TEST_CASE("affine rules (encoding, encoded input, head) take any mode and record, one seed for ordinary gradients",
          "[tape]") {
  fixture f;
  const std::vector<double> encoded(static_cast<std::size_t>(batch * net_t::encoded_shape::size), 0.25);
  // Node 0 is the encoding after forward(), the encoded input after forward_encoded(); the head
  // is node depth + 1 after both.
  for (const bool from_encoded : {false, true})
    for (const std::size_t node : {std::size_t{0}, net_t::depth + 1}) {
      INFO((from_encoded ? "forward_encoded" : "forward") << ", node " << node);
      record(f.net, f.t, record_mode::none, from_encoded ? encoded : f.images, from_encoded);
      CHECK_NOTHROW(node_backward(f.t, node, backward_mode::frozen, 3));
      CHECK_NOTHROW(node_backward(f.t, node, backward_mode::train, 1));
      CHECK_NOTHROW(node_backward(f.t, node, backward_mode::input, 1));
      CHECK_THROWS_AS(node_backward(f.t, node, backward_mode::train, 2), std::logic_error);
      CHECK_THROWS_AS(node_backward(f.t, node, backward_mode::input, 3), std::logic_error);
      CHECK_THROWS_AS(node_backward(f.t, node, backward_mode::train, 0), std::logic_error);
      CHECK_NOTHROW(node_backward(f.t, node, backward_mode::frozen, 0));  // an explanation of no class
    }
}

TEST_CASE("the DAU rule needs an explain record for frozen passes, a train record and one seed otherwise", "[tape]") {
  fixture f;
  constexpr std::size_t layer = 1;
  record(f.net, f.t, record_mode::none, f.images);
  for (const backward_mode m : {backward_mode::frozen, backward_mode::train, backward_mode::input})
    CHECK_THROWS_AS(node_backward(f.t, layer, m, 1), std::logic_error);

  record(f.net, f.t, record_mode::explain, f.images);
  CHECK_NOTHROW(node_backward(f.t, layer, backward_mode::frozen, 4));
  CHECK_THROWS_AS(node_backward(f.t, layer, backward_mode::train, 1), std::logic_error);
  CHECK_THROWS_AS(node_backward(f.t, layer, backward_mode::input, 1), std::logic_error);
  CHECK_NOTHROW(node_backward(f.t, layer, backward_mode::frozen, 0));

  record(f.net, f.t, record_mode::train, f.images);
  CHECK_NOTHROW(node_backward(f.t, layer, backward_mode::frozen, 4));
  CHECK_NOTHROW(node_backward(f.t, layer, backward_mode::train, 1));
  CHECK_NOTHROW(node_backward(f.t, layer, backward_mode::input, 1));
  CHECK_THROWS_AS(node_backward(f.t, layer, backward_mode::train, 2), std::logic_error);
  CHECK_THROWS_AS(node_backward(f.t, layer, backward_mode::input, 2), std::logic_error);
}

TEST_CASE("the loss rule carries one seed per sample, in every mode", "[tape][loss]") {
  fixture f;
  const std::vector<int> labels{0, 1};
  for (const loss_kind kind : {loss_kind::binary_cross_entropy, loss_kind::cross_entropy}) {
    record(f.net, f.t, record_mode::none, f.images);
    record_loss(f.t, kind, f.t.node(net_t::depth + 1).output, batch, net_t::num_classes, labels.data());
    const std::size_t loss = f.t.size() - 1;
    for (const backward_mode m : {backward_mode::frozen, backward_mode::train, backward_mode::input}) {
      CHECK_NOTHROW(node_backward(f.t, loss, m, 1));
      CHECK_THROWS_AS(node_backward(f.t, loss, m, 2), std::logic_error);
    }
  }
}

}  // namespace test_tape

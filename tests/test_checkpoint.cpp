// Training checkpoints (coda/io/checkpoint.hpp): the application record comes back verbatim, and a
// checkpoint that fails any check leaves the network and the optimiser state exactly as they were.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "coda/io/checkpoint.hpp"
#include "support/scratch_dir.hpp"
#include "support/random_network.hpp"

namespace test_checkpoint {

using namespace coda;

namespace {

using net_t = network<float, shape<3, 8, 8>, dau_conv<6, 5, 4, 3, 1, 1>, dau_conv<5, 4, 3, 3, 2, 1>>;
constexpr std::int64_t n = net_t::parameter_count;
const std::string run = "test run";

training_settings settings(optimizer_kind kind) {
  training_settings s;
  s.optimizer = kind;
  s.batch = 2;
  s.virtual_batch = 2;
  return s;
}

/// One optimiser step on random images, so that the optimiser state is not all zeros.
void train_once(trainer<net_t>& tr) {
  const auto images = test::random_images<float, net_t::image_shape>(2, 3);
  const int labels[2] = {1, 3};
  tr.train_batch(images.data(), labels, 2, 0);
}

std::vector<std::uint8_t> bytes_of(const float* p, std::int64_t count) {
  std::vector<std::uint8_t> b(static_cast<std::size_t>(count) * sizeof(float));
  std::memcpy(b.data(), p, b.size());
  return b;
}

/// Everything load_checkpoint may change, as bytes.
std::vector<std::vector<std::uint8_t>> snapshot(const net_t& net, const trainer<net_t>& tr) {
  std::vector<std::vector<std::uint8_t>> s{bytes_of(net.parameters(), n)};
  std::visit(
      [&](const auto& o) {
        using O = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<O, adam<float>>) {
          s.push_back(bytes_of(o.exp_avg(), n));
          s.push_back(bytes_of(o.exp_avg_sq(), n));
        } else {
          s.push_back(bytes_of(o.momentum_buffer(), n));
        }
      },
      tr.optimizer());
  const std::int64_t steps = tr.steps();
  s.emplace_back(reinterpret_cast<const std::uint8_t*>(&steps), reinterpret_cast<const std::uint8_t*>(&steps + 1));
  const float head[2] = {net.temperature(), net.logit_bias()};
  s.push_back(bytes_of(head, 2));
  return s;
}

/// A checkpoint as save_checkpoint writes it, with Adam state of `length` values where element
/// `bad_at` of exp_avg is `bad_value`, and `extra` applied to the writer last.
template <class Extra>
void write_checkpoint(const std::string& path, const net_t& net, std::int64_t length, std::int64_t bad_at, float bad_value,
                      Extra extra) {
  safetensors_writer w;
  add_model(w, net);
  std::vector<float> m(static_cast<std::size_t>(length), 0.01f), v(static_cast<std::size_t>(length), 0.02f);
  if (bad_at >= 0) m[static_cast<std::size_t>(bad_at)] = bad_value;
  w.add_values("optimizer.exp_avg", {length}, m.data());
  w.add_values("optimizer.exp_avg_sq", {length}, v.data());
  w.set_metadata("optimizer", "adam");
  const std::int64_t state[4] = {1, 0, 7, 42};
  w.add_values("training.state", {4}, state);
  w.set_metadata("checkpoint", "1");
  w.set_metadata("run", run);
  extra(w);
  w.write(path);
}

}  // namespace

TEST_CASE("load_checkpoint gives the application record back verbatim, and none when none was saved", "[checkpoint]") {
  test::scratch_dir dir;
  net_t net = test::random_network<net_t>(1);
  trainer<net_t> tr(net, settings(optimizer_kind::adam));
  train_once(tr);
  training_progress p{2, 0, 99, {}};
  SECTION("a record") {
    p.record = {"my-app.stats", 3, {0, 1, 2, 255, 128}};
    save_checkpoint(dir / "c.safetensors", net, tr, p, run);
    net_t other;
    trainer<net_t> other_tr(other, settings(optimizer_kind::adam));
    const training_progress back = load_checkpoint(dir / "c.safetensors", other, other_tr, run);
    CHECK(back.epoch == 2);
    CHECK(back.seed == 99);
    CHECK(back.record.kind == "my-app.stats");
    CHECK(back.record.version == 3);
    CHECK(back.record.bytes == p.record.bytes);
    CHECK(snapshot(other, other_tr) == snapshot(net, tr));
  }
  SECTION("a record without bytes") {
    p.record = {"flag", -1, {}};
    save_checkpoint(dir / "c.safetensors", net, tr, p, run);
    const training_progress back = load_checkpoint(dir / "c.safetensors", net, tr, run);
    CHECK(back.record.kind == "flag");
    CHECK(back.record.version == -1);
    CHECK(back.record.bytes.empty());
  }
  SECTION("no record") {
    save_checkpoint(dir / "c.safetensors", net, tr, p, run);
    const auto file = safetensors_file::read(dir / "c.safetensors");
    CHECK(file.find("training.record") == nullptr);
    CHECK(file.metadata().count("record_kind") == 0);
    CHECK(load_checkpoint(dir / "c.safetensors", net, tr, run).record.empty());
  }
}

TEST_CASE("a checkpoint that fails a check leaves the network and the optimiser state as they were", "[checkpoint]") {
  test::scratch_dir dir;
  const std::string path = dir / "bad.safetensors";
  net_t net = test::random_network<net_t>(1);
  trainer<net_t> tr(net, settings(optimizer_kind::adam));
  train_once(tr);
  const auto before = snapshot(net, tr);
  // The file's network differs from `net`, so a partial load would show.
  const net_t theirs = test::random_network<net_t>(2, 3.f, 0.25f);
  const auto no_extra = [](safetensors_writer&) {};
  const auto expect_unchanged = [&](const std::string& message) {
    CHECK_THROWS_AS(load_checkpoint(path, net, tr, run), format_error);
    CHECK_THROWS_WITH(load_checkpoint(path, net, tr, run), Catch::Contains(message));
    CHECK(snapshot(net, tr) == before);
  };
  SECTION("NaN in exp_avg") {
    write_checkpoint(path, theirs, n, n - 1, std::numeric_limits<float>::quiet_NaN(), no_extra);
    expect_unchanged("invalid Adam state at element " + std::to_string(n - 1));
  }
  SECTION("infinity in exp_avg") {
    write_checkpoint(path, theirs, n, 0, std::numeric_limits<float>::infinity(), no_extra);
    expect_unchanged("invalid Adam state at element 0");
  }
  SECTION("exp_avg of the wrong size") {
    write_checkpoint(path, theirs, n - 1, -1, 0, no_extra);
    expect_unchanged("checkpoint tensor 'optimizer.exp_avg' must be F32 [" + std::to_string(n) + "]");
  }
  SECTION("a record without its metadata") {
    write_checkpoint(path, theirs, n, -1, 0, [](safetensors_writer& w) {
      const std::uint8_t b[2] = {1, 2};
      w.add_values("training.record", {2}, b);
    });
    expect_unchanged("an application record needs the tensor 'training.record'");
  }
  SECTION("a record version that is not a number") {
    write_checkpoint(path, theirs, n, -1, 0, [](safetensors_writer& w) {
      const std::uint8_t b[2] = {1, 2};
      w.add_values("training.record", {2}, b);
      w.set_metadata("record_kind", "x");
      w.set_metadata("record_version", "1.5");
    });
    expect_unchanged("metadata 'record_version' is not an integer: '1.5'");
  }
  SECTION("the same file without the fault loads") {
    write_checkpoint(path, theirs, n, -1, 0, no_extra);
    load_checkpoint(path, net, tr, run);
    CHECK(snapshot(net, tr) != before);
    CHECK(tr.steps() == 7);
    CHECK(bytes_of(net.parameters(), n) == bytes_of(theirs.parameters(), n));
  }
}

TEST_CASE("a bad SGD checkpoint leaves the momentum buffer as it was", "[checkpoint]") {
  test::scratch_dir dir;
  const std::string path = dir / "bad.safetensors";
  net_t net = test::random_network<net_t>(1);
  trainer<net_t> tr(net, settings(optimizer_kind::sgd));
  train_once(tr);
  const auto before = snapshot(net, tr);
  safetensors_writer w;
  add_model(w, test::random_network<net_t>(2));
  std::vector<float> b(static_cast<std::size_t>(n), 0.5f);
  b[5] = -std::numeric_limits<float>::infinity();
  w.add_values("optimizer.momentum_buffer", {n}, b.data());
  w.set_metadata("optimizer", "sgd");
  const std::int64_t state[4] = {0, 0, 3, 1};
  w.add_values("training.state", {4}, state);
  w.set_metadata("checkpoint", "1");
  w.set_metadata("run", run);
  w.write(path);
  CHECK_THROWS_AS(load_checkpoint(path, net, tr, run), format_error);
  CHECK_THROWS_WITH(load_checkpoint(path, net, tr, run), Catch::Contains("non-finite momentum buffer at element 5"));
  CHECK(snapshot(net, tr) == before);
}

}  // namespace test_checkpoint

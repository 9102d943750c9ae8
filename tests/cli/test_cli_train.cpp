// coda-cifar10 train and eval, end to end: the weight updates of one deterministic epoch match
// torch.optim.Adam / torch.optim.SGD (PyTorch reference fixture), eval agrees with train, a
// resumed run ends with the same weights as an uninterrupted one, and bad checkpoints, data and
// flags fail with one error line.
#include <catch2/catch.hpp>
#include <cmath>
#include <regex>

#include "coda/io/model_file.hpp"
#include "support/cli_runner.hpp"
#include "support/fixtures.hpp"

namespace test_cli_train {

using namespace coda;
using test::expect_one_error;
using net_t = cifar10_9l<float>;

namespace {

/// The issue's bar: |delta - delta_ref| / |delta_ref| per tensor after one epoch.
constexpr double update_tolerance = 0.01;

const std::string cifar48 = test::fixture_path("cifar48");

/// The number on the last line of stdout, which must read "test accuracy: NN.NN%".
double last_line_accuracy(const std::string& out) {
  const auto end = out.find_last_not_of('\n');
  const std::string last = out.substr(out.rfind('\n', end) == std::string::npos ? 0 : out.rfind('\n', end) + 1);
  std::smatch m;
  const std::string trimmed = last.substr(0, last.find_last_not_of('\n') + 1);
  REQUIRE(std::regex_match(trimmed, m, std::regex(R"(test accuracy: (\d+\.\d\d)%)")));
  return std::stod(m[1]);
}

void check_updates(const std::string& m0, const std::string& m1, const std::string& prefix) {
  const auto golden = safetensors_file::read(test::fixture_path("training_cifar10_9l.safetensors"));
  const auto every = static_cast<std::size_t>(std::stoll(golden.metadata().at("subsample")));
  const auto before = safetensors_file::read(m0), after = safetensors_file::read(m1);
  for (const auto& e : before.tensors()) {
    const auto expect = test::fixture_values<float>(golden, prefix + e.name);
    const auto a = test::fixture_values<float>(before, e.name), b = test::fixture_values<float>(after, e.name);
    double diff = 0, ref = 0;
    for (std::size_t k = 0; k < expect.size(); ++k) {
      const double delta = double(b[k * every]) - double(a[k * every]);
      diff += (delta - expect[k]) * (delta - expect[k]);
      ref += double(expect[k]) * expect[k];
    }
    INFO(prefix << e.name);
    CHECK(std::sqrt(diff / ref) < update_tolerance);
  }
}

}  // namespace

TEST_CASE("one epoch of train matches torch.optim.Adam and SGD step for step", "[cli][train][golden][slow]") {
  test::scratch_dir dir;
  const std::string m0 = dir / "m0.safetensors", m1 = dir / "m1.safetensors";
  REQUIRE(test::run_cli(dir, "init --seed 3 --out " + m0).exit_code == 0);
  const std::string common = "train --data " + cifar48 + " --init " + m0 +
                             " --epochs 1 --batch 8 --virtual-batch 16 --no-augment --no-shuffle --out " + m1;
  auto r = test::run_cli(dir, common);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  check_updates(m0, m1, "update_adam.");
  const double trained = last_line_accuracy(r.out);
  const auto ev = test::run_cli(dir, "eval --data " + cifar48 + " --model " + m1);
  REQUIRE(ev.exit_code == 0);
  CHECK(last_line_accuracy(ev.out) == trained);

  r = test::run_cli(dir, common + " --optimizer sgd --lr 0.01 --momentum 0.9");
  REQUIRE(r.exit_code == 0);
  check_updates(m0, m1, "update_sgd.");
}

TEST_CASE("a resumed run ends with the weights of an uninterrupted one", "[cli][train][checkpoint][slow]") {
  test::scratch_dir dir;
  // 2 optimiser steps per epoch, each of 2 mini-batches of 2 images: the resumed run must continue
  // with Adam's moments and step count, and with the second epoch's shuffle and augmentation.
  const std::string flags = " --data " + cifar48 + " --limit-train 8 --limit-test 2 --batch 2 --virtual-batch 4 --seed 5 ";
  REQUIRE(test::run_cli(dir, "train" + flags + "--epochs 2 --out " + dir / "full.safetensors").exit_code == 0);
  const auto first = test::run_cli(dir, "train" + flags + "--epochs 1 --checkpoint-dir " + dir / "ck" + " --out " + dir / "half.safetensors");
  REQUIRE(first.exit_code == 0);
  const auto resumed = test::run_cli(dir, "train" + flags + "--epochs 2 --checkpoint-dir " + dir / "ck" + " --resume --out " + dir / "resumed.safetensors");
  INFO(resumed.err);
  REQUIRE(resumed.exit_code == 0);
  CHECK_THAT(resumed.out, Catch::Contains("resuming from"));
  CHECK(test::read_text(dir / "full.safetensors") == test::read_text(dir / "resumed.safetensors"));
  CHECK(last_line_accuracy(resumed.out) >= 0);
}

namespace {

// The smallest run that writes a checkpoint: one step of 2 images; the errors come from loading it.
const std::string bad_checkpoint_flags = " --data " + cifar48 + " --limit-train 2 --limit-test 1 --batch 2 --virtual-batch 2 ";

/// The checkpoint of a one-epoch run, trained once for all sections of the test below (Catch runs
/// the test body again for each section).
const std::string& good_checkpoint() {
  static test::scratch_dir dir;
  static const std::string bytes = [] {
    const std::string ck = dir / "ck";
    REQUIRE(test::run_cli(dir, "train" + bad_checkpoint_flags + "--epochs 1 --checkpoint-dir " + ck + " --out " + dir / "out.safetensors").exit_code == 0);
    return test::read_text(ck + "/checkpoint.safetensors");
  }();
  return bytes;
}

}  // namespace

TEST_CASE("bad checkpoints fail with one error line", "[cli][train][checkpoint][errors]") {
  test::scratch_dir dir;
  const std::string ck = dir / "ck", file = dir / "ck/checkpoint.safetensors", out = dir / "out.safetensors";
  const std::string& good = good_checkpoint();
  std::filesystem::create_directories(ck);
  std::ofstream(file, std::ios::binary) << good;
  const std::string resume = "train" + bad_checkpoint_flags + "--epochs 2 --checkpoint-dir " + ck + " --resume --out " + out;
  SECTION("truncated") {
    std::ofstream(file, std::ios::binary) << good.substr(0, good.size() - 1000);
    expect_one_error(test::run_cli(dir, resume), 1, "checkpoint.safetensors");
  }
  SECTION("corrupt header") {
    std::string bad = good;
    bad[12] = '[';
    std::ofstream(file, std::ios::binary) << bad;
    expect_one_error(test::run_cli(dir, resume), 1, "checkpoint.safetensors");
  }
  SECTION("other settings") {
    expect_one_error(test::run_cli(dir, resume + " --lr 0.1"), 1, "different settings");
  }
  SECTION("not a checkpoint") {
    REQUIRE(test::run_cli(dir, "init --out " + file).exit_code == 0);
    expect_one_error(test::run_cli(dir, resume), 1, "not a checkpoint");
  }
}

TEST_CASE("bad data sets fail with an error naming the file", "[cli][train][errors]") {
  test::scratch_dir dir;
  std::filesystem::create_directories(dir / "data");
  const std::string batch = dir / "data/data_batch_1.bin", test_batch = dir / "data/test_batch.bin";
  const std::string records = test::read_text(cifar48 + "/data_batch_1.bin");
  std::ofstream(test_batch, std::ios::binary) << records.substr(0, 3073 * 4);
  const std::string train = "train --data " + dir / "data" + " --epochs 1 --out " + dir / "m.safetensors";
  SECTION("partial record") {
    std::ofstream(batch, std::ios::binary) << records.substr(0, 3073 * 3 + 100);
    expect_one_error(test::run_cli(dir, train), 1, "data_batch_1.bin: 9319 bytes is not a whole number of 3073-byte records");
  }
  SECTION("label above 9") {
    std::string bad = records.substr(0, 3073 * 3);
    bad[3073] = char(12);
    std::ofstream(batch, std::ios::binary) << bad;
    expect_one_error(test::run_cli(dir, train), 1, "data_batch_1.bin: record 1 has label 12");
  }
  SECTION("no training files") { expect_one_error(test::run_cli(dir, train), 1, "data_batch_1.bin"); }
  SECTION("missing directory") {
    REQUIRE(test::run_cli(dir, "init --out " + dir / "m.safetensors").exit_code == 0);
    expect_one_error(test::run_cli(dir, "eval --data " + dir / "nowhere" + " --model " + dir / "m.safetensors"), 1, "nowhere");
  }
}

TEST_CASE("bad train flags exit 2", "[cli][train][errors]") {
  test::scratch_dir dir;
  const std::string base = "train --data " + cifar48 + " --out " + dir / "m.safetensors";
  expect_one_error(test::run_cli(dir, base + " --batch 8 --virtual-batch 12"), 2, "--virtual-batch must be a positive multiple of --batch");
  expect_one_error(test::run_cli(dir, base + " --resume"), 2, "--resume needs --checkpoint-dir");
  expect_one_error(test::run_cli(dir, base + " --optimizer rmsprop"), 2, "--optimizer must be one of adam|sgd");
  expect_one_error(test::run_cli(dir, base + " --epochs -1"), 2, "--epochs must be in");
  expect_one_error(test::run_cli(dir, "train --out x"), 2, "needs --data");
  expect_one_error(test::run_cli(dir, "eval --data " + cifar48), 2, "needs --model");
}

}  // namespace test_cli_train

// --device cpu|cuda of train, eval and bench. An unknown device is a usage error naming the flag.
// --device cuda is checked before any file is read: in a build without CUDA it is a usage error,
// without a usable GPU a runtime error carrying coda::cuda::available()'s reason, each with one
// error line. With a GPU, eval on it agrees with eval on the CPU, and train and bench run there.
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "support/cli_runner.hpp"

#ifdef CODA_HAS_CUDA
#include "coda/cuda/runtime.hpp"
#include "support/fixtures.hpp"
#endif

namespace test_cli_device {

using namespace coda;
using test::expect_one_error;

namespace {

/// train, eval and bench on files that do not exist: a device error must come before any
/// attempt to read them. train's --out names where nothing may be written.
std::vector<std::string> commands_on_missing_files(const test::scratch_dir& dir) {
  const std::string data = dir / "no-data", model = dir / "no-model.safetensors";
  return {"train --data " + data + " --epochs 1 --out " + dir / "trained.safetensors",
          "eval --data " + data + " --model " + model, "bench --batch 1 --seconds 0"};
}

}  // namespace

TEST_CASE("an unknown --device is a usage error naming the flag", "[cli][device][errors]") {
  test::scratch_dir dir;
  for (const auto& command : commands_on_missing_files(dir)) {
    INFO(command);
    expect_one_error(test::run_cli(dir, command + " --device tpu"), 2, "--device must be one of cpu|cuda, got 'tpu'");
  }
  CHECK_FALSE(std::filesystem::exists(dir / "trained.safetensors"));
}

#ifdef CODA_HAS_CUDA

namespace {

const std::string cifar48 = test::fixture_path("cifar48");

/// The last non-empty line of `out`.
std::string last_line(const std::string& out) {
  const auto end = out.find_last_not_of('\n');
  if (end == std::string::npos) return "";
  const auto newline = out.rfind('\n', end);
  const auto begin = newline == std::string::npos ? 0 : newline + 1;
  return out.substr(begin, end + 1 - begin);
}

}  // namespace

TEST_CASE("device cuda gives one error line without a usable GPU and the CPU's results with one", "[cli][device]") {
  test::scratch_dir dir;
  std::string reason;
  if (!coda::cuda::available(&reason)) {
    for (const auto& command : commands_on_missing_files(dir)) {
      INFO(command);
      expect_one_error(test::run_cli(dir, command + " --device cuda"), 1, "--device cuda: " + reason);
    }
    CHECK_FALSE(std::filesystem::exists(dir / "trained.safetensors"));
    return;
  }
  const std::string model = dir / "m.safetensors";
  REQUIRE(test::run_cli(dir, "init --seed 3 --out " + model).exit_code == 0);
  const std::string eval = "eval --data " + cifar48 + " --limit-test 20 --model " + model;
  const auto cpu = test::run_cli(dir, eval), gpu = test::run_cli(dir, eval + " --device cuda");
  INFO("stderr: " << gpu.err);
  REQUIRE(cpu.exit_code == 0);
  REQUIRE(gpu.exit_code == 0);
  CHECK(last_line(gpu.out) == last_line(cpu.out));

  const auto train = test::run_cli(dir, "train --data " + cifar48 + " --init " + model +
                                            " --epochs 1 --limit-train 16 --limit-test 10 --batch 4 --virtual-batch 8"
                                            " --checkpoint-dir " + dir / "ck" + " --device cuda --out " + dir / "t.safetensors");
  INFO("train stderr: " << train.err);
  REQUIRE(train.exit_code == 0);
  CHECK_THAT(last_line(train.out), Catch::StartsWith("test accuracy: "));
  CHECK(std::filesystem::exists(dir / "ck/checkpoint.safetensors"));
  // The model file comes from the device's parameters: the CPU evaluates it as the GPU did.
  const auto trained = test::run_cli(dir, "eval --data " + cifar48 + " --limit-test 10 --model " + dir / "t.safetensors");
  REQUIRE(trained.exit_code == 0);
  CHECK(last_line(trained.out) == last_line(train.out));

  const auto bench = test::run_cli(dir, "bench --batch 2 --seconds 0 --device cuda");
  INFO("bench stderr: " << bench.err);
  REQUIRE(bench.exit_code == 0);
  CHECK_THAT(bench.out, Catch::Contains("\ninference: ") && Catch::Contains("\ntrain: ") && Catch::Contains("\nexplain: "));
}

#else

TEST_CASE("device cuda in a build without CUDA is a usage error", "[cli][device][errors]") {
  test::scratch_dir dir;
  for (const auto& command : commands_on_missing_files(dir)) {
    INFO(command);
    expect_one_error(test::run_cli(dir, command + " --device cuda"), 2, "built without CUDA (CODA_WITH_CUDA=OFF)");
  }
  CHECK_FALSE(std::filesystem::exists(dir / "trained.safetensors"));
}

#endif

}  // namespace test_cli_device

// coda-cifar10 train under mpirun (docs/distributed.md): P ranks train the single-process run up
// to the order of float sums, with or without augmentation and shuffling and with uneven shares;
// only rank 0 writes and prints; an error on one rank stops the others; a rank killed with SIGKILL
// stops the others within seconds with an error line, leaves an intact checkpoint, and --resume
// (with the same or another number of ranks) finishes the run with the uninterrupted run's model.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "coda/io/model_file.hpp"
#include "support/process.hpp"
#include "support/scratch_dir.hpp"
#include "support/tolerance.hpp"

using namespace coda;
namespace fs = std::filesystem;

namespace {

/// No run here takes more than a minute on 2 cores; a hung one is killed and fails its test.
constexpr double run_timeout_seconds = 300;
/// Ranks of one run agree up to the order of the gradient sums: the issue's bars, relative to
/// each tensor's largest element (elements near zero would otherwise dominate).
constexpr double same_images_tolerance = 1e-5, augmented_tolerance = 1e-4;

/// A CIFAR-10 binary data set (data_batch_1.bin, test_batch.bin) of `train` and `test` images
/// with seeded random pixels and labels 0..9 in turn: enough to train on, no fixture to commit.
std::string write_dataset(const fs::path& dir, int train, int test) {
  fs::create_directories(dir);
  std::mt19937 random(11);
  const auto write = [&](const char* name, int n) {
    std::ofstream f(dir / name, std::ios::binary);
    for (int i = 0; i < n; ++i) {
      f.put(char(i % 10));
      for (int k = 0; k < 3072; ++k) f.put(char(random() & 0xff));
    }
  };
  write("data_batch_1.bin", train);
  write("test_batch.bin", test);
  return dir.string();
}

/// `coda-cifar10 args` as rank 0..P-1 of mpirun; P = 0 runs the program alone (no launcher).
test::process start(int ranks, std::vector<std::string> args, const fs::path& log) {
  if (ranks == 0) return test::process(CODA_CIFAR10_EXE, args, log.string(), run_timeout_seconds);
  // More ranks than cores, and as root (CI), are allowed explicitly.
  std::vector<std::string> launcher = {"--oversubscribe", "-np", std::to_string(ranks)};
  if (::geteuid() == 0) launcher.push_back("--allow-run-as-root");
  launcher.push_back(CODA_CIFAR10_EXE);
  args.insert(args.begin(), launcher.begin(), launcher.end());
  return test::process(CODA_MPIEXEC, args, log.string(), run_timeout_seconds);
}

/// Runs to the end; the run must succeed.
void run(int ranks, const std::vector<std::string>& args, const fs::path& log) {
  test::process p = start(ranks, args, log);
  p.wait();
  INFO("ranks " << ranks << "\nstdout:\n" << p.out() << "\nstderr:\n" << p.err());
  REQUIRE_FALSE(p.timed_out());
  REQUIRE(p.exit_code() == 0);
}

/// Batch 8, the recipe's virtual batch of 16 unless given, one thread per rank.
std::vector<std::string> train_args(const std::string& data, const fs::path& out, int images, int epochs,
                                    int virtual_batch = 16) {
  return {"train",         "--data",  data,   "--out",          out.string(), "--epochs", std::to_string(epochs),
          "--limit-train", std::to_string(images), "--limit-test", "10", "--batch", "8",
          "--virtual-batch", std::to_string(virtual_batch), "--threads", "1", "--seed", "5"};
}

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

/// Largest per-tensor relative difference between the float tensors of two model files.
double model_difference(const fs::path& a, const fs::path& b) {
  const auto fa = safetensors_file::read(a.string()), fb = safetensors_file::read(b.string());
  REQUIRE(fa.tensors().size() == fb.tensors().size());
  double worst = 0;
  for (const tensor_entry& ea : fa.tensors()) {
    if (ea.type != dtype::f32) continue;
    const tensor_entry* eb = fb.find(ea.name);
    REQUIRE(eb);
    REQUIRE(eb->shape == ea.shape);
    std::vector<float> va(std::size_t(ea.element_count())), vb(va.size());
    fa.copy_to(ea, va.data());
    fb.copy_to(*eb, vb.data());
    worst = std::max(worst, test::relative_error(va.data(), vb.data(), va.size()));
  }
  return worst;
}

/// The epoch lines' accuracies ("train acc 12.50%  test acc 10.00%"): counts of images, so the
/// same in runs that differ only in the order of float sums.
std::vector<std::string> accuracies(const std::string& out) {
  std::vector<std::string> found;
  const std::regex line(R"(epoch \d+/\d+ .*(train acc \S+  test acc \S+))");
  for (std::sregex_iterator it(out.begin(), out.end(), line), end; it != end; ++it) found.push_back((*it)[1]);
  return found;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

/// The pid of rank `rank` among the children of `launcher` (Open MPI gives each its rank in the
/// environment); -1 when none is running yet.
pid_t rank_pid(pid_t launcher, int rank) {
  const std::string wanted = "OMPI_COMM_WORLD_RANK=" + std::to_string(rank);
  std::error_code ec;
  for (fs::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(it->path() / "stat");
    std::string pid, comm, state;
    long parent = 0;
    if (!(stat >> pid >> comm >> state >> parent) || parent != launcher) continue;
    std::istringstream environ(test::read_text(it->path() / "environ"));
    for (std::string entry; std::getline(environ, entry, '\0');)
      if (entry == wanted) return pid_t(std::stol(name));
  }
  return -1;
}

}  // namespace

TEST_CASE("mpirun -np 2 trains the single-process run, and only rank 0 writes", "[mpi][parity]") {
  test::scratch_dir dir;
  const std::string data = write_dataset(dir / "data", 64, 10);
  const auto args = [&](const char* out) {
    return with(train_args(data, dir / out, 64, 1), {"--no-augment", "--no-shuffle", "--log", dir / (std::string(out) + ".csv")});
  };
  run(0, args("one.safetensors"), dir / "one");
  run(2, args("two.safetensors"), dir / "two");
  CHECK(model_difference(dir / "one.safetensors", dir / "two.safetensors") <= same_images_tolerance);
  const std::string one = test::read_text(dir / "one.out"), two = test::read_text(dir / "two.out");
  INFO("one:\n" << one << "\ntwo:\n" << two);
  CHECK(count_of(two, "test accuracy:") == 1);  // rank 1 prints nothing
  CHECK(accuracies(two) == accuracies(one));
  CHECK(accuracies(one).size() == 1);
  CHECK(count_of(test::read_text(dir / "two.safetensors.csv"), "\n") == 2);  // header and one epoch, once
}

TEST_CASE("augmented and shuffled runs agree with 2 ranks, and with 3 (uneven shares of 8)", "[mpi][parity]") {
  test::scratch_dir dir;
  const std::string data = write_dataset(dir / "data", 64, 10);
  run(0, train_args(data, dir / "one.safetensors", 64, 1), dir / "one");
  for (const int ranks : {2, 3}) {
    const std::string out = "ranks" + std::to_string(ranks) + ".safetensors";
    run(ranks, train_args(data, dir / out, 64, 1), dir / out);
    INFO(ranks << " ranks");
    CHECK(model_difference(dir / "one.safetensors", dir / out) <= augmented_tolerance);
    CHECK(accuracies(test::read_text(dir / (out + ".out"))) == accuracies(test::read_text(dir / "one.out")));
  }
}

TEST_CASE("a rank killed with SIGKILL stops the run, and --resume with 2 or 1 ranks finishes it", "[mpi][kill]") {
  test::scratch_dir dir;
  const std::string data = write_dataset(dir / "data", 16, 10);
  // Two epochs of 2 optimiser steps (virtual batch = batch = 8), a checkpoint after each: the
  // kill follows the first, so 3 steps are left to resume.
  const auto args = [&](const char* out, const char* checkpoints) {
    return with(train_args(data, dir / out, 16, 2, 8),
                {"--checkpoint-dir", dir / checkpoints, "--checkpoint-every", "1"});
  };
  run(2, args("reference.safetensors", "reference_ck"), dir / "reference");

  test::process killed = start(2, args("killed.safetensors", "ck"), dir / "killed");
  const fs::path checkpoint = dir / "ck/checkpoint.safetensors";
  while (killed.running() && !fs::exists(checkpoint)) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const pid_t victim = rank_pid(killed.pid(), 1);
  REQUIRE(victim > 0);
  REQUIRE(::kill(victim, SIGKILL) == 0);
  const double killed_at = killed.seconds();
  killed.wait();
  INFO("stdout:\n" << killed.out() << "\nstderr:\n" << killed.err());
  REQUIRE_FALSE(killed.timed_out());
  CHECK(killed.seconds() - killed_at < 20);  // stopped within seconds, not hung in a collective
  CHECK(killed.exit_code() != 0);
  CHECK_THAT(killed.err(), Catch::Contains("error: rank 0 of 2: stopped by the MPI launcher"));
  CHECK_FALSE(fs::exists(dir / "killed.safetensors"));
  // The checkpoint is whole: it loads (as a model, too).
  const auto file = safetensors_file::read(checkpoint.string());
  CHECK(file.metadata().at("checkpoint") == "1");
  CHECK_NOTHROW(load_model<cifar10_9l<float>>(checkpoint.string()));

  // Resumed with another number of ranks (1), from a copy, and with the same (2).
  fs::copy(dir / "ck", dir / "ck_one");
  run(0, with(args("resumed_one.safetensors", "ck_one"), {"--resume"}), dir / "resumed_one");
  run(2, with(args("resumed_two.safetensors", "ck"), {"--resume"}), dir / "resumed_two");
  CHECK_THAT(test::read_text(dir / "resumed_two.out"), Catch::Contains("resuming from"));
  CHECK(model_difference(dir / "reference.safetensors", dir / "resumed_two.safetensors") == 0);
  CHECK(model_difference(dir / "reference.safetensors", dir / "resumed_one.safetensors") <= same_images_tolerance);
}

TEST_CASE("an error on rank 0 stops every rank at once with its error line", "[mpi][errors]") {
  test::scratch_dir dir;
  const std::string data = write_dataset(dir / "data", 16, 10);
  const auto args = [&](const char* lr) {
    return with(train_args(data, dir / "model.safetensors", 16, 1), {"--checkpoint-dir", dir / "ck", "--resume", "--lr", lr});
  };
  run(0, args("0.00025"), dir / "first");
  // Rank 0 refuses the checkpoint of other settings while rank 1 waits for its state.
  test::process p = start(2, args("0.001"), dir / "refused");
  p.wait();
  INFO("stdout:\n" << p.out() << "\nstderr:\n" << p.err());
  REQUIRE_FALSE(p.timed_out());
  CHECK(p.seconds() < 60);
  CHECK(p.exit_code() == 1);
  CHECK_THAT(p.err(), Catch::Contains("error: rank 0 of 2: " + dir / "ck/checkpoint.safetensors" +
                                      ": the checkpoint was made with different settings"));
}

// coda-cifar10 train killed with SIGKILL at seeded moments spread over a run (before the first
// checkpoint, during a checkpoint write, right after a checkpoint replaced the previous one, at a
// random time, while the final model is written), each time resumed with --resume: the checkpoint
// a killed run leaves is always a complete, loadable file, a resumed run removes the temporary
// files the killed one left, and the run ends with a model byte-identical to an uninterrupted
// run's (training is deterministic and resumes at the exact mini-batch).
//
// The kills form one chain: each resumed run is the next one killed, and the last one resumes to
// the end. Every phase is still hit by a kill, every kill is followed by a resume from what it
// left, resumes start from checkpoints that earlier resumed runs wrote, and at least one starts in
// the middle of an epoch and finishes it; the chain trains the run about once instead of once per
// kill. A wrong resume anywhere in the chain changes every later checkpoint and the final model.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <regex>
#include <sstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "coda/io/checkpoint.hpp"
#include "support/cli_runner.hpp"
#include "support/fixtures.hpp"
#include "support/process.hpp"

namespace test_cli_kill_resume {

using namespace coda;
namespace fs = std::filesystem;
using net_t = cifar10_9l<float>;
using clock_type = std::chrono::steady_clock;
using test::process;

namespace {

constexpr int epochs = 2, batch = 1, virtual_batch = 2, limit_train = 4;
constexpr int batches_per_epoch = limit_train / batch, batches_per_step = virtual_batch / batch,
              steps_per_epoch = batches_per_epoch / batches_per_step;
constexpr double run_timeout_seconds = 300;

/// The run's flags: 4 mini-batches of 1 image per epoch, an optimiser step every 2 of them (a
/// virtual batch of 2), a checkpoint after every step (the last of an epoch is the end-of-epoch
/// checkpoint): 2 checkpoint writes per epoch, 4 in all. Every run trains cifar10-9l and writes
/// 93 MB checkpoints, so the runs are kept this small (2 test images: the summaries' test
/// accuracy only has to be the same).
std::vector<std::string> train_args(const std::string& checkpoint_dir, const std::string& out) {
  return {"train",          "--data",        test::fixture_path("cifar48"),
          "--limit-train",  std::to_string(limit_train),
          "--limit-test",   "2",
          "--batch",        std::to_string(batch),
          "--virtual-batch", std::to_string(virtual_batch),
          "--epochs",       std::to_string(epochs),
          "--checkpoint-every", "1",
          "--seed",         "9",
          "--threads",      "2",
          "--checkpoint-dir", checkpoint_dir,
          "--out",          out};
}

/// Names of the files in `dir` that start with `prefix`.
/// The per-epoch summary lines of stdout without their seconds, which differ between runs:
/// "epoch 2/3  loss 0.3012  train acc 12.50%  test acc 10.00%  lr 0.00025".
std::vector<std::string> epoch_summaries(const std::string& out) {
  std::vector<std::string> found;
  std::istringstream lines(out);
  const std::regex summary(R"((epoch \d+/\d+ .* lr \S+)  [0-9.]+s)");
  std::smatch m;
  for (std::string line; std::getline(lines, line);)
    if (std::regex_match(line, m, summary)) found.push_back(m[1]);
  return found;
}

std::set<std::string> files_starting(const fs::path& dir, const std::string& prefix) {
  std::set<std::string> found;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(prefix, 0) == 0) found.insert(name);
  }
  return found;
}

/// Inode of a file, 0 when it does not exist: a checkpoint replaced by rename gets a new one.
ino_t inode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

/// What an observer polling every millisecond saw of a run: when each checkpoint write began
/// (its temporary file appeared) and when each finished (the checkpoint got a new inode).
struct observation {
  std::vector<double> write_started, checkpoint_replaced;
  double model_write_started = -1;
};

/// Polls the run until `stop` says so (asked at every poll) or the process exits; returns whether
/// `stop` fired. Temporary files already there when the run started (`before`: left by an
/// earlier, killed run) are not the start of a write.
bool watch(process& p, const std::string& checkpoint_dir, const std::string& out, const std::set<std::string>& before,
           observation& seen, const std::function<bool(const observation&)>& stop) {
  const std::string checkpoint = checkpoint_dir + "/checkpoint.safetensors";
  const fs::path out_dir = fs::path(out).parent_path();
  const std::string out_prefix = fs::path(out).filename().string() + ".tmp.";
  std::set<std::string> temporaries = before;
  ino_t inode = inode_of(checkpoint);
  while (p.running()) {
    for (const auto& name : files_starting(checkpoint_dir, "checkpoint.safetensors.tmp."))
      if (temporaries.insert(name).second) seen.write_started.push_back(p.seconds());
    if (const ino_t now = inode_of(checkpoint); now != inode) {
      inode = now;
      if (now != 0) seen.checkpoint_replaced.push_back(p.seconds());
    }
    if (seen.model_write_started < 0)
      for (const auto& name : files_starting(out_dir, out_prefix))
        if (!before.count(name)) {
          seen.model_write_started = p.seconds();
          break;
        }
    if (stop(seen)) return true;
    if (p.seconds() > run_timeout_seconds) return false;
    // A checkpoint write (93 MB, synced) takes a few hundred milliseconds: polling every 2 ms
    // sees it without taking much CPU from the run.
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

/// Where a checkpoint stands: its description, and the checkpoint writes of the run up to it
/// (one after every optimiser step, so the trainer's step count).
struct checkpoint_position {
  std::string text;
  int writes = 0;
  bool mid_epoch = false;
};

/// The `__metadata__` of a safetensors file, from its header alone.
std::map<std::string, std::string> header_metadata(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::uint64_t length = 0;
  in.read(reinterpret_cast<char*>(&length), sizeof length);
  REQUIRE(in);
  REQUIRE(length < (1u << 20));
  std::string header(static_cast<std::size_t>(length), '\0');
  in.read(header.data(), static_cast<std::streamsize>(length));
  REQUIRE(in);
  nlohmann::json json;
  REQUIRE_NOTHROW(json = nlohmann::json::parse(header));
  std::map<std::string, std::string> meta;
  if (json.contains("__metadata__"))
    for (const auto& item : json["__metadata__"].items()) meta[item.key()] = item.value().get<std::string>();
  return meta;
}

/// A checkpoint left by a killed run is a complete safetensors file that load_checkpoint accepts
/// (it reads and validates the whole file), at a consistent position of the run.
checkpoint_position check_checkpoint(const std::string& path) {
  INFO("checkpoint " << path);
  const auto meta = header_metadata(path);
  REQUIRE(meta.count("checkpoint") == 1);
  REQUIRE(meta.count("run") == 1);
  CHECK(meta.at("checkpoint") == "1");
  CHECK_THAT(meta.at("run"), Catch::Contains("seed=9") && Catch::Contains(" batch=1 virtual_batch=2 ") &&
                                 Catch::Contains("limit_train=4"));
  // One network and trainer for every check: load_checkpoint replaces their whole state.
  static net_t net;
  static trainer<net_t> tr(net, [] {
    training_settings s;
    s.batch = batch;
    s.virtual_batch = virtual_batch;
    return s;
  }());
  training_progress at;
  REQUIRE_NOTHROW(at = load_checkpoint(path, net, tr, meta.at("run")));
  INFO("epoch " << at.epoch << ", mini-batches done " << at.batches_done << ", optimiser steps " << tr.steps());
  CHECK(at.seed == 9);
  CHECK(at.epoch >= 0);
  CHECK(at.epoch <= epochs);
  CHECK(at.batches_done >= 0);
  CHECK(at.batches_done < batches_per_epoch);
  CHECK(at.batches_done % batches_per_step == 0);  // taken at virtual-batch boundaries only
  CHECK(tr.steps() == at.epoch * steps_per_epoch + at.batches_done / batches_per_step);
  CHECK(tr.steps() >= 1);
  return {"checkpoint at epoch " + std::to_string(at.epoch + 1) + ", mini-batch " + std::to_string(at.batches_done),
          static_cast<int>(tr.steps()), at.batches_done > 0};
}

}  // namespace

TEST_CASE("train killed at random moments resumes to the weights of an uninterrupted run", "[cli][checkpoint][faults][slow]") {
  test::scratch_dir dir;
  const auto test_start = clock_type::now();

  // The uninterrupted run, watched to learn when its phases happen.
  const std::string reference = dir / "reference.safetensors";
  observation timeline;
  double run_seconds = 0;
  std::vector<std::string> reference_summaries;
  {
    fs::create_directories(dir / "ref");
    process p(CODA_CIFAR10_EXE, train_args(dir / "ref/ck", dir / "ref/model.safetensors"), dir / "ref/log", run_timeout_seconds);
    // The checkpoint directory appears only once the program has started: poll for it.
    while (p.running() && !fs::exists(dir / "ref/ck")) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    watch(p, dir / "ref/ck", dir / "ref/model.safetensors", {}, timeline, [](const observation&) { return false; });
    p.wait();
    run_seconds = p.seconds();
    INFO("stderr: " << p.err());
    REQUIRE(p.exit_code() == 0);
    reference_summaries = epoch_summaries(p.out());
    REQUIRE(reference_summaries.size() == std::size_t(epochs));
    fs::copy_file(dir / "ref/model.safetensors", reference);
  }
  const int writes = static_cast<int>(timeline.write_started.size());
  INFO("uninterrupted run: " << writes << " checkpoint writes seen, " << timeline.checkpoint_replaced.size()
                             << " replacements, about " << run_seconds << " s");
  // Polling may miss a replacement, hardly the start of a write (a 93 MB file is written and synced).
  CHECK(writes == epochs * steps_per_epoch);
  CHECK(timeline.checkpoint_replaced.size() >= 3);
  REQUIRE(writes >= 4);
  REQUIRE_NOTHROW(load_model<net_t>(reference));
  const std::string reference_bytes = test::read_text(reference);

  std::mt19937 rng(20240611);
  const auto uniform = [&](double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); };
  const auto pick = [&](int a, int b) { return std::uniform_int_distribution<int>(a, b)(rng); };
  const double first_checkpoint = timeline.write_started.front();
  /// Seconds into the uninterrupted run when checkpoint write `k` (1-based; 0: none) began.
  const auto write_began = [&](int k) { return k <= 0 ? 0.0 : timeline.write_started[std::size_t(std::min(k, writes) - 1)]; };

  enum class trigger { delay, write_started, checkpoint_replaced, model_write_started, none };
  struct kill_plan {
    std::string phase;
    trigger on = trigger::none;
    double delay = 0;        ///< trigger::delay: seconds after the start
    int nth = 0;             ///< write_started, checkpoint_replaced: the nth such event of this run;
                             ///< trigger::delay: the kill comes at the latest when write nth begins
    double after_event = 0;  ///< seconds between the event and the kill
  };
  // The seeded moments of the kills; the plans below place them where the chain stands.
  const double before_first = uniform(0.2, 0.9);    // of the time to the first checkpoint
  const int write_to_kill = pick(1, writes - 2);    // a checkpoint write, with writes left after it
  const double random_moment = uniform(0.15, 0.95);  // of what is left of the run
  const double into_write = uniform(0, 0.03);       // seconds into the killed write
  // The plan of run k of the chain, which starts where the previous kill left the run: `done`
  // checkpoint writes completed (0: no checkpoint), so its nth write is write done + n of the run.
  // A delay comes from the uninterrupted run's timing, made under another load than this run's:
  // each is bounded by the write it must come before, so that a faster run still leaves the chain
  // what it needs (a mid-epoch checkpoint for kill 3 to follow).
  const auto plan_for = [&](std::size_t k, int done) -> kill_plan {
    switch (k) {
      case 0:
        return {"before the first checkpoint", trigger::delay, before_first * first_checkpoint, 1};
      case 1: {
        const int n = std::max(write_to_kill, done + 1);
        return {"during checkpoint write " + std::to_string(n), trigger::write_started, 0, n - done, into_write};
      }
      case 2:  // the kill before left at most one checkpoint: most of the run is left; the kill comes
               // before the last mid-epoch checkpoint is written, which kill 3 follows
        return {"at a random moment of the run", trigger::delay, random_moment * (run_seconds - write_began(done)),
                std::max(1, writes - 1 - done)};
      case 3: {  // the last mid-epoch checkpoint, or a later one (each replaces an earlier one): the
                 // runs after this kill resume in the middle of the last epoch, or at its end
        const int m = std::max(done + 1, writes - 1);
        return {"right after checkpoint " + std::to_string(m) + " replaced the previous one", trigger::checkpoint_replaced, 0, m - done};
      }
      case 4:
        return {"while the final model is written", trigger::model_write_started};
      default:
        return {"", trigger::none};
    }
  };
  constexpr std::size_t kills = 5;

  const std::string ck = dir / "ck", out = dir / "model.safetensors", checkpoint = ck + "/checkpoint.safetensors";
  const std::string temporary_prefix = "checkpoint.safetensors.tmp.", model_temporary_prefix = "model.safetensors.tmp.";
  int killed = 0, left_temporaries = 0, killed_with_checkpoint = 0, done = 0, finished_epoch_from_mid_epoch = 0;
  bool starts_mid_epoch = false;
  std::set<std::string> previous_temporaries;
  std::string summary;
  for (std::size_t k = 0; k <= kills; ++k) {
    const kill_plan plan = plan_for(k, done);
    const bool last = k == kills;
    INFO("run " << k << " of the chain, after " << done << " checkpoint writes: "
                << (last ? std::string("resumed to the end") : "killed " + plan.phase));
    const bool resumes = fs::exists(checkpoint);
    // Temporary files there before the run (a killed run's) are not writes of this one.
    std::set<std::string> before = files_starting(ck, temporary_prefix);
    for (const auto& name : files_starting(dir.path(), model_temporary_prefix)) before.insert(name);

    auto args = train_args(ck, out);
    if (k > 0) args.push_back("--resume");
    process p(CODA_CIFAR10_EXE, args, dir / ("run" + std::to_string(k)), run_timeout_seconds);
    bool fired = false;
    if (!last) {
      observation seen;
      fired = watch(p, ck, out, before, seen, [&](const observation& s) {
        const int writes_begun = static_cast<int>(s.write_started.size());
        switch (plan.on) {
          case trigger::delay: return p.seconds() >= plan.delay || writes_begun >= plan.nth;
          case trigger::write_started: return writes_begun >= plan.nth;
          case trigger::checkpoint_replaced: return static_cast<int>(s.checkpoint_replaced.size()) >= plan.nth;
          default: return s.model_write_started >= 0;
        }
      });
    }
    if (fired && plan.after_event > 0) std::this_thread::sleep_for(std::chrono::duration<double>(plan.after_event));
    const double at = p.seconds();
    if (fired) p.kill();
    p.wait();
    const std::string printed = p.out();
    INFO((fired ? "killed at " + std::to_string(at) + " s" : std::string("not killed")) << "; stdout:\n" << printed
                                                                                        << "stderr:\n" << p.err());
    CHECK_FALSE(p.timed_out());
    if (last) {
      REQUIRE(p.exit_code() == 0);
    } else if (p.killed_by_sigkill()) {
      ++killed;
    } else {
      CHECK(p.exit_code() == 0);  // the run ended before the moment came
      WARN("kill " << k << " (" << plan.phase << ") came too late: the run had finished");
    }

    // What the run left: a checkpoint is complete and loadable, never truncated, and never older
    // than the one the run started from.
    const bool has_checkpoint = fs::exists(checkpoint);
    CHECK((has_checkpoint || !resumes));
    std::string left = "no checkpoint";
    int now_done = 0;
    bool now_mid_epoch = false;
    if (has_checkpoint) {
      const auto position = check_checkpoint(checkpoint);
      left = position.text;
      now_done = position.writes;
      now_mid_epoch = position.mid_epoch;
      if (!last) killed_with_checkpoint += p.killed_by_sigkill();
    }
    CHECK(now_done >= done);
    const auto temporaries = files_starting(ck, temporary_prefix);
    if (!last) left_temporaries += !temporaries.empty();
    // A resumed run removes the temporary files of the killed one before it trains: once it has
    // begun a write or the final model, or finished, they are gone.
    if (k > 0 && ((fired && plan.on != trigger::delay) || p.exit_code() == 0))
      for (const auto& name : previous_temporaries) {
        INFO("temporary file " << name << " of the previous run");
        CHECK(temporaries.count(name) == 0);
      }
    previous_temporaries = temporaries;
    if (!last)
      summary += "\n  " + plan.phase + ": " + (p.killed_by_sigkill() ? "killed" : "finished") + " at " + std::to_string(at) +
                 " s, " + left + (temporaries.empty() ? "" : ", a temporary checkpoint file left");
    if (fs::exists(out)) CHECK((test::read_text(out) == reference_bytes));  // killed after the final save

    // A run resumed from a checkpoint says so first (once anything it printed reached the file),
    // and the epochs it reports, the interrupted one included, have the uninterrupted run's loss
    // and training accuracy: the checkpoint carries the statistics of the epoch in progress.
    if (resumes && (!printed.empty() || p.exit_code() == 0)) CHECK_THAT(printed, Catch::StartsWith("resuming from " + checkpoint));
    const auto summaries = epoch_summaries(printed);
    if (starts_mid_epoch && !summaries.empty()) ++finished_epoch_from_mid_epoch;
    for (const auto& line : summaries) {
      INFO(line);
      CHECK(std::find(reference_summaries.begin(), reference_summaries.end(), line) != reference_summaries.end());
    }
    if (p.exit_code() == 0) {
      REQUIRE(summaries.size() <= reference_summaries.size());
      CHECK(std::equal(summaries.begin(), summaries.end(), reference_summaries.end() - long(summaries.size())));
    }
    done = now_done;
    starts_mid_epoch = now_mid_epoch;
  }
  // The final run resumed to the end: it removed the temporary files and its model is the
  // uninterrupted run's, byte for byte.
  CHECK(files_starting(ck, temporary_prefix).empty());
  CHECK_NOTHROW(load_model<net_t>(out));
  CHECK((test::read_text(out) == reference_bytes));
  // The kills landed: most of them killed a running process, some with a checkpoint on disk,
  // and at least one in the middle of a checkpoint write (its temporary file was left behind).
  CHECK(killed >= 3);
  CHECK(killed_with_checkpoint >= 2);
  CHECK(left_temporaries >= 1);
  // At least one run resumed in the middle of an epoch and reported that epoch (checked above).
  CHECK(finished_epoch_from_mid_epoch >= 1);
  WARN("kill/resume: uninterrupted run " << run_seconds << " s, " << writes << " checkpoint writes; " << killed << " of " << kills
                       << " runs killed:" << summary << "\n  " << test::seconds_since(test_start) << " s in all");
}

}  // namespace test_cli_kill_resume

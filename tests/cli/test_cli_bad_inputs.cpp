// coda-cifar10 against the bad-input corpus: tests/bad_inputs/manifest.txt lists bad model files,
// tensor files, data sets, images and flags (format explained at its top), most of them small
// files committed under tests/bad_inputs/files. For every case the program must keep the contract
// of docs/cli.md: the expected exit code (1 runtime, 2 usage), exactly one stderr line starting
// with "error:", which is the last line and contains the expected text, no crash and no hang, and
// an output file or directory that existed before the command keeps its content (with no
// temporary file left next to it).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "coda/io/model_file.hpp"
#include "support/cli_runner.hpp"
#include "support/fixtures.hpp"
#include "support/text.hpp"

namespace test_cli_bad_inputs {

using namespace coda;
using test::lines_of;
namespace fs = std::filesystem;

namespace {

const fs::path corpus_root = fs::path(CODA_FIXTURE_DIR).parent_path() / "bad_inputs";

/// A command that runs longer than this is a hang (the slowest case needs about a second).
constexpr int case_timeout_seconds = 120;

const std::string old_output = "OLD OUTPUT\n", old_report = "OLD REPORT\n";

struct corpus_case {
  int line;
  std::string category, name, command;
  int exit_code;
  std::string expected;
};

std::string trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r") - first + 1);
}

std::vector<std::string> split_words(const std::string& s) {
  std::vector<std::string> words;
  std::istringstream in(s);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

/// The cases of the manifest; a malformed line fails the test with its line number.
std::vector<corpus_case> read_manifest(const fs::path& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::vector<corpus_case> cases;
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    const std::string text = trim(line);
    if (text.empty() || text[0] == '#') continue;
    INFO(path.string() << ":" << number << ": " << text);
    // Four separators: the expected text, last, may itself contain '|'.
    std::vector<std::string> fields;
    std::size_t from = 0;
    for (int k = 0; k < 4; ++k) {
      const auto bar = text.find('|', from);
      REQUIRE(bar != std::string::npos);
      fields.push_back(trim(text.substr(from, bar - from)));
      from = bar + 1;
    }
    fields.push_back(trim(text.substr(from)));
    REQUIRE((fields[3] == "1" || fields[3] == "2"));
    for (const auto& f : fields) REQUIRE_FALSE(f.empty());
    cases.push_back({number, fields[0], fields[1], fields[2], std::stoi(fields[3]), fields[4]});
  }
  return cases;
}

std::string substitute(std::string text, const std::map<std::string, std::string>& values) {
  for (const auto& [key, value] : values)
    for (std::size_t at; (at = text.find(key)) != std::string::npos;) text.replace(at, key.size(), value);
  return text;
}

struct run_result {
  int exit_code = -1;  ///< 128 + signal when killed by a signal
  bool timed_out = false;
  std::string out, err;
};

/// Runs coda-cifar10 with `args` (no shell) in `dir`, stdout and stderr to files there; a run
/// longer than `timeout_s` is killed and reported as timed out.
run_result run_program(const std::vector<std::string>& args, const fs::path& dir, int timeout_s) {
  const std::string out_path = (dir / "stdout.txt").string(), err_path = (dir / "stderr.txt").string();
  const std::string exe = CODA_CIFAR10_EXE;
  std::vector<std::string> words{exe};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  const std::string workdir = dir.string();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {  // only async-signal-safe calls until exec
    const int in = ::open("/dev/null", O_RDONLY);
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0 || ::dup2(err, 2) < 0 ||
        ::chdir(workdir.c_str()) != 0)
      ::_exit(126);
    ::execv(exe.c_str(), argv.data());
    ::_exit(127);
  }
  run_result r;
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      r.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  r.out = test::read_text(out_path);
  r.err = test::read_text(err_path);
  return r;
}

/// Files whose name holds ".tmp." anywhere under `dir`: the leftovers of an interrupted atomic write.
std::vector<std::string> temporary_files(const fs::path& dir) {
  std::vector<std::string> found;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) found.push_back(e.path().string());
  return found;
}

/// Copy of a safetensors file's tensors (F32) and metadata, edited, written as a new file.
template <class Edit>
void write_edited(const std::string& source, const std::string& path, Edit edit) {
  const auto f = safetensors_file::read(source);
  std::vector<std::pair<tensor_entry, std::vector<float>>> tensors;
  for (const auto& e : f.tensors()) {
    std::vector<float> v(static_cast<std::size_t>(e.element_count()));
    f.copy_to(e, v.data());
    tensors.emplace_back(e, std::move(v));
  }
  edit(tensors);
  safetensors_writer w;
  for (const auto& [e, v] : tensors) w.add_values(e.name, e.shape, v.data());
  for (const auto& [k, v] : f.metadata()) w.set_metadata(k, v);
  w.write(path);
}

/// The valid inputs ({model}, {images}, {data}) and the generated bad files ({gen}).
struct corpus_inputs {
  test::scratch_dir dir;
  std::string model = dir / "model.safetensors", images = dir / "images.safetensors", gen = dir / "gen";
  std::string data = test::fixture_path("cifar48");

  corpus_inputs() {
    const auto init = run_program({"init", "--seed", "1", "--out", model}, dir.path(), case_timeout_seconds);
    INFO(init.err);
    REQUIRE(init.exit_code == 0);

    std::mt19937 rng(11);
    std::uniform_real_distribution<float> unit(0.f, 1.f);
    std::vector<float> px(2 * 3072);
    for (auto& v : px) v = unit(rng);
    {
      safetensors_writer w;
      w.add_values("images", {2, 3, 32, 32}, px.data());
      w.write(images);
    }

    fs::create_directories(gen + "/label_255_at_999");
    const std::string bytes = test::read_text(model);
    std::ofstream(gen + "/model_truncated.safetensors", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    write_edited(model, gen + "/model_extra_tensor.safetensors",
                 [](auto& t) { t.push_back({tensor_entry{"9.weight_mod.weighting_f.0.weight", dtype::f32, {1}, 0, 4}, {0.f}}); });
    write_edited(model, gen + "/model_no_last_bias.safetensors", [](auto& t) {
      const auto before = t.size();
      t.erase(std::remove_if(t.begin(), t.end(), [](const auto& e) { return e.first.name == "8.weight_mod.weighting_f.1.bias"; }),
              t.end());
      REQUIRE(t.size() + 1 == before);
    });
    {
      std::vector<float> many(100 * 3072);
      for (auto& v : many) v = unit(rng);
      many.back() = std::numeric_limits<float>::infinity();
      safetensors_writer w;
      w.add_values("images", {100, 3, 32, 32}, many.data());
      w.write(gen + "/images_100_last_inf.safetensors");
    }
    {
      std::string records;
      for (int r = 0; r < 1000; ++r) {
        records += static_cast<char>(r == 999 ? 255 : r % 10);
        for (int k = 0; k < 3072; ++k) records += static_cast<char>((r * 31 + k * 7) & 255);
      }
      std::ofstream(gen + "/label_255_at_999/test_batch.bin", std::ios::binary) << records;
    }
  }

  /// The valid inputs work: the bad cases fail for what they change, not for a broken setup.
  void check_controls() const {
    const auto predict = run_program({"predict", "--model", model, "--input", images, "--output", dir / "control.safetensors", "--explain"},
                                     dir.path(), case_timeout_seconds);
    INFO("control predict: " << predict.err);
    CHECK(predict.exit_code == 0);
    // Index 9 is the last test image of {data}: the "--index 10" case is the first one outside.
    const auto explain = run_program({"explain", "--model", model, "--data", data, "--index", "9", "--out", dir / "control.png"},
                                     dir.path(), case_timeout_seconds);
    INFO("control explain: " << explain.err);
    CHECK(explain.exit_code == 0);
    // The same 1000 records with a valid last label are read (every label is checked on reading;
    // evaluating 10 of them is enough).
    std::string records = test::read_text(gen + "/label_255_at_999/test_batch.bin");
    records[999 * 3073] = 9;
    fs::create_directories(dir / "label_ok");
    std::ofstream(dir / "label_ok/test_batch.bin", std::ios::binary) << records;
    const auto eval = run_program({"eval", "--model", model, "--data", dir / "label_ok", "--limit-test", "10"}, dir.path(),
                                  case_timeout_seconds);
    INFO("control eval: " << eval.err);
    CHECK(eval.exit_code == 0);
  }
};

}  // namespace

TEST_CASE("every case of the bad-input corpus fails with one error line and leaves outputs alone", "[cli][errors][corpus]") {
  const auto cases = read_manifest(corpus_root / "manifest.txt");
  const corpus_inputs inputs;
  inputs.check_controls();

  const auto started = std::chrono::steady_clock::now();
  std::map<std::string, int> per_category;
  std::set<std::string> names;
  for (const auto& c : cases) {
    ++per_category[c.category];
    INFO("case '" << c.name << "' (" << c.category << ", manifest line " << c.line << ")");
    CHECK(names.insert(c.name).second);  // names are unique

    test::scratch_dir tmp;
    const std::string out = tmp / "existing-output", outdir = tmp / "existing-outdir";
    std::ofstream(out, std::ios::binary) << old_output;
    fs::create_directories(outdir);
    std::ofstream(outdir + "/report.html", std::ios::binary) << old_report;
    const std::map<std::string, std::string> values{
        {"{files}", (corpus_root / "files").string()}, {"{tmp}", tmp.path().string()}, {"{out}", out},
        {"{outdir}", outdir},  {"{model}", inputs.model},  {"{images}", inputs.images},
        {"{data}", inputs.data}, {"{gen}", inputs.gen}};

    std::vector<std::string> args;
    for (const auto& word : split_words(c.command)) {
      args.push_back(substitute(word, values));
      // A committed or generated file a case names must exist, or a typo would pass as "cannot open".
      for (const char* root : {"{files}", "{gen}"})
        if (word.rfind(root, 0) == 0) {
          INFO("the case names " << args.back() << ", which does not exist");
          CHECK(fs::exists(args.back()));
        }
    }
    const std::string expected = substitute(c.expected, values);
    std::string shown;
    for (const auto& a : args) shown += " " + a;
    INFO("command: coda-cifar10" << shown);

    const run_result r = run_program(args, tmp.path(), case_timeout_seconds);
    INFO("exit code " << r.exit_code << "\nstdout:\n" << r.out << "stderr:\n" << r.err);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code < 128);  // not killed by a signal (a crash)
    CHECK(r.exit_code == c.exit_code);
    const auto lines = lines_of(r.err);
    int error_lines = 0;
    for (const auto& l : lines) error_lines += l.rfind("error:", 0) == 0;
    CHECK(error_lines == 1);
    REQUIRE_FALSE(lines.empty());
    CHECK(lines.back().rfind("error: ", 0) == 0);
    CHECK_THAT(lines.back(), Catch::Contains(expected));
    // A failing command never touches an existing output.
    CHECK(test::read_text(out) == old_output);
    CHECK(test::read_text(outdir + "/report.html") == old_report);
    CHECK(std::distance(fs::directory_iterator(outdir), fs::directory_iterator()) == 1);
    CHECK(temporary_files(tmp.path()).empty());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  WARN(cases.size() << " corpus cases in " << seconds << " s");

  // The corpus covers the five kinds of bad input.
  CHECK(cases.size() >= 30);
  for (const char* category : {"model", "tensor", "data", "image", "flag"}) {
    INFO("category " << category);
    CHECK(per_category[category] >= 5);
  }
  CHECK(per_category.size() == 5);
}

}  // namespace test_cli_bad_inputs

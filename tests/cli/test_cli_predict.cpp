// coda-cifar10 predict, end to end: PyTorch-reference numbers through files, the documented
// defaults of a model without metadata, and one "error:" line with the right exit code for every
// kind of bad model, input and flag, without clobbering an existing output file.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <map>

#include "coda/io/model_file.hpp"
#include "coda/nn/init.hpp"
#include "support/cli_runner.hpp"
#include "support/fixtures.hpp"
#include "support/tolerance.hpp"

namespace test_cli_predict {

using namespace coda;
using test::expect_one_error;
using net_t = cifar10_9l<float>;

namespace {

/// The parameters of `net` as a plain export of the authors' model: official names, no metadata.
template <class Net>
void write_plain_export(const Net& net, const std::string& path) {
  safetensors_writer w;
  add_model(w, net);
  safetensors_writer plain;
  const auto bytes = w.serialize();
  const auto parsed = safetensors_file::parse(bytes, path);
  for (const auto& e : parsed.tensors()) plain.add(e.name, e.type, e.shape, parsed.data(e), e.byte_size());
  plain.write(path);
}

void write_images(const std::string& path, const std::vector<float>& pixels, std::vector<std::int64_t> shape) {
  safetensors_writer w;
  w.add_values("images", std::move(shape), pixels.data());
  w.write(path);
}

/// Exactly one line on stderr, starting with "error:" and containing `what`.
struct seeded_setup {
  test::scratch_dir dir;
  std::string model = dir / "model.safetensors", input = dir / "images.safetensors", output = dir / "out.safetensors";
  safetensors_file golden = safetensors_file::read(test::fixture_path("cifar10_9l_seed7.safetensors"));
  std::vector<float> pixels = test::fixture_values<float>(golden, "images");

  seeded_setup() {
    net_t net;
    init_uniform(net, 7);
    write_plain_export(net, model);
    write_images(input, pixels, {2, 3, 32, 32});
  }
  std::string args(const std::string& extra = "") const {
    return "predict --model " + model + " --input " + input + " --output " + output + " " + extra;
  }
};

}  // namespace

TEST_CASE("predict --explain reproduces the PyTorch reference from a model without metadata", "[cli][predict][golden]") {
  seeded_setup s;
  const auto r = test::run_cli(s.dir, s.args("--explain"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto out = safetensors_file::read(s.output);
  const auto logits = test::fixture_values<float>(out, "logits");
  const auto expect = test::fixture_values<float>(s.golden, "logits");
  REQUIRE(logits.size() == 20);
  CHECK(test::relative_error(logits.data(), expect.data(), 20) < test::tolerance::float_reorder);
  REQUIRE(out.find("contributions")->shape == std::vector<std::int64_t>{2, 10, 6, 32, 32});
  const auto maps = test::fixture_values<float>(out, "contributions");
  const auto classes = test::fixture_values<index_t>(s.golden, "classes");
  const auto expect_maps = test::fixture_values<float>(s.golden, "contributions");
  const float beta = float(std::log(1.0 / 9.0));  // the documented default of a file without metadata
  for (index_t n = 0; n < 2; ++n) {
    const float* got = maps.data() + (n * 10 + classes[n]) * 6144;
    CHECK(test::relative_error(got, expect_maps.data() + n * 6144, 6144) < test::tolerance::float_contributions);
    for (index_t c = 0; c < 10; ++c) {
      double sum = 0;
      for (index_t i = 0; i < 6144; ++i) sum += maps[(n * 10 + c) * 6144 + i];
      CHECK(sum + beta == Approx(logits[n * 10 + c]).margin(1e-5));
    }
  }
}

TEST_CASE("predict honours metadata and flag overrides", "[cli][predict]") {
  seeded_setup s;
  net_t net(50.f, 0.5f);
  init_uniform(net, 7);
  save_model(net, s.model);
  REQUIRE(test::run_cli(s.dir, s.args()).exit_code == 0);
  const auto with_meta = test::fixture_values<float>(safetensors_file::read(s.output), "logits");
  REQUIRE(test::run_cli(s.dir, s.args("--temperature 1000 --logit-bias -2.1972245773362196")).exit_code == 0);
  const auto overridden = test::fixture_values<float>(safetensors_file::read(s.output), "logits");
  const auto golden = test::fixture_values<float>(s.golden, "logits");
  CHECK(test::relative_error(overridden.data(), golden.data(), 20) < test::tolerance::float_reorder);
  // T = 50 instead of 1000 scales logit - beta by 20.
  CHECK((with_meta[0] - 0.5f) == Approx(20 * (golden[0] - std::log(1.0 / 9.0))).epsilon(1e-3));
  CHECK(safetensors_file::read(s.output).find("contributions") == nullptr);
}

namespace {

/// A model file from the tensors of a plain export with `edit` applied to the list of entries.
struct tensor_copy {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};

template <class Edit>
void write_edited_model(const std::string& source, const std::string& path, Edit edit,
                        const std::map<std::string, std::string>& metadata = {}) {
  const auto f = safetensors_file::read(source);
  std::vector<tensor_copy> tensors;
  for (const auto& e : f.tensors()) {
    tensor_copy t{e.name, e.shape, std::vector<float>(static_cast<std::size_t>(e.element_count()))};
    f.copy_to(e, t.values.data());
    tensors.push_back(std::move(t));
  }
  edit(tensors);
  safetensors_writer w;
  for (const auto& t : tensors) w.add_values(t.name, t.shape, t.values.data());
  for (const auto& [k, v] : metadata) w.set_metadata(k, v);
  w.write(path);
}

/// A small file with a hand-written header and `data` zero bytes of data.
void write_raw(const std::string& path, const std::string& header, std::size_t data, std::uint64_t length_field = 0) {
  std::string bytes(8, '\0');
  const std::uint64_t n = length_field ? length_field : header.size();
  std::memcpy(bytes.data(), &n, 8);
  bytes += header + std::string(data, '\0');
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace

TEST_CASE("bad model files give one error line naming the file and exit 1", "[cli][predict][errors]") {
  seeded_setup s;
  const std::string bad = s.dir / "bad.safetensors";
  const std::string tensor_header =
      R"({"0.weight_mod.weighting_f.0.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  auto check_model = [&](const std::string& what) {
    std::ofstream(s.output) << "OLD";
    const auto r = test::run_cli(s.dir, "predict --model " + bad + " --input " + s.input + " --output " + s.output);
    expect_one_error(r, 1, what);
    CHECK_THAT(r.err, Catch::Contains("bad.safetensors"));
    CHECK(test::read_text(s.output) == "OLD");  // a failing command never touches the output
  };

  SECTION("truncated") {
    const std::string bytes = test::read_text(s.model);
    std::ofstream(bad, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    check_model("bad.safetensors");
  }
  SECTION("header length larger than the file") {
    write_raw(bad, tensor_header, 16, std::uint64_t(1) << 40);
    check_model("header");
  }
  SECTION("malformed JSON") {
    write_raw(bad, R"({"0.weight_mod.weighting_f.0.weight":{"dtype":"F32",)", 16);
    check_model("JSON");
  }
  SECTION("offsets out of range") {
    write_raw(bad, R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8);
    check_model("bad.safetensors");
  }
  SECTION("overlapping offsets") {
    write_raw(bad, R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", 24);
    check_model("overlap");
  }
  SECTION("unknown dtype") {
    write_raw(bad, R"({"a":{"dtype":"F33","shape":[4],"data_offsets":[0,16]}})", 16);
    check_model("F33");
  }
  SECTION("wrong tensor shape") {
    write_edited_model(s.model, bad, [](auto& t) {
      for (auto& e : t)
        if (e.name == "3.weight_mod.weighting_f.1.weight") e.shape = {9216, 64};
    });
    check_model("tensor '3.weight_mod.weighting_f.1.weight' has shape [9216,64], expected [9216,64,1,1]");
  }
  SECTION("missing tensor") {
    write_edited_model(s.model, bad, [](auto& t) {
      t.erase(std::remove_if(t.begin(), t.end(), [](const auto& e) { return e.name == "8.weight_mod.weighting_f.1.bias"; }),
              t.end());
    });
    check_model("tensor '8.weight_mod.weighting_f.1.bias' is missing");
  }
  SECTION("unexpected tensor") {
    write_edited_model(s.model, bad, [](auto& t) { t.push_back({"9.weight_mod.weighting_f.0.weight", {1}, {0.f}}); });
    check_model("unexpected tensor '9.weight_mod.weighting_f.0.weight'");
  }
  SECTION("NaN weights") {
    write_edited_model(s.model, bad, [](auto& t) { t[5].values[17] = std::nanf(""); });
    check_model("non-finite");
  }
  SECTION("unreadable metadata") {
    write_edited_model(s.model, bad, [](auto&) {}, {{"temperature", "hot"}});
    check_model("metadata 'temperature'");
  }
  SECTION("another architecture") {
    write_edited_model(s.model, bad, [](auto&) {}, {{"arch", "resnet-56"}});
    check_model("resnet-56");
  }
  SECTION("missing file") {
    check_model("bad.safetensors");
  }
}

TEST_CASE("bad input files give one error line and exit 1", "[cli][predict][errors]") {
  seeded_setup s;
  const std::string bad = s.dir / "bad_images.safetensors";
  auto check_input = [&](const std::string& what) {
    const auto r = test::run_cli(s.dir, "predict --model " + s.model + " --input " + bad + " --output " + s.output);
    expect_one_error(r, 1, what);
    CHECK_FALSE(std::filesystem::exists(s.output));
  };
  SECTION("no images tensor") {
    safetensors_writer w;
    const float v = 0.5f;
    w.add_values("pictures", {1}, &v);
    w.write(bad);
    check_input("no tensor 'images'");
  }
  SECTION("wrong image size") {
    write_images(bad, std::vector<float>(3 * 28 * 28, 0.5f), {1, 3, 28, 28});
    check_input("shape [1,3,28,28], expected [N,3,32,32]");
  }
  SECTION("NaN pixel") {
    auto px = s.pixels;
    px[3072 + 100] = std::nanf("");
    write_images(bad, px, {2, 3, 32, 32});
    check_input("image 1");
  }
  SECTION("pixel outside [0, 1]") {
    auto px = s.pixels;
    px[7] = 1.5f;
    write_images(bad, px, {2, 3, 32, 32});
    check_input("outside [0, 1]");
  }
  SECTION("F64 pixels") {
    safetensors_writer w;
    std::vector<double> px(3072, 0.5);
    w.add_values("images", {1, 3, 32, 32}, px.data());
    w.write(bad);
    check_input("dtype F64, expected F32");
  }
  SECTION("missing file") { check_input("bad_images.safetensors"); }
}

TEST_CASE("bad flags give one error line and exit 2", "[cli][errors]") {
  seeded_setup s;
  const std::string ok = "--model " + s.model + " --input " + s.input + " --output " + s.output;
  expect_one_error(test::run_cli(s.dir, ""), 2, "missing command");
  expect_one_error(test::run_cli(s.dir, "fly " + ok), 2, "unknown command 'fly'");
  expect_one_error(test::run_cli(s.dir, "predict " + ok + " --colour red"), 2, "unknown flag --colour");
  expect_one_error(test::run_cli(s.dir, "predict --input " + s.input + " --output " + s.output), 2, "needs --model");
  expect_one_error(test::run_cli(s.dir, "predict " + ok + " --threads 0"), 2, "--threads must be in");
  expect_one_error(test::run_cli(s.dir, "predict " + ok + " --threads many"), 2, "--threads expects an integer");
  expect_one_error(test::run_cli(s.dir, "predict " + ok + " extra"), 2, "unexpected argument 'extra'");
  expect_one_error(test::run_cli(s.dir, "predict " + ok + " --model " + s.model), 2, "--model is given more than once");
  expect_one_error(test::run_cli(s.dir, "predict " + ok + " --norm cubic"), 2, "--norm must be one of squash|l2");
  expect_one_error(test::run_cli(s.dir, "predict " + ok + " --explain=yes"), 2, "--explain takes no value");
  expect_one_error(test::run_cli(s.dir, "predict " + ok + " --temperature nan"), 2, "--temperature expects a finite number");
  expect_one_error(test::run_cli(s.dir, "predict --model"), 2, "--model needs a value");
  CHECK_FALSE(std::filesystem::exists(s.output));
}

TEST_CASE("an output that cannot be written is an error and leaves no partial file", "[cli][predict][errors]") {
  seeded_setup s;
  const auto r = test::run_cli(s.dir, "predict --model " + s.model + " --input " + s.input + " --output " + s.dir / "no/such/dir/out.safetensors");
  expect_one_error(r, 1, "no/such/dir/out.safetensors");
}

}  // namespace test_cli_predict

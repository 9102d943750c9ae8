// The safetensors reader must accept what the format allows and reject, with a message naming the
// file and the problem, every malformed header; the writer must round-trip through it and replace
// files atomically.
#include "coda/io/safetensors.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "coda/io/atomic_file.hpp"

namespace test_safetensors {

namespace {

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

const std::string origin = "bad.safetensors";

/// A file whose length field is `length`, followed by `header` and `data_bytes` bytes 0, 1, 2, ...
std::vector<std::uint8_t> file_with_length(std::uint64_t length, const std::string& header, std::size_t data_bytes) {
  std::vector<std::uint8_t> bytes(8 + header.size());
  std::memcpy(bytes.data(), &length, 8);
  // memcpy, not std::copy: GCC 12 -O3 -march=x86-64-v3 reports a false -Wstringop-overflow there.
  std::memcpy(bytes.data() + 8, header.data(), header.size());
  for (std::size_t i = 0; i < data_bytes; ++i) bytes.push_back(static_cast<std::uint8_t>(i));
  return bytes;
}

std::vector<std::uint8_t> file_with(const std::string& header, std::size_t data_bytes) {
  return file_with_length(header.size(), header, data_bytes);
}

/// The format_error message parse() gives for `bytes`; other exceptions propagate and fail the test.
std::string rejection(std::vector<std::uint8_t> bytes) {
  try {
    coda::safetensors_file::parse(std::move(bytes), origin);
  } catch (const coda::format_error& e) {
    return e.what();
  }
  return "(accepted)";
}

std::string rejection(const std::string& header, std::size_t data_bytes) { return rejection(file_with(header, data_bytes)); }

/// Matches a message that starts with the origin and mentions `problem`. A class, because Catch's
/// `a && b` keeps references to its operands and so cannot be returned from a function.
class names : public Catch::MatcherBase<std::string> {
 public:
  explicit names(std::string problem) : problem_(std::move(problem)) {}
  bool match(const std::string& message) const override {
    return message.rfind(origin + ": ", 0) == 0 && message.find(problem_) != std::string::npos;
  }
  std::string describe() const override { return "starts with \"" + origin + ": \" and contains \"" + problem_ + "\""; }

 private:
  std::string problem_;
};

/// A fresh directory, removed with everything in it at the end of the test.
struct scratch_dir {
  fs::path path;
  scratch_dir() {
    static int counter = 0;
    path = fs::temp_directory_path() / ("coda_safetensors_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~scratch_dir() { fs::remove_all(path); }
  std::size_t entry_count() const { return static_cast<std::size_t>(std::distance(fs::directory_iterator(path), {})); }
};

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

// ---- accepted files -------------------------------------------------------------------------

TEST_CASE("safetensors: the format's own test vector parses", "[safetensors]") {
  const std::string header = R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})";
  REQUIRE(header.size() == 60);
  const auto file = coda::safetensors_file::parse(file_with(header, 16), "vector");
  REQUIRE(file.tensors().size() == 1);
  const coda::tensor_entry& t = file.tensors()[0];
  CHECK(t.name == "test");
  CHECK(t.type == coda::dtype::i32);
  CHECK(t.shape == std::vector<std::int64_t>{2, 2});
  CHECK(t.begin == 0);
  CHECK(t.end == 16);
  CHECK(t.element_count() == 4);
  CHECK(t.byte_size() == 16);
  CHECK(file.find("test") == &t);
  CHECK(file.find("other") == nullptr);
  CHECK(file.metadata().empty());
  CHECK(file.origin() == "vector");
  CHECK(file.data(t)[5] == 5);
}

TEST_CASE("safetensors: dtype names and sizes round-trip", "[safetensors]") {
  for (int i = 0; i <= static_cast<int>(coda::dtype::f8_e5m2); ++i) {
    const auto type = static_cast<coda::dtype>(i);
    CHECK(coda::parse_dtype(coda::dtype_name(type)) == type);
  }
  CHECK(coda::dtype_size(coda::dtype::bf16) == 2);
  CHECK(coda::dtype_size(coda::dtype::f64) == 8);
  CHECK(std::string(coda::dtype_name(coda::dtype::boolean)) == "BOOL");
  CHECK_FALSE(coda::parse_dtype("f32").has_value());
}

TEST_CASE("safetensors: an empty tensor list with an empty data section is valid", "[safetensors]") {
  const auto file = coda::safetensors_file::parse(file_with("{}      ", 0), origin);
  CHECK(file.tensors().empty());
  CHECK(file.metadata().empty());
}

TEST_CASE("safetensors: header padding spaces and metadata are accepted", "[safetensors]") {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}   )";
  const auto file = coda::safetensors_file::parse(file_with(header, 3), origin);
  CHECK(file.metadata().at("format") == "pt");
  CHECK(file.tensors().size() == 1);
}

TEST_CASE("safetensors: tensors are sorted by offset, scalars and empty tensors included", "[safetensors]") {
  const std::string header = R"({"a":{"dtype":"F32","shape":[],"data_offsets":[8,12]},)"
                             R"("b":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},)"
                             R"("c":{"dtype":"I16","shape":[0,5],"data_offsets":[8,8]}})";
  const auto file = coda::safetensors_file::parse(file_with(header, 12), origin);
  REQUIRE(file.tensors().size() == 3);
  CHECK(file.tensors()[0].name == "b");
  CHECK(file.tensors()[1].name == "c");
  CHECK(file.tensors()[2].name == "a");
  CHECK(file.find("a")->element_count() == 1);
  CHECK(file.find("c")->element_count() == 0);
}

// ---- rejected files -------------------------------------------------------------------------

TEST_CASE("safetensors: a file shorter than the length field is rejected", "[safetensors]") {
  CHECK_THAT(rejection(std::vector<std::uint8_t>{1, 2, 3, 4, 5}), names("too short"));
  CHECK_THAT(rejection(std::vector<std::uint8_t>{}), names("too short"));
}

TEST_CASE("safetensors: a header length beyond the file is rejected", "[safetensors]") {
  CHECK_THAT(rejection(file_with_length(100, "{}", 8)), names("truncated"));
}

TEST_CASE("safetensors: a header length over the 100 MB bound is rejected without allocating", "[safetensors]") {
  CHECK_THAT(rejection(file_with_length(100'000'001, "{}", 0)), names("limit"));
  // An allocation of this size would throw std::bad_alloc or std::length_error instead.
  CHECK_THAT(rejection(file_with_length(~std::uint64_t{0}, "{}", 0)), names("limit"));
}

TEST_CASE("safetensors: a zero header length is rejected", "[safetensors]") {
  CHECK_THAT(rejection(file_with("", 0)), names("begin with '{'"));
}

TEST_CASE("safetensors: a header not beginning with '{' is rejected", "[safetensors]") {
  CHECK_THAT(rejection(" {}", 0), names("begin with '{'"));
}

TEST_CASE("safetensors: a top-level JSON array is rejected", "[safetensors]") {
  CHECK_THAT(rejection("[1,2]", 0), names("JSON object"));
}

TEST_CASE("safetensors: invalid JSON is rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"a":)", 0), names("not valid JSON"));
  CHECK_THAT(rejection("{} x", 0), names("not valid JSON"));
  CHECK_THAT(rejection(R"({"w":{"dtype":"F32","shape":[1e999],"data_offsets":[0,4]}})", 4), names("not valid JSON"));
}

TEST_CASE("safetensors: invalid UTF-8 in the header is rejected", "[safetensors]") {
  CHECK_THAT(rejection("{\"\xff\":{}}", 0), names("not valid JSON"));
}

TEST_CASE("safetensors: a duplicate top-level key is rejected", "[safetensors]") {
  const std::string entry = R"({"dtype":"U8","shape":[1],"data_offsets":[0,1]})";
  CHECK_THAT(rejection("{\"a\":" + entry + ",\"a\":" + entry + "}", 1), names("duplicate key 'a'"));
}

TEST_CASE("safetensors: a duplicate key inside an entry is rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"a":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1),
             names("duplicate key 'dtype'"));
}

TEST_CASE("safetensors: an unknown dtype is rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", 4),
             names("tensor 'w': unknown dtype 'F33'"));
}

TEST_CASE("safetensors: a dtype that is not a string is rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", 4),
             names("tensor 'w': dtype must be a string"));
}

TEST_CASE("safetensors: a missing dtype is rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4), names("tensor 'w': missing 'dtype'"));
}

TEST_CASE("safetensors: a missing shape is rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4), names("tensor 'w': missing 'shape'"));
}

TEST_CASE("safetensors: missing data_offsets are rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"w":{"dtype":"F32","shape":[1]}})", 4), names("tensor 'w': missing 'data_offsets'"));
}

TEST_CASE("safetensors: an extra key in an entry is rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"strides":[1]}})", 4),
             names("tensor 'w': unexpected key 'strides'"));
}

TEST_CASE("safetensors: an entry that is not an object is rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"w":[1,2]})", 0), names("tensor 'w': the entry must be an object"));
}

TEST_CASE("safetensors: an empty tensor name is rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1), names("empty name"));
}

TEST_CASE("safetensors: a negative shape extent is rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0),
             names("tensor 'w': shape must be an array of non-negative integers"));
}

TEST_CASE("safetensors: non-integer shape extents are rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8), names("tensor 'w': shape"));
  CHECK_THAT(rejection(R"({"w":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", 8), names("tensor 'w': shape"));
  CHECK_THAT(rejection(R"({"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8), names("tensor 'w': shape"));
  CHECK_THAT(rejection(R"({"w":{"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,8]}})", 8),
             names("tensor 'w': shape"));
}

TEST_CASE("safetensors: data_offsets that are not two non-negative integers are rejected", "[safetensors]") {
  const std::string problem = "tensor 'w': data_offsets must be an array of two non-negative integers";
  CHECK_THAT(rejection(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", 1), names(problem));
  CHECK_THAT(rejection(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}})", 1), names(problem));
  CHECK_THAT(rejection(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}})", 1), names(problem));
  CHECK_THAT(rejection(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":["0",1]}})", 1), names(problem));
  CHECK_THAT(rejection(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":{"0":1}}})", 1), names(problem));
}

TEST_CASE("safetensors: data_offsets whose begin exceeds their end are rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", 4),
             names("tensor 'w': data_offsets [4,0] begin after they end"));
}

TEST_CASE("safetensors: a byte range that does not match the shape is rejected", "[safetensors]") {
  const auto bytes = file_with(R"({"0.weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", 12);
  CHECK_THROWS_WITH(coda::safetensors_file::parse(bytes, "model.safetensors"),
                    "model.safetensors: tensor '0.weight': data_offsets [0,12] span 12 bytes but shape [2,2] of F32 "
                    "needs 16");
  CHECK_THROWS_AS(coda::safetensors_file::parse(bytes, "model.safetensors"), coda::format_error);
}

TEST_CASE("safetensors: a shape whose byte length overflows is rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"w":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0),
             names("tensor 'w': the byte length of shape [4294967296,4294967296] of U8 overflows"));
  CHECK_THAT(rejection(R"({"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0),
             names("overflows"));
}

TEST_CASE("safetensors: a gap between tensors is rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                       R"("b":{"dtype":"U8","shape":[4],"data_offsets":[8,12]}})",
                       12),
             names("tensor 'b': data_offsets [8,12] begin at 8, but tensor 'a' ends at 4 (gap)"));
}

TEST_CASE("safetensors: overlapping tensors are rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}})",
                       12),
             names("tensor 'b': data_offsets [4,12] begin at 4, but tensor 'a' ends at 8 (overlap)"));
}

TEST_CASE("safetensors: a first tensor not at offset 0 is rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})", 8),
             names("tensor 'a': data_offsets [4,8] begin at 4, but the data section starts at 0 (gap)"));
}

TEST_CASE("safetensors: trailing bytes after the last tensor are rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", 8), names("trailing bytes"));
  CHECK_THAT(rejection("{}", 1), names("trailing bytes"));
}

TEST_CASE("safetensors: a tensor reaching past the end of the file is rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]}})", 8),
             names("tensor 'a': data_offsets [0,16] reach past the end of the 8-byte data section"));
}

TEST_CASE("safetensors: __metadata__ that is not an object is rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"__metadata__":["a","b"]})", 0), names("__metadata__ must be an object"));
}

TEST_CASE("safetensors: __metadata__ with a non-string value is rejected", "[safetensors]") {
  CHECK_THAT(rejection(R"({"__metadata__":{"epoch":3}})", 0), names("the value of 'epoch' is not a string"));
}

// ---- writer ---------------------------------------------------------------------------------

TEST_CASE("safetensors: writer output parses back with every dtype and the metadata", "[safetensors]") {
  const std::vector<float> f32{1.5f, -2.25f, 3.0f, 0.0f, 5.0f, 6.0f};
  const std::vector<double> f64{1e300, -0.5};
  const std::vector<std::int64_t> i64{-(std::int64_t{1} << 40), 7};
  const std::vector<std::int32_t> i32{-3};
  const std::vector<std::uint8_t> u8{1, 2, 3};
  const std::uint16_t bf16[2] = {0x3f80, 0xc000};

  coda::safetensors_writer writer;
  writer.add_values("layer.weight", {2, 3}, f32.data());
  writer.add_values("layer.bias", {2}, f64.data());
  writer.add_values("steps", {2}, i64.data());
  writer.add_values("scalar", {}, i32.data());
  writer.add_values("mask", {3}, u8.data());
  writer.add_values("nothing", {0, 4}, static_cast<const float*>(nullptr));
  writer.add("half", coda::dtype::bf16, {2}, bf16, sizeof bf16);
  writer.set_metadata("format", "pt");
  writer.set_metadata("epoch", "1");
  writer.set_metadata("epoch", "2");

  const std::vector<std::uint8_t> bytes = writer.serialize();
  std::uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  CHECK(header_length % 8 == 0);

  const auto file = coda::safetensors_file::parse(bytes, "round trip");
  CHECK(file.metadata() == std::map<std::string, std::string>{{"epoch", "2"}, {"format", "pt"}});
  const std::vector<std::string> order{"layer.weight", "layer.bias", "steps", "scalar", "mask", "nothing", "half"};
  REQUIRE(file.tensors().size() == order.size());
  for (std::size_t i = 0; i < order.size(); ++i) CHECK(file.tensors()[i].name == order[i]);

  const coda::tensor_entry& weight = *file.find("layer.weight");
  CHECK(weight.type == coda::dtype::f32);
  CHECK(weight.shape == std::vector<std::int64_t>{2, 3});
  std::vector<float> weight_back(6);
  file.copy_to(weight, weight_back.data());
  CHECK(weight_back == f32);

  const coda::tensor_entry& steps = *file.find("steps");
  CHECK(steps.type == coda::dtype::i64);
  std::int64_t steps_back[2];
  std::memcpy(steps_back, file.data(steps), sizeof steps_back);
  CHECK(steps_back[0] == i64[0]);
  CHECK(steps_back[1] == i64[1]);

  CHECK(file.find("scalar")->type == coda::dtype::i32);
  CHECK(file.find("scalar")->element_count() == 1);
  CHECK(file.find("mask")->type == coda::dtype::u8);
  CHECK(std::memcmp(file.data(*file.find("mask")), u8.data(), 3) == 0);
  CHECK(file.find("nothing")->byte_size() == 0);
  CHECK(file.find("half")->type == coda::dtype::bf16);
  CHECK(std::memcmp(file.data(*file.find("half")), bf16, sizeof bf16) == 0);
}

TEST_CASE("safetensors: the writer rejects bad tensors", "[safetensors]") {
  coda::safetensors_writer writer;
  const float values[4] = {};
  writer.add_values("w", {2, 2}, values);
  CHECK_THROWS_AS(writer.add_values("w", {2, 2}, values), coda::argument_error);
  CHECK_THROWS_AS(writer.add_values("__metadata__", {2, 2}, values), coda::argument_error);
  CHECK_THROWS_AS(writer.add_values("", {2, 2}, values), coda::argument_error);
  CHECK_THROWS_AS(writer.add_values("neg", {-2, -2}, values), coda::argument_error);
  CHECK_THROWS_AS(writer.add("bad\xff", coda::dtype::f32, {1}, values, 4), coda::argument_error);
  CHECK_THROWS_WITH(writer.add("short", coda::dtype::f32, {2, 2}, values, 12),
                    Contains("tensor 'short' has 12 bytes but shape [2,2] of F32 needs 16"));
  CHECK_THROWS_AS(writer.set_metadata("k", "\xc3"), coda::argument_error);
  // The failed calls left the writer as it was.
  CHECK(coda::safetensors_file::parse(writer.serialize(), "w").tensors().size() == 1);
}

// ---- element access -------------------------------------------------------------------------

TEST_CASE("safetensors: copy_to converts F64 to float, also from unaligned offsets", "[safetensors]") {
  // A 61-byte header puts the data at file offset 69: the F64 values are misaligned in memory.
  std::string header = R"({"x":{"dtype":"F64","shape":[3],"data_offsets":[0,24]}})";
  header.append(61 - header.size(), ' ');
  std::vector<std::uint8_t> bytes = file_with(header, 0);
  for (const double v : {0.5, -1.25, 1e10}) {
    std::uint8_t raw[8];
    std::memcpy(raw, &v, 8);
    bytes.insert(bytes.end(), raw, raw + 8);
  }
  const auto file = coda::safetensors_file::parse(bytes, origin);
  float out[3] = {};
  file.copy_to(file.tensors()[0], out);
  CHECK(out[0] == 0.5f);
  CHECK(out[1] == -1.25f);
  CHECK(out[2] == 1e10f);
}

TEST_CASE("safetensors: copy_to to integers truncates and rejects out-of-range values", "[safetensors]") {
  coda::safetensors_writer writer;
  const float in_range[3] = {2.75f, -3.5f, 127.0f};
  const float too_big[1] = {1e20f};
  writer.add_values("ok", {3}, in_range);
  writer.add_values("big", {1}, too_big);
  const auto file = coda::safetensors_file::parse(writer.serialize(), origin);
  std::int8_t out[3] = {};
  file.copy_to(*file.find("ok"), out);
  CHECK(out[0] == 2);
  CHECK(out[1] == -3);
  CHECK(out[2] == 127);
  std::int64_t big = 0;
  CHECK_THROWS_AS(file.copy_to(*file.find("big"), &big), coda::format_error);
}

TEST_CASE("safetensors: copy_to of a non-float dtype names the tensor and dtype", "[safetensors]") {
  const auto file = coda::safetensors_file::parse(
      file_with(R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})", 16), origin);
  float out[4];
  CHECK_THROWS_AS(file.copy_to(file.tensors()[0], out), coda::format_error);
  CHECK_THROWS_WITH(file.copy_to(file.tensors()[0], out), names("tensor 'test' has dtype I32"));
}

TEST_CASE("safetensors: data() refuses an entry of another file", "[safetensors]") {
  const auto file = coda::safetensors_file::parse(
      file_with(R"({"test":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", 4), origin);
  coda::tensor_entry forged = file.tensors()[0];
  forged.end = 1000;
  forged.shape = {1000};
  CHECK_THROWS_AS(file.data(forged), coda::argument_error);
}

// ---- files ----------------------------------------------------------------------------------

TEST_CASE("safetensors: read of a missing file throws io_error naming the path", "[safetensors]") {
  const scratch_dir dir;
  const std::string path = (dir.path / "missing.safetensors").string();
  CHECK_THROWS_AS(coda::safetensors_file::read(path), coda::io_error);
  CHECK_THROWS_WITH(coda::safetensors_file::read(path), StartsWith(path + ": cannot open"));
  CHECK_THROWS_AS(coda::safetensors_file::read(dir.path.string()), coda::io_error);
}

TEST_CASE("safetensors: write then read round-trips through a file", "[safetensors]") {
  const scratch_dir dir;
  const std::string path = (dir.path / "model.safetensors").string();
  coda::safetensors_writer writer;
  const double values[2] = {3.0, 4.0};
  writer.add_values("v", {2}, values);
  writer.write(path);
  const auto file = coda::safetensors_file::read(path);
  CHECK(file.origin() == path);
  double back[2] = {};
  file.copy_to(*file.find("v"), back);
  CHECK(back[1] == 4.0);
  CHECK(dir.entry_count() == 1);
}

TEST_CASE("safetensors: read of a malformed file names the path", "[safetensors]") {
  const scratch_dir dir;
  const fs::path path = dir.path / "short.safetensors";
  write_text(path, "abc");
  CHECK_THROWS_AS(coda::safetensors_file::read(path.string()), coda::format_error);
  CHECK_THROWS_WITH(coda::safetensors_file::read(path.string()), StartsWith(path.string() + ": ") && Contains("too short"));
}

TEST_CASE("safetensors: write replaces an existing file atomically", "[safetensors]") {
  const scratch_dir dir;
  const fs::path path = dir.path / "out.bin";
  write_text(path, "old content that is longer than the new one");
  coda::write_file_atomically(path.string(), [](std::ostream& out) { out << "new"; });
  CHECK(read_text(path) == "new");
  CHECK(dir.entry_count() == 1);
}

TEST_CASE("safetensors: write into a missing directory throws io_error", "[safetensors]") {
  const scratch_dir dir;
  const std::string path = (dir.path / "absent" / "model.safetensors").string();
  coda::safetensors_writer writer;
  CHECK_THROWS_AS(writer.write(path), coda::io_error);
  CHECK_THROWS_WITH(writer.write(path), StartsWith(path + ": ") && Contains("No such file or directory"));
  CHECK(dir.entry_count() == 0);
}

TEST_CASE("safetensors: write over a directory fails and leaves it intact", "[safetensors]") {
  const scratch_dir dir;
  const fs::path target = dir.path / "model.safetensors";
  fs::create_directory(target);
  write_text(target / "keep", "kept");
  coda::safetensors_writer writer;
  CHECK_THROWS_WITH(writer.write(target.string()), StartsWith(target.string() + ": ") && Contains("rename"));
  CHECK(fs::is_directory(target));
  CHECK(read_text(target / "keep") == "kept");
  CHECK(dir.entry_count() == 1);
}

TEST_CASE("safetensors: a write that fails midway leaves the existing file intact", "[safetensors]") {
  const scratch_dir dir;
  const fs::path path = dir.path / "model.safetensors";
  write_text(path, "old");
  const auto fail_midway = [](std::ostream& out) {
    out << std::string(100'000, 'x');
    throw std::runtime_error("producer failed");
  };
  CHECK_THROWS_WITH(coda::write_file_atomically(path.string(), fail_midway), "producer failed");
  const auto bad_stream = [](std::ostream& out) {
    out << "partial";
    out.setstate(std::ios::failbit);
  };
  CHECK_THROWS_AS(coda::write_file_atomically(path.string(), bad_stream), coda::io_error);
  CHECK(read_text(path) == "old");
  CHECK(dir.entry_count() == 1);
}

}  // namespace test_safetensors
